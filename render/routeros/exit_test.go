package routeros

import (
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tether-net/tether/policy"
	"github.com/tether-net/tether/test/rosschema"
)

// exitNetwork is a RouterOS hub whose dual-stack laptop and IPv4-only phone
// leave through the external peer gw; the tablet has no exit.
var exitNetwork = fstest.MapFS{
	"network.toml": {Data: []byte("name = \"exit\"\n")},
	"sites/hub.toml": {Data: []byte(`platform = "routeros"
routeros_version = "7.22.3"
[[interface]]
name = "ether1"
role = "wan"
[[wireguard]]
name = "wg-hub"
public_key = "u7hqMS1VO8RjHVVeBwRFG4LUOopnNnZQWPEAl6ASP0I="
endpoint = "hub.example.net:51820"
addresses = ["10.5.0.1/24", "fd05::1/64"]
`)},
	"peers/gw.toml": {Data: []byte(`public_key = "Zil68x6Gj+Ew0vzea2lVWcVl+VPGxlrdLPBGyIvl5lE="
site = "hub"
interface = "wg-hub"
addresses = ["10.5.0.2/32"]
`)},
	"peers/laptop.toml": {Data: []byte(`public_key = "9m7LekbmMIFBUqlMloBvfpBAC4KwDM3MTIrOf3WIc3c="
site = "hub"
interface = "wg-hub"
addresses = ["10.5.0.3/32", "fd05::3/128"]
exit = "gw"
`)},
	"peers/phone.toml": {Data: []byte(`public_key = "6eW+gSYjGD1Y0RWdD1hhPdfOT/W99Z4U8tSMp2N1ADs="
site = "hub"
interface = "wg-hub"
addresses = ["10.5.0.4/32"]
exit = "gw"
[profile]
tunnel = "full"
`)},
	"peers/tablet.toml": {Data: []byte(`public_key = "MptT/F7EmmtXVoZCRlKPTOYVjdsocqy1NQjynwrh2UI="
site = "hub"
interface = "wg-hub"
addresses = ["10.5.0.5/32"]
`)},
}

func loadExitNetwork(t *testing.T) *policy.Network {
	t.Helper()
	n, probs := policy.Load(exitNetwork, ".")
	if len(probs) > 0 {
		t.Fatalf("exit network: %v", probs)
	}
	return n
}

// TestExitRouting: the exit peer accepts the default of every family its
// clients use, each family gets a default through the tunnel in the exit's
// table, each client address a rule into it, and the default on the exit
// peer is not reported as an undeclared default route.
func TestExitRouting(t *testing.T) {
	c := mustRender(t, loadExitNetwork(t), "hub")
	peers := map[string]string{}
	for _, it := range byPath(c, "/interface/wireguard/peers") {
		peers[attr(&it, "name")] = attr(&it, "allowed-address")
	}
	want := map[string]string{"gw": "10.5.0.2/32,0.0.0.0/0,::/0", "laptop": "10.5.0.3/32,fd05::3/128", "phone": "10.5.0.4/32", "tablet": "10.5.0.5/32"}
	for name, allowed := range want {
		if peers[name] != allowed {
			t.Errorf("peer %s allowed-address = %q, want %q", name, peers[name], allowed)
		}
	}
	tables := byPath(c, "/routing/table")
	if len(tables) != 1 || attr(&tables[0], "name") != "exit-gw" {
		t.Fatalf("routing tables = %+v, want exit-gw only", tables)
	}
	if _, fib := tables[0].Get("fib"); !fib {
		t.Error("exit table is not a FIB table, so routes in it are never used for forwarding")
	}
	for _, path := range []string{"/ip/route", "/ipv6/route"} {
		var got []string
		for _, it := range byPath(c, path) {
			if attr(&it, "routing-table") == "exit-gw" {
				got = append(got, attr(&it, "dst-address")+" via "+attr(&it, "gateway"))
			}
		}
		wantDst := "0.0.0.0/0 via wg-hub"
		if path == "/ipv6/route" {
			wantDst = "::/0 via wg-hub"
		}
		if len(got) != 1 || got[0] != wantDst {
			t.Errorf("%s in exit-gw = %v, want [%s]", path, got, wantDst)
		}
	}
	var rules []string
	for _, it := range byPath(c, "/routing/rule") {
		rules = append(rules, attr(&it, "src-address")+" "+attr(&it, "action")+" "+attr(&it, "table"))
	}
	wantRules := []string{
		"10.5.0.3/32 lookup-only-in-table exit-gw",
		"fd05::3/128 lookup-only-in-table exit-gw",
		"10.5.0.4/32 lookup-only-in-table exit-gw",
	}
	if strings.Join(rules, "\n") != strings.Join(wantRules, "\n") {
		t.Errorf("routing rules:\n%s\nwant:\n%s", strings.Join(rules, "\n"), strings.Join(wantRules, "\n"))
	}
	for _, w := range c.Warnings {
		if strings.Contains(w, "default route") {
			t.Errorf("exit default reported as undeclared: %s", w)
		}
	}
	// Every menu, attribute and value exists in each supported version
	// (the IPv6 exit route is in no example, so TestSchema does not see it).
	n := loadExitNetwork(t)
	for _, v := range rosschema.Versions() {
		for _, p := range checkItems(rosschema.MustLoad(v), renderAt(t, n, "hub", v).Items) {
			t.Errorf("%s: %s", v, p)
		}
	}
}
