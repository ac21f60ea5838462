package importer_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-net/tether/agent/importer"
	"github.com/tether-net/tether/agent/mikrotik"
	"github.com/tether-net/tether/test/rossim"
)

// repoWithRelay is a config repo with one Linux site whose WireGuard key
// the hand-made router's peer carries: import must turn that peer into a
// link.
func repoWithRelay(tb testing.TB, relayKey string) string {
	tb.Helper()
	dir := tb.TempDir()
	files := map[string]string{
		"network.toml": "name = \"handmade\"\n",
		"sites/relay.toml": `platform = "linux"
[[interface]]
name = "eth0"
role = "wan"
[[wireguard]]
name = "wg0"
listen_port = 51820
public_key = "` + relayKey + `"
`,
	}
	for p, c := range files {
		if err := os.MkdirAll(filepath.Join(dir, filepath.Dir(p)), 0o755); err != nil {
			tb.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, p), []byte(c), 0o644); err != nil {
			tb.Fatal(err)
		}
	}
	return dir
}

// handmade configures a defconf router through the API the way an
// operator would, before tether: tunnels, peers (one with a preshared
// key), firewall and NAT rules, an address list, routes and DNS.
func handmade(tb testing.TB, r *router, version, relayKey string) (secrets []string) {
	tb.Helper()
	_, laptopKey := rossim.KeyPair("alice")
	psk, _ := rossim.KeyPair("alice-psk")
	anchor := ""
	for _, x := range r.exec(tb, "/ip/firewall/filter/print") {
		if x["comment"] == "defconf: drop all not coming from LAN" {
			anchor = x[".id"]
		}
	}
	for _, words := range [][]string{
		{"/interface/wireguard/add", "=name=wg-home", "=listen-port=13231", "=comment=road warriors"},
		{"/interface/wireguard/add", "=name=wg-relay", "=listen-port=13232"},
		{"/ip/address/add", "=address=10.77.0.1/24", "=interface=wg-home"},
		{"/interface/list/member/add", "=list=LAN", "=interface=wg-home"},
		{"/ip/address/add", "=address=10.66.0.2/30", "=interface=wg-relay", "=comment=to the relay"},
		{"/interface/wireguard/peers/add", "=interface=wg-home", "=name=alice", "=public-key=" + laptopKey,
			"=allowed-address=10.77.0.2/32", "=preshared-key=" + psk, "=comment=Alice laptop"},
		{"/interface/wireguard/peers/add", "=interface=wg-relay", "=name=relay", "=public-key=" + relayKey,
			"=allowed-address=10.66.0.1/32,10.50.0.0/24", "=endpoint-address=198.51.100.7", "=endpoint-port=51820",
			"=persistent-keepalive=25s"},
		{"/ip/route/add", "=dst-address=10.50.0.0/24", "=gateway=wg-relay"},
		{"/ip/route/add", "=dst-address=10.99.0.0/16", "=gateway=192.168.88.254", "=comment=lab"},
		{"/ip/route/add", "=dst-address=10.98.0.0/16", "=gateway=192.168.88.253", "=check-gateway=ping", "=comment=checked"},
		{"/ip/route/add", "=dst-address=10.97.0.0/16", "=gateway=192.168.88.252", "=disabled=yes", "=comment=old"},
		{"/ip/firewall/filter/add", "=chain=input", "=action=accept", "=protocol=udp", "=dst-port=13231,13232",
			"=in-interface-list=WAN", "=comment=allow wireguard", "=place-before=" + anchor},
		{"/ip/firewall/filter/add", "=chain=forward", "=action=drop", "=src-address-list=blocked"},
		{"/ip/firewall/filter/add", "=chain=forward", "=action=accept", "=connection-mark=trusted", "=comment=marked"},
		{"/ip/firewall/nat/add", "=chain=dstnat", "=action=dst-nat", "=protocol=tcp", "=dst-port=80", "=in-interface-list=WAN",
			"=to-addresses=192.168.88.10", "=to-ports=8080", "=comment=web server"},
		{"/ip/firewall/address-list/add", "=list=blocked", "=address=203.0.113.66"},
		{"/ip/dns/set", "=servers=9.9.9.9"},
		// eBGP to the relay laid out as tether renders it, and one to an
		// upstream that is not a site.
		{"/routing/filter/rule/add", "=chain=bgp-in-relay", "=rule=if (dst == 0.0.0.0/0) { accept } reject"},
		{"/routing/filter/rule/add", "=chain=bgp-out-relay", "=rule=if (dst in 192.168.88.0/24 && dst-len in 24-32) { accept } reject"},
		{"/routing/bgp/template/add", "=name=tpl-relay", "=as=65010"},
	} {
		r.exec(tb, words...)
	}
	// Where the AS and router ID live depends on the version: the
	// instance (7.20+) or each connection (7.18).
	relay := []string{"/routing/bgp/connection/add", "=name=relay", "=remote.address=10.66.0.1", "=remote.as=65020",
		"=local.address=10.66.0.2", "=local.role=ebgp", "=templates=tpl-relay", "=input.filter=bgp-in-relay", "=output.filter-chain=bgp-out-relay"}
	upstream := []string{"/routing/bgp/connection/add", "=name=upstream", "=remote.address=203.0.113.1", "=remote.as=65000",
		"=local.role=ebgp", "=templates=default"}
	if version == "7.18" {
		relay = append(relay, "=as=65010", "=router-id=192.168.88.1", "=address-families=ip")
		upstream = append(upstream, "=as=65010", "=router-id=192.168.88.1")
	} else {
		r.exec(tb, "/routing/bgp/instance/add", "=name=bgp1", "=as=65010", "=router-id=192.168.88.1")
		relay = append(relay, "=instance=bgp1", "=afi=ip")
		upstream = append(upstream, "=instance=bgp1")
	}
	r.exec(tb, relay...)
	r.exec(tb, upstream...)
	for _, x := range r.exec(tb, "/interface/wireguard/print") {
		secrets = append(secrets, x["private-key"])
	}
	return append(secrets, psk)
}

// TestImportHandmadeDefconfRouter imports a defconf router an operator
// configured by hand: defconf stays the router's, the peer with a repo
// site's key becomes a link, the unknown one an external peer, what the
// model lacks becomes raw items; the files validate, the first plan asks
// only for adoption, and after adopt nothing changes.
func TestImportHandmadeDefconfRouter(t *testing.T) {
	for _, version := range []string{"7.18", "7.20.8", "7.22.3"} {
		t.Run(version, func(t *testing.T) { testHandmade(t, version) })
	}
}

func testHandmade(t *testing.T, version string) {
	r := newRouter(t, version, true)
	_, relayKey := rossim.KeyPair("relay")
	secrets := handmade(t, r, version, relayKey)
	dir := repoWithRelay(t, relayKey)

	// The secrets are not even read: every menu is printed with a .proplist.
	rows, err := importer.Read(context.Background(), r.dev, mikrotik.IsRefusal)
	if err != nil {
		t.Fatal(err)
	}
	for path, rs := range rows {
		for _, row := range rs {
			for _, k := range []string{"private-key", "preshared-key"} {
				if _, ok := row[k]; ok {
					t.Errorf("import read %s of a %s row", k, path)
				}
			}
		}
	}
	res := r.importSite(t, "home", os.DirFS(dir))
	if res.Problems != nil {
		t.Fatalf("import reports problems: %v", res.Problems)
	}
	site := string(res.Files["sites/home.toml"])
	for _, s := range secrets {
		for p, b := range res.Files {
			if s != "" && strings.Contains(string(b), s) {
				t.Errorf("%s holds a secret of the router", p)
			}
		}
	}
	if len(res.Links) != 1 || res.Links[0].B.Site != "relay" || res.Links[0].BGP == nil || len(res.Peers) != 1 || res.Peers[0].Name != "alice" {
		t.Errorf("want one link to relay and one external peer alice, got links %v peers %v", res.Links, res.Peers)
	}
	for _, want := range []string{
		`place_before = "defconf: drop all not coming from LAN"`, // the accept stays before defconf's drop
		`comment = "web server"`,
		`servers = ["9.9.9.9"]`,
		`connection-mark = "trusted"`,     // raw: the model has no connection-mark
		`check-gateway = "ping"`,          // raw: the model has no check-gateway
		`remote.address" = "203.0.113.1"`, // raw: BGP to something that is not a site
		`asn = 65010`,
		`lists = ["LAN"]`, // the tunnel in defconf's LAN list
	} {
		if !strings.Contains(site, want) {
			t.Errorf("site file lacks %s", want)
		}
	}
	for _, unwanted := range []string{`comment = "defconf`, "192.168.88.1/24", "10.97.0.0/16"} {
		if strings.Contains(strings.Split(site, "# Import notes:")[0], unwanted) {
			t.Errorf("site file imports %q, which is defconf's or disabled", unwanted)
		}
	}

	if version == "7.22.3" {
		golden(t, "handmade", res.Files)
	}

	fsys := overlay(t, dir, res.Files)
	n := load(t, fsys, res.Files)
	ctx := context.Background()
	_, err = planLines(t, r, n, "home")
	var le *mikrotik.LookalikeError
	if !errors.As(err, &le) {
		t.Fatalf("first plan: want only look-alikes to adopt, got %v\n%s", err, site)
	}
	p, found, err := r.dev.AdoptPlan(ctx, n, "home")
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range found {
		if len(l.Differs) > 0 {
			t.Errorf("adopting %s would then change %v: the import did not copy it exactly", l.What, l.Differs)
		}
	}
	if err := r.dev.Apply(ctx, p, r.clk.Now().Add(3*time.Minute)); err != nil {
		t.Fatal(err)
	}
	if err := r.dev.Settle(ctx, p, true); err != nil {
		t.Fatal(err)
	}
	lines, err := planLines(t, r, n, "home")
	if err != nil || len(lines) > 0 {
		t.Errorf("plan after adopt: %v\n  %s\n%s", err, join(lines), site)
	}
}
