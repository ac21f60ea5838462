//go:build linux

package linuxdp_test

import (
	"context"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tether-net/tether/test/lab"
	"github.com/tether-net/tether/test/rossim"
	"github.com/tether-net/tether/test/rossim/linuxdp"
)

// fwLab is a simulated router ("router", its dataplane in a lab host) with
// a LAN host behind it and two uplinks: ether1 to the lab's internet
// ("inet", where host "far" lives) and ether2 straight to host "far2".
// far2 also answers for far's address, so which uplink a packet took
// shows in which host sees it.
type fwLab struct {
	l                      *lab.Lab
	router, lan, far, far2 *lab.Host
	sim                    *rossim.Sim
	logs                   *logSink
}

const (
	lanGW    = "192.0.2.1"
	lanA     = "192.0.2.10"
	lanB     = "192.0.2.11"
	wan2     = "203.0.113.1"
	far2Addr = "203.0.113.2"
)

func newFWLab(t *testing.T, ctx context.Context) *fwLab {
	t.Helper()
	lab.Require(t, "nft", "ping")
	spec := lab.Star("inet", "router", "far")
	spec.Hosts[1].Forward = true
	spec.Hosts = append(spec.Hosts,
		lab.HostSpec{Name: "lan", Routes: []lab.Route{{Dst: "default", Via: lanGW}}},
		lab.HostSpec{Name: "far2", Routes: []lab.Route{{Dst: "default", Via: wan2}}})
	spec.Links = append(spec.Links,
		lab.Link{A: lab.Endpoint{Host: "router", Iface: "lan0"}, B: lab.Endpoint{Host: "lan", Iface: "eth0", Addrs: []string{lanA + "/24", lanB + "/24"}}},
		lab.Link{A: lab.Endpoint{Host: "router", Iface: "wan2"}, B: lab.Endpoint{Host: "far2", Iface: "eth0", Addrs: []string{far2Addr + "/30"}}})
	f := &fwLab{l: lab.New(t, spec), logs: &logSink{t: t}}
	f.router, f.lan, f.far, f.far2 = f.l.Host("router"), f.l.Host("lan"), f.l.Host("far"), f.l.Host("far2")
	mustRun(t, ctx, f.far2, "ip", "addr", "add", f.far.Addr4().String()+"/32", "dev", "lo")
	for _, h := range []*lab.Host{f.far, f.far2, f.lan} {
		h.WatchEchoSources(t, ctx)
	}
	dp := linuxdp.New(linuxdp.InHost(f.router), linuxdp.Options{Logf: f.logs.Logf,
		LinkNames: map[string]string{"ether1": "eth0", "ether2": "wan2", "bridge": "lan0"}})
	sim, err := rossim.New(rossim.Config{Bare: true, Dataplane: dp, Logf: f.logs.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { sim.Close() })
	f.sim = sim
	return f
}

// pings reports whether h gets an answer to one of two echo requests.
func pings(ctx context.Context, h *lab.Host, src, dst string) bool {
	args := []string{"-n", "-c", "2", "-W", "1", "-i", "0.3"}
	if src != "" {
		args = append(args, "-I", src)
	}
	_, _, code, err := h.Run(ctx, "ping", append(args, dst)...)
	return err == nil && code == 0
}

// TestFirewallRealised: the router's filter, NAT, mangle, routing tables
// and routing rules, configured through the API, act on real packets as
// RouterOS's would.
func TestFirewallRealised(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 2*time.Minute)
	defer cancel()
	f := newFWLab(t, ctx)
	c := apiClient(t, ctx, f.sim)
	routerWAN := f.l.Host("router").Addr4().String()
	farAddr := f.far.Addr4().String()
	for _, w := range [][]string{
		{"/interface/bridge/add", "=name=bridge"},
		{"/ip/address/add", "=address=" + lanGW + "/24", "=interface=bridge"},
		{"/ip/address/add", "=address=" + wan2 + "/30", "=interface=ether2"},
		{"/interface/list/add", "=name=WAN"},
		{"/interface/list/member/add", "=list=WAN", "=interface=ether1"},
		{"/interface/list/member/add", "=list=WAN", "=interface=ether2"},
	} {
		run(t, c, w...)
	}

	// 1. Chains accept when no rule matches: everything flows, and
	// without NAT far sees the LAN address (its reply has no way back).
	if !pings(ctx, f.far, "", routerWAN) {
		t.Fatal("far cannot ping the router with an empty firewall")
	}
	f.far.EchoSources(t, ctx)
	if pings(ctx, f.lan, lanA, farAddr) {
		t.Error("lan reaches far without NAT: far has no route back to the LAN")
	}
	if got := f.far.EchoSources(t, ctx); !slices.Equal(got, []string{lanA}) {
		t.Errorf("far saw %v without NAT, want %v", got, lanA)
	}

	// 2. A filter drop blocks a ping; disabling the rule lets it through.
	run(t, c, "/ip/firewall/filter/add", "=chain=input", "=action=drop", "=protocol=icmp", "=in-interface=ether1", "=comment=no ping from WAN")
	if pings(ctx, f.far, "", routerWAN) {
		t.Error("far pings the router through an input drop")
	}
	run(t, c, "/ip/firewall/filter/disable", "=numbers=*1")
	if !pings(ctx, f.far, "", routerWAN) {
		t.Error("far cannot ping the router once the drop is disabled")
	}
	run(t, c, "/ip/firewall/filter/remove", "=numbers=*1")

	// 3. Established/related: the router reaches far (the replies are
	// accepted as established) while far's own pings are dropped by the
	// WAN drop after it; without the accept, the replies are dropped too.
	run(t, c, "/ip/firewall/filter/add", "=chain=input", "=action=accept", "=connection-state=established,related", "=comment=established")
	run(t, c, "/ip/firewall/filter/add", "=chain=input", "=action=drop", "=in-interface-list=WAN", "=comment=drop WAN")
	if last := ping(t, c, farAddr, 2); last["received"] != "2" {
		t.Errorf("router's ping of far with established accepted: %v", last)
	}
	if pings(ctx, f.far, "", routerWAN) {
		t.Error("far's new pings pass the WAN drop")
	}
	run(t, c, "/ip/firewall/filter/disable", "=numbers=*2")
	if last := ping(t, c, farAddr, 2); last["received"] != "0" {
		t.Errorf("router's ping of far with the established accept disabled: %v", last)
	}
	run(t, c, "/ip/firewall/filter/remove", "=numbers=*2,*3")

	// 4. Masquerade: far sees the router's WAN address and answers.
	run(t, c, "/ip/firewall/nat/add", "=chain=srcnat", "=action=masquerade", "=out-interface-list=WAN", "=comment=masquerade")
	f.far.EchoSources(t, ctx)
	if !pings(ctx, f.lan, lanA, farAddr) {
		t.Error("lan cannot reach far through the masquerade")
	}
	if got := f.far.EchoSources(t, ctx); !slices.Equal(got, []string{routerWAN}) {
		t.Errorf("far saw %v through the masquerade, want the router's WAN address %s", got, routerWAN)
	}

	// 5. dst-nat: far's pings of the router's WAN address reach lanA, and
	// the forward drop of new WAN connections that were not dst-natted
	// (defconf's rule) lets them through because they were.
	run(t, c, "/ip/firewall/filter/add", "=chain=forward", "=action=drop", "=connection-state=new", "=connection-nat-state=!dstnat", "=in-interface-list=WAN", "=comment=drop WAN not DSTNATed")
	run(t, c, "/ip/firewall/nat/add", "=chain=dstnat", "=action=dst-nat", "=protocol=icmp", "=dst-address="+routerWAN, "=in-interface=ether1", "=to-addresses="+lanA)
	f.lan.EchoSources(t, ctx)
	if !pings(ctx, f.far, "", routerWAN) {
		t.Error("far's ping of the router's WAN address is not answered through the dst-nat")
	}
	if got := f.lan.EchoSources(t, ctx); !slices.Equal(got, []string{farAddr}) {
		t.Errorf("lan saw %v through the dst-nat, want far %s", got, farAddr)
	}
	run(t, c, "/ip/firewall/nat/remove", "=numbers="+run(t, c, "/ip/firewall/nat/print", "?chain=dstnat").Re[0].Map[".id"])
	// Without the dst-nat, far's new connections to the LAN are dropped
	// in forward (the internet routes the LAN to the router for this).
	mustRun(t, ctx, f.l.Host("inet"), "ip", "route", "add", "192.0.2.0/24", "via", routerWAN)
	if pings(ctx, f.far, "", lanA) {
		t.Error("far reaches the LAN through the forward drop of new WAN connections")
	}
	run(t, c, "/ip/firewall/filter/disable", "=numbers="+run(t, c, "/ip/firewall/filter/print", "?comment=drop WAN not DSTNATed").Re[0].Map[".id"])
	if !pings(ctx, f.far, "", lanA) {
		t.Error("far cannot reach the LAN with the forward drop disabled")
	}
	mustRun(t, ctx, f.l.Host("inet"), "ip", "route", "del", "192.0.2.0/24")

	// 6. A routing rule sends one LAN source via another table: lanB's
	// pings of far's address leave by ether2 and far2 answers them.
	run(t, c, "/routing/table/add", "=name=alt", "=fib=")
	run(t, c, "/ip/route/add", "=dst-address=0.0.0.0/0", "=gateway="+far2Addr, "=routing-table=alt")
	run(t, c, "/routing/rule/add", "=src-address="+lanB+"/32", "=action=lookup-only-in-table", "=table=alt")
	f.far2.EchoSources(t, ctx)
	if !pings(ctx, f.lan, lanB, farAddr) || !pings(ctx, f.lan, lanA, farAddr) {
		t.Error("lan cannot reach far's address from both sources")
	}
	if got := f.far2.EchoSources(t, ctx); !slices.Equal(got, []string{wan2}) {
		t.Errorf("far2 saw %v, want only lanB's pings, masqueraded to %s", got, wan2)
	}
	if got := f.far.EchoSources(t, ctx); !slices.Equal(got, []string{routerWAN}) {
		t.Errorf("far saw %v, want only lanA's pings, masqueraded to %s", got, routerWAN)
	}

	// 7. Mangle mark-routing: lanA's packets marked alt take table alt too.
	run(t, c, "/ip/firewall/mangle/add", "=chain=prerouting", "=action=mark-routing", "=new-routing-mark=alt", "=src-address="+lanA, "=in-interface=bridge", "=passthrough=no")
	f.far.EchoSources(t, ctx)
	if !pings(ctx, f.lan, lanA, farAddr) {
		t.Error("lan cannot reach far's address with lanA marked")
	}
	if got := f.far2.EchoSources(t, ctx); !slices.Equal(got, []string{wan2}) {
		t.Errorf("far2 saw %v, want lanA's marked pings from %s", got, wan2)
	}
	if got := f.far.EchoSources(t, ctx); len(got) != 0 {
		t.Errorf("far saw %v although lanA is marked for table alt", got)
	}

	// Closing the router removes its table, rules and routes.
	if err := f.sim.Close(); err != nil {
		t.Fatal(err)
	}
	if out := mustRun(t, ctx, f.router, "nft", "list", "tables"); strings.Contains(out, linuxdp.NFTable) {
		t.Errorf("nft table left after Close: %s", out)
	}
	if out := mustRun(t, ctx, f.router, "ip", "rule", "show"); strings.Contains(out, "proto 199") || strings.Contains(out, "lookup 100") {
		t.Errorf("ip rules left after Close:\n%s", out)
	}
	for _, fam := range []string{"-4", "-6"} {
		if r := routes(t, ctx, f.router, fam); len(r) != 0 {
			t.Errorf("routes left after Close: %v", r)
		}
	}
}
