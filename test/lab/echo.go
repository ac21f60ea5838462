package lab

import (
	"context"
	"slices"
	"strings"
	"testing"
)

// echoTable is the nftables table WatchEchoSources keeps its set in.
const echoTable = "lab_echo"

// WatchEchoSources makes h remember the IPv4 source of every echo request
// it receives or forwards: a set in an nftables table of its own, filled
// before routing and NAT. Tests read it with EchoSources to see where a
// ping came from after masquerade or policy routing.
func (h *Host) WatchEchoSources(tb testing.TB, ctx context.Context) {
	tb.Helper()
	for _, c := range [][]string{
		{"add", "table", "ip", echoTable},
		{"add", "set", "ip", echoTable, "src", "{ type ipv4_addr; flags dynamic; }"},
		{"add", "chain", "ip", echoTable, "in", "{ type filter hook prerouting priority -300; }"},
		{"add", "rule", "ip", echoTable, "in", "icmp", "type", "echo-request", "add", "@src", "{ ip saddr }"},
	} {
		if _, err := h.Output(ctx, "nft", c...); err != nil {
			tb.Fatalf("%s: nft %s: %v", h.Name(), strings.Join(c, " "), err)
		}
	}
}

// EchoSources returns, sorted, the sources h has seen echo requests from
// since WatchEchoSources or the last call, and forgets them.
func (h *Host) EchoSources(tb testing.TB, ctx context.Context) []string {
	tb.Helper()
	out, err := h.Output(ctx, "nft", "list", "set", "ip", echoTable, "src")
	if err != nil {
		tb.Fatalf("%s: nft list set: %v", h.Name(), err)
	}
	if _, err := h.Output(ctx, "nft", "flush", "set", "ip", echoTable, "src"); err != nil {
		tb.Fatalf("%s: nft flush set: %v", h.Name(), err)
	}
	_, elems, ok := strings.Cut(string(out), "elements = {")
	if !ok {
		return nil
	}
	elems, _, _ = strings.Cut(elems, "}")
	var got []string
	for _, e := range strings.Split(elems, ",") {
		if e = strings.TrimSpace(e); e != "" {
			got = append(got, e)
		}
	}
	slices.Sort(got)
	return got
}
