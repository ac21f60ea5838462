//go:build unix

package lab

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"time"
)

// WaitFor polls cond until it returns true, returns an error, or ctx ends.
// Polling starts at 10ms and backs off to 250ms. If ctx has no deadline,
// DefaultWait applies, so a wait is never unbounded. Return (false, nil) to
// keep waiting; an error stops the wait at once and is returned.
func WaitFor(ctx context.Context, cond func() (bool, error)) error {
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, DefaultWait)
		defer cancel()
	}
	delay := 10 * time.Millisecond
	for {
		ok, err := cond()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		t := time.NewTimer(delay)
		select {
		case <-ctx.Done():
			t.Stop()
			return fmt.Errorf("lab: condition not met: %w", ctx.Err())
		case <-t.C:
		}
		delay = min(2*delay, 250*time.Millisecond)
	}
}

// Ping sends single echo requests from the host to addr (IPv4 or IPv6)
// until one is answered or ctx ends (DefaultWait if ctx has no deadline).
// The error carries ping's last output.
func (h *Host) Ping(ctx context.Context, addr string) error { return h.PingFrom(ctx, "", addr) }

// PingFrom is Ping with the echo requests sent from src (an address of the
// host; "" lets the kernel choose).
func (h *Host) PingFrom(ctx context.Context, src, addr string) error {
	args := []string{"-n", "-c", "1", "-W", "1"}
	if src != "" {
		args = append(args, "-I", src)
	}
	args = append(args, addr)
	var last string
	err := WaitFor(ctx, func() (bool, error) {
		out, errb, code, err := h.Run(ctx, "ping", args...)
		if err != nil {
			if ctx.Err() != nil {
				return false, nil // let WaitFor report the timeout
			}
			return false, err
		}
		last = strings.TrimSpace(string(out) + string(errb))
		return code == 0, nil
	})
	if err != nil {
		if src != "" {
			addr += " from " + src
		}
		return fmt.Errorf("lab: %s: ping %s: %w; last attempt: %s", h.name, addr, err, last)
	}
	return nil
}

// WGInterface is one WireGuard interface as reported by `wg show IFACE dump`.
// The private key is deliberately not kept, so a WGInterface can be logged.
type WGInterface struct {
	Name       string
	PublicKey  string
	ListenPort int
	FwMark     uint32 // 0 = off
	Peers      []WGPeer
}

// WGPeer is one peer line of `wg show IFACE dump`.
type WGPeer struct {
	PublicKey           string
	HasPresharedKey     bool
	Endpoint            string // "" when none; "host:port" or "[v6]:port"
	AllowedIPs          []netip.Prefix
	LatestHandshake     time.Time // zero: never
	RxBytes, TxBytes    uint64
	PersistentKeepalive time.Duration // 0: off
}

// Peer returns the peer with the given public key.
func (w *WGInterface) Peer(publicKey string) (WGPeer, bool) {
	for _, p := range w.Peers {
		if p.PublicKey == publicKey {
			return p, true
		}
	}
	return WGPeer{}, false
}

// WGShow runs `wg show IFACE dump` inside the host and parses it.
func (h *Host) WGShow(ctx context.Context, iface string) (*WGInterface, error) {
	out, err := h.Output(ctx, "wg", "show", iface, "dump")
	if err != nil {
		return nil, err
	}
	return ParseWGDump(iface, out)
}

// ParseWGDump parses the output of `wg show IFACE dump`: a line
// "private-key public-key listen-port fwmark", then per peer
// "public-key preshared-key endpoint allowed-ips latest-handshake
// transfer-rx transfer-tx persistent-keepalive", tab-separated, with
// "(none)" and "off" for absent values.
func ParseWGDump(iface string, dump []byte) (*WGInterface, error) {
	lines := strings.Split(strings.TrimRight(string(dump), "\n"), "\n")
	if len(lines) == 0 || lines[0] == "" {
		return nil, fmt.Errorf("lab: wg dump of %s: empty", iface)
	}
	f := strings.Split(lines[0], "\t")
	if len(f) != 4 {
		return nil, fmt.Errorf("lab: wg dump of %s: interface line has %d fields, want 4", iface, len(f))
	}
	w := &WGInterface{Name: iface, PublicKey: none(f[1])}
	var err error
	if w.ListenPort, err = strconv.Atoi(f[2]); err != nil {
		return nil, fmt.Errorf("lab: wg dump of %s: listen port: %w", iface, err)
	}
	if f[3] != "off" {
		m, err := strconv.ParseUint(f[3], 0, 32)
		if err != nil {
			return nil, fmt.Errorf("lab: wg dump of %s: fwmark: %w", iface, err)
		}
		w.FwMark = uint32(m)
	}
	for i, line := range lines[1:] {
		f := strings.Split(line, "\t")
		if len(f) != 8 {
			return nil, fmt.Errorf("lab: wg dump of %s: peer line %d has %d fields, want 8", iface, i+1, len(f))
		}
		p := WGPeer{PublicKey: f[0], HasPresharedKey: none(f[1]) != "", Endpoint: none(f[2])}
		if a := none(f[3]); a != "" {
			for _, s := range strings.Split(a, ",") {
				pfx, err := netip.ParsePrefix(s)
				if err != nil {
					return nil, fmt.Errorf("lab: wg dump of %s: peer %d: allowed ip: %w", iface, i+1, err)
				}
				p.AllowedIPs = append(p.AllowedIPs, pfx)
			}
		}
		hs, err1 := strconv.ParseInt(f[4], 10, 64)
		rx, err2 := strconv.ParseUint(f[5], 10, 64)
		tx, err3 := strconv.ParseUint(f[6], 10, 64)
		if err1 != nil || err2 != nil || err3 != nil {
			return nil, fmt.Errorf("lab: wg dump of %s: peer %d: bad number in %q", iface, i+1, line)
		}
		if hs != 0 {
			p.LatestHandshake = time.Unix(hs, 0)
		}
		p.RxBytes, p.TxBytes = rx, tx
		if f[7] != "off" {
			ka, err := strconv.Atoi(f[7])
			if err != nil {
				return nil, fmt.Errorf("lab: wg dump of %s: peer %d: keepalive: %w", iface, i+1, err)
			}
			p.PersistentKeepalive = time.Duration(ka) * time.Second
		}
		w.Peers = append(w.Peers, p)
	}
	return w, nil
}

func none(s string) string {
	if s == "(none)" {
		return ""
	}
	return s
}

// DefaultBirdSocket is BIRD's default control socket. Inside a lab host it
// is private (Dir/run/bird/bird.ctl seen from outside).
const DefaultBirdSocket = "/run/bird/bird.ctl"

// BirdC runs `birdc -s SOCKET CMD…` inside the host and returns its output
// (which starts with BIRD's "BIRD x.y ready." banner). socket "" means
// DefaultBirdSocket; cmd is split on white space ("show protocols all").
// A non-zero exit (BIRD not running, bad socket) is an error.
func (h *Host) BirdC(ctx context.Context, socket, cmd string) (string, error) {
	if socket == "" {
		socket = DefaultBirdSocket
	}
	args := append([]string{"-s", socket}, strings.Fields(cmd)...)
	out, errb, code, err := h.Run(ctx, "birdc", args...)
	if err != nil {
		return string(out), err
	}
	if code != 0 {
		return string(out), fmt.Errorf("lab: %s: birdc %s: exit %d: %s", h.name, cmd, code,
			bytes.TrimSpace(append(out, errb...)))
	}
	return string(out), nil
}

// BlockResolvers makes the machine's DNS servers fail at once inside the
// host: daemons that resolve names at start (keepalived resolves the host
// name) would otherwise wait out a query routed into the lab's underlay.
// Traffic never leaves the namespaces either way; this only makes it fail
// fast.
func (h *Host) BlockResolvers(ctx context.Context) error {
	b, _ := os.ReadFile("/etc/resolv.conf")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if len(f) < 2 || f[0] != "nameserver" {
			continue
		}
		a, err := netip.ParseAddr(f[1])
		if err != nil || a.IsLoopback() {
			continue
		}
		if _, err := h.Output(ctx, "ip", "route", "add", "unreachable", netip.PrefixFrom(a, a.BitLen()).String()); err != nil {
			return err
		}
	}
	return nil
}
