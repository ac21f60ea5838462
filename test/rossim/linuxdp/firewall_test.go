package linuxdp

import (
	"context"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/tether-net/tether/test/rossim"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden from the current translation")

// snapshotDP keeps the last configuration a simulator asked for: the
// translation under test gets the snapshot a real router's tables make.
type snapshotDP struct {
	mu  sync.Mutex
	cfg rossim.DataplaneConfig
}

func (s *snapshotDP) Apply(cfg rossim.DataplaneConfig) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cfg = cfg
	return nil
}
func (s *snapshotDP) Peers() (map[rossim.DataplanePeerKey]rossim.DataplanePeerStats, error) {
	return nil, nil
}
func (s *snapshotDP) Ping(context.Context, rossim.PingRequest) (rossim.PingResult, error) {
	return rossim.PingResult{}, nil
}
func (s *snapshotDP) Close() error { return nil }

// simSnapshot runs commands on a defconf simulator and returns the
// dataplane snapshot they leave.
func simSnapshot(t *testing.T, cmds [][]string) rossim.DataplaneConfig {
	t.Helper()
	dp := &snapshotDP{}
	sim, err := rossim.New(rossim.Config{Dataplane: dp})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	for _, c := range cmds {
		if _, _, err := sim.Exec(c...); err != nil {
			t.Fatalf("%v: %v", c, err)
		}
	}
	if _, _, err := sim.Exec("/system/identity/print"); err != nil { // one more refresh
		t.Fatal(err)
	}
	dp.mu.Lock()
	defer dp.mu.Unlock()
	return dp.cfg
}

// multiTunnel is the firewall and policy routing of repo-example
// multi-tunnel's router as tether renders it (`tether render --site
// router`), plus rules that exercise the rest of the translation.
var multiTunnel = [][]string{
	{"/routing/table/add", "=name=vpn", "=fib="},
	{"/interface/wireguard/add", "=name=wg0", "=listen-port=13231"},
	{"/interface/wireguard/add", "=name=wg1", "=listen-port=13232"},
	{"/interface/wireguard/add", "=name=wg-mesh", "=listen-port=51820"},
	{"/ip/address/add", "=address=10.8.0.2/32", "=interface=wg0", "=network=10.8.1.1"},
	{"/ip/firewall/address-list/add", "=list=noVPN", "=address=192.168.1.0/24"},
	{"/ip/firewall/address-list/add", "=list=noVPN", "=address=10.20.0.0/24"},
	{"/ip/firewall/address-list/add", "=list=noVPN", "=address=172.16.50.0/24"},
	{"/ip/route/add", "=dst-address=0.0.0.0/0", "=gateway=10.8.1.1", "=routing-table=vpn"},
	{"/routing/rule/add", "=routing-mark=vpn", "=action=lookup-only-in-table", "=table=vpn"},
	{"/routing/rule/add", "=src-address=192.168.1.77/32", "=action=lookup", "=table=vpn"},
	{"/routing/rule/add", "=dst-address=10.66.0.0/16", "=action=unreachable", "=disabled=yes"},
	{"/ip/firewall/filter/add", "=chain=input", "=action=accept", "=protocol=udp", "=dst-port=51820", "=in-interface-list=WAN", "=comment=tether: Allow WG mesh relay UDP", "=place-before=*5"},
	{"/ip/firewall/filter/add", "=chain=forward", "=action=drop", "=in-interface=wg0", "=connection-state=new", "=connection-nat-state=!dstnat", "=comment=tether: Block unsolicited from WG0", "=place-before=*B"},
	{"/ip/firewall/filter/add", "=chain=forward", "=action=accept", "=in-interface=wg-mesh", "=out-interface=wg-mesh", "=comment=tether: Allow WG mesh relay"},
	{"/ip/firewall/filter/add", "=chain=forward", "=action=reject", "=protocol=tcp", "=dst-port=25", "=reject-with=tcp-reset", "=comment=no smtp"},
	{"/ip/firewall/filter/add", "=chain=forward", "=action=jump", "=jump-target=from-lab", "=src-address=10.0.0.0/8"},
	{"/ip/firewall/filter/add", "=chain=from-lab", "=action=drop", "=protocol=icmp", "=icmp-options=8:0-255"},
	{"/ip/firewall/filter/add", "=chain=from-lab", "=action=return"},
	{"/ip/firewall/filter/add", "=chain=forward", "=action=drop", "=disabled=yes", "=comment=disabled: skipped"},
	{"/ip/firewall/filter/add", "=chain=forward", "=action=drop", "=src-mac-address=00:11:22:33:44:55", "=comment=unsupported matcher"},
	{"/ip/firewall/nat/add", "=chain=srcnat", "=action=masquerade", "=out-interface=wg0", "=comment=tether: masquerade to VPN provider"},
	{"/ip/firewall/nat/add", "=chain=srcnat", "=action=src-nat", "=out-interface=wg1", "=to-addresses=10.20.0.2"},
	{"/ip/firewall/nat/add", "=chain=dstnat", "=action=dst-nat", "=in-interface=ether1", "=protocol=tcp", "=dst-port=8080", "=to-addresses=192.168.88.10", "=to-ports=80"},
	{"/ip/firewall/mangle/add", "=chain=prerouting", "=action=mark-routing", "=dst-address-list=!noVPN", "=in-interface=bridge",
		"=connection-nat-state=!dstnat", "=new-routing-mark=vpn", "=passthrough=no", "=comment=tether: LAN to VPN unless noVPN"},
	{"/ipv6/firewall/filter/add", "=chain=input", "=action=accept", "=protocol=udp", "=dst-port=51820", "=comment=wg v6"},
}

// TestTranslationGolden: the defconf firewall plus multi-tunnel's rules,
// taken from a simulator's tables, become the nftables table and ip rules
// in testdata/firewall.golden; what cannot be realised is reported.
func TestTranslationGolden(t *testing.T) {
	cfg := simSnapshot(t, multiTunnel)
	link := func(n string) string {
		if n == "ether1" {
			return "eth0"
		}
		return n
	}
	text, warns := nftRuleset(cfg, link)
	rules, rwarns := ipRules(cfg, link)
	var sb strings.Builder
	sb.WriteString("# nft\n")
	sb.WriteString(text)
	sb.WriteString("# ip rules\n")
	for _, r := range rules {
		sb.WriteString("ip " + strings.Join(r, " ") + "\n")
	}
	sb.WriteString("# not realised\n")
	for _, w := range append(warns, rwarns...) {
		sb.WriteString(w + "\n")
	}
	got := sb.String()
	path := filepath.Join("testdata", "firewall.golden")
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(got), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run with -update)", err)
	}
	if got != string(want) {
		t.Errorf("translation differs from %s (run with -update and review):\n%s", path, got)
	}

	// Semantics the golden text must show, spelled out.
	for _, s := range []string{
		// first matching rule wins: defconf's input accepts come before the drop
		"ct state { established, related, untracked } accept comment \"defconf: accept established,related,untracked\"",
		// place-before put tether's input accept before defconf's drop
		"meta l4proto 17 th dport 51820 iifname { \"eth0\" } accept comment \"tether: Allow WG mesh relay UDP\"\n\t\tiifname != { \"bridge\" } drop",
		// new connections from wg0 that were not dst-natted are dropped
		"iifname \"wg0\" ct state { new } ct status & dnat == 0 drop",
		// marked: routed by table vpn (100); passthrough=no stops the chain
		"ip daddr != @ip_list1 iifname \"bridge\" ct status & dnat == 0 meta mark set 100 accept",
		"oifname \"wg0\" masquerade",
		"oifname { \"eth0\" } rt ipsec missing masquerade",
		"dnat ip to 192.168.88.10:80",
	} {
		if !strings.Contains(text, s) {
			t.Errorf("ruleset lacks %q", s)
		}
	}
	if strings.Contains(text, "disabled: skipped") {
		t.Error("a disabled rule was realised")
	}
	if !strings.Contains(strings.Join(warns, "\n"), "src-mac-address") {
		t.Errorf("the unsupported matcher is not reported: %v", warns)
	}
}

// TestRuleTranslation: single rules whose translation carries a RouterOS
// semantic of its own.
func TestRuleTranslation(t *testing.T) {
	lists := map[string][]string{"all": {"ether1", "wg0"}, "none": {}, "EMPTY": {}, "WAN": {"ether1"}}
	link := func(n string) string {
		if n == "ether1" {
			return "eth0"
		}
		return n
	}
	for _, c := range []struct {
		name  string
		fam   int
		table string
		attrs map[string]string
		want  string // "" : the rule can never match and is left out
		err   string
	}{
		{"interface lists map to Linux names", 4, "filter", map[string]string{"chain": "input", "action": "drop", "in-interface-list": "WAN"}, `iifname { "eth0" } drop`, ""},
		{"an empty list never matches", 4, "filter", map[string]string{"chain": "input", "action": "drop", "in-interface-list": "EMPTY"}, "", ""},
		{"not in an empty list: every packet", 4, "filter", map[string]string{"chain": "input", "action": "drop", "in-interface-list": "!none"}, "drop", ""},
		{"all is any interface", 4, "filter", map[string]string{"chain": "forward", "action": "accept", "out-interface-list": "all"}, "accept", ""},
		{"not all never matches", 4, "filter", map[string]string{"chain": "forward", "action": "accept", "out-interface-list": "!all"}, "", ""},
		{"default action is accept", 6, "filter", map[string]string{"chain": "input", "protocol": "icmpv6"}, "meta l4proto 58 accept", ""},
		{"log goes on to the next rule", 4, "filter", map[string]string{"chain": "input", "action": "log"}, "", ""},
		{"reject defaults to network unreachable", 4, "filter", map[string]string{"chain": "input", "action": "reject"}, "reject with icmp type net-unreachable", ""},
		{"IPv6 reject default", 6, "filter", map[string]string{"chain": "input", "action": "reject"}, "reject with icmpv6 type no-route", ""},
		{"negated address range", 4, "filter", map[string]string{"chain": "input", "action": "drop", "src-address": "!10.0.0.1-10.0.0.9"}, "ip saddr != 10.0.0.1-10.0.0.9 drop", ""},
		{"IPv6 dst-nat with a port", 6, "nat", map[string]string{"chain": "dstnat", "action": "dst-nat", "protocol": "tcp", "dst-port": "80", "to-address": "fd00::5", "to-ports": "8080"}, "meta l4proto 6 th dport 80 dnat ip6 to [fd00::5]:8080", ""},
		{"mark-routing passes through by default", 4, "mangle", map[string]string{"chain": "prerouting", "action": "mark-routing", "new-routing-mark": "vpn"}, "meta mark set 100", ""},
		{"ports need a protocol", 4, "filter", map[string]string{"chain": "input", "action": "drop", "dst-port": "22"}, "", "without a protocol"},
		{"masquerade only in srcnat", 4, "nat", map[string]string{"chain": "dstnat", "action": "masquerade"}, "", "outside chain srcnat"},
		{"unknown table for a mark", 4, "mangle", map[string]string{"chain": "prerouting", "action": "mark-routing", "new-routing-mark": "nope"}, "", "not a routing table"},
		{"family mismatch", 4, "filter", map[string]string{"chain": "input", "action": "drop", "src-address": "fd00::/8"}, "", "not an IPv4 prefix"},
	} {
		t.Run(c.name, func(t *testing.T) {
			b := &nftBuilder{cfg: rossim.DataplaneConfig{InterfaceLists: lists}, link: link, marks: tableIDs([]string{"vpn"}),
				sets: map[string]string{}, chains: map[chainKey][]string{}, custom: map[chainKey]string{}}
			got, err := b.rule(rossim.DataplaneFirewallRule{Family: c.fam, Table: c.table, Attrs: c.attrs})
			if c.err != "" {
				if err == nil || !strings.Contains(err.Error(), c.err) {
					t.Fatalf("got %q, %v; want an error with %q", got, err, c.err)
				}
				return
			}
			if err != nil || got != c.want {
				t.Fatalf("got %q, %v; want %q", got, err, c.want)
			}
		})
	}
}
