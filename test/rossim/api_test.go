package rossim

import (
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/go-routeros/routeros/v3"
)

func TestLogin(t *testing.T) {
	s, _ := newSim(t, Config{Password: "s3cret"})
	_, err := dial(t, s, "admin", "wrong")
	de, ok := err.(*routeros.DeviceError)
	if !ok || de.Sentence.Map["message"] != "invalid user name or password (6)" {
		t.Fatalf("bad password: %v", err)
	}
	if _, err := dial(t, s, "admin", "s3cret"); err != nil {
		t.Fatalf("good password: %v", err)
	}
}

func TestEmptyPrint(t *testing.T) {
	s, _ := newSim(t, Config{})
	c := client(t, s)
	r := run(t, c, "/interface/wireguard/print")
	if len(r.Re) != 0 || r.Done == nil {
		t.Fatalf("want no rows and !done, got %v", r)
	}
	// The raw reply must carry !empty before !done (RouterOS 7.18+).
	words := rawExchange(t, s, "/interface/wireguard/print")
	if !slices.Equal(words, []string{"!empty", "!done"}) {
		t.Fatalf("raw reply %v", words)
	}
}

func TestDefconf(t *testing.T) {
	s, _ := newSim(t, Config{})
	c := client(t, s)
	r := run(t, c, "/ip/firewall/filter/print", "=.proplist=.id,chain,comment")
	comments := column(r, "comment")
	for _, want := range []string{"defconf: accept established,related,untracked", "defconf: drop invalid", "defconf: accept ICMP",
		"defconf: accept to local loopback (for CAPsMAN)", "defconf: drop all not coming from LAN", "defconf: fasttrack",
		"defconf: drop all from WAN not DSTNATed"} {
		if !slices.Contains(comments, want) {
			t.Errorf("ipv4 filter lacks %q", want)
		}
	}
	r = run(t, c, "/ipv6/firewall/filter/print", "?chain=input", "=.proplist=comment")
	got := column(r, "comment")
	want := []string{"defconf: accept established,related,untracked", "defconf: drop invalid", "defconf: accept ICMPv6",
		"defconf: accept UDP traceroute", "defconf: accept DHCPv6-Client prefix delegation.", "defconf: accept IKE",
		"defconf: accept ipsec AH", "defconf: accept ipsec ESP", "defconf: accept all that matches ipsec policy",
		"defconf: drop everything else not coming from LAN"}
	if !slices.Equal(got, want) {
		t.Errorf("ipv6 input chain:\n got %q\nwant %q", got, want)
	}
	r = run(t, c, "/ipv6/firewall/filter/print", "?chain=forward", "=.proplist=comment")
	if fw := column(r, "comment"); fw[len(fw)-1] != "defconf: drop everything else not coming from LAN" {
		t.Errorf("ipv6 forward ends with %q", fw[len(fw)-1])
	}
	if r := run(t, c, "/ip/firewall/nat/print"); r.Re[0].Map["comment"] != "defconf: masquerade" {
		t.Errorf("nat: %v", rows(r))
	}
	if r := run(t, c, "/ipv6/firewall/address-list/print", "?list=bad_ipv6"); len(r.Re) < 5 {
		t.Errorf("bad_ipv6 has %d entries", len(r.Re))
	}
	r = run(t, c, "/interface/print", "=.proplist=name,type")
	if names := column(r, "name"); !slices.Equal(names, []string{"ether1", "ether2", "ether3", "ether4", "ether5", "bridge"}) {
		t.Errorf("interfaces %v", names)
	}
	r = run(t, c, "/interface/list/member/print", "=.proplist=interface,list")
	if got := rows(r); got[0]["interface"] != "bridge" || got[0]["list"] != "LAN" || got[1]["interface"] != "ether1" || got[1]["list"] != "WAN" {
		t.Errorf("members %v", got)
	}
	r = run(t, c, "/ip/address/print")
	if a := r.Re[0].Map; a["address"] != "192.168.88.1/24" || a["interface"] != "bridge" || a["network"] != "192.168.88.0" {
		t.Errorf("address %v", a)
	}
	// Bare starts without defconf but with hardware and system menus.
	b, _ := newSim(t, Config{Bare: true})
	if r := run(t, client(t, b), "/ip/firewall/filter/print"); len(r.Re) != 0 {
		t.Errorf("bare has %d filter rules", len(r.Re))
	}
}

func TestProplistAndQueries(t *testing.T) {
	s, _ := newSim(t, Config{})
	c := client(t, s)
	r := run(t, c, "/ip/firewall/filter/print", "?chain=input", "=.proplist=.id,comment")
	if len(r.Re) != 5 {
		t.Fatalf("input rules: %d", len(r.Re))
	}
	for _, re := range r.Re {
		if len(re.Map) != 2 || re.Map[".id"] == "" {
			t.Errorf("proplist not applied: %v", re.Map)
		}
	}
	cases := []struct {
		name  string
		query []string
		want  int
	}{
		{"equal", []string{"?=chain=forward"}, 6},
		{"has", []string{"?in-interface-list"}, 2},
		{"has-not", []string{"?-in-interface-list"}, 9},
		{"or", []string{"?action=drop", "?action=fasttrack-connection", "?#|"}, 5},
		{"and-not", []string{"?chain=input", "?action=drop", "?#!&"}, 3},
		{"dup", []string{"?chain=input", "?#."}, 5},
		{"less", []string{"?<packets=1"}, 11},
		{"greater", []string{"?>packets=0"}, 0},
		{"id", []string{"?.id=*2"}, 1},
	}
	for _, tc := range cases {
		r := run(t, c, append([]string{"/ip/firewall/filter/print"}, tc.query...)...)
		if len(r.Re) != tc.want {
			t.Errorf("%s: %d rows, want %d", tc.name, len(r.Re), tc.want)
		}
	}
	r = run(t, c, "/ip/firewall/filter/print", "=count-only=")
	if r.Done.Map["ret"] != "11" {
		t.Errorf("count-only ret %q", r.Done.Map["ret"])
	}
	r = run(t, c, "/ip/firewall/filter/getall", "?comment=defconf: drop invalid")
	if len(r.Re) != 2 {
		t.Errorf("getall: %d", len(r.Re))
	}
}

func TestAddPlaceBeforeMoveRemove(t *testing.T) {
	s, _ := newSim(t, Config{})
	c := client(t, s)
	anchor := run(t, c, "/ipv6/firewall/filter/print", "?comment=defconf: drop everything else not coming from LAN", "?chain=input", "=.proplist=.id").Re[0].Map[".id"]
	r := run(t, c, "/ipv6/firewall/filter/add", "=chain=input", "=action=accept", "=protocol=udp", "=dst-port=51820", "=comment=tether:wg", "=place-before="+anchor)
	id := r.Done.Map["ret"]
	if !strings.HasPrefix(id, "*") {
		t.Fatalf("ret %q", id)
	}
	comments := column(run(t, c, "/ipv6/firewall/filter/print", "?chain=input", "=.proplist=comment"), "comment")
	if n := len(comments); comments[n-2] != "tether:wg" || comments[n-1] != "defconf: drop everything else not coming from LAN" {
		t.Fatalf("order %q", comments)
	}
	row := run(t, c, "/ipv6/firewall/filter/print", "?.id="+id).Re[0].Map
	if row["disabled"] != "false" || row["dynamic"] != "false" || row["invalid"] != "false" || row["dst-port"] != "51820" {
		t.Errorf("defaults %v", row)
	}
	// move to the end of the table, then before the first rule
	run(t, c, "/ipv6/firewall/filter/move", "=numbers="+id)
	all := column(run(t, c, "/ipv6/firewall/filter/print", "=.proplist=.id"), ".id")
	if all[len(all)-1] != id {
		t.Errorf("move to end: %v", all)
	}
	run(t, c, "/ipv6/firewall/filter/move", "=numbers="+id, "=destination="+all[0])
	all = column(run(t, c, "/ipv6/firewall/filter/print", "=.proplist=.id"), ".id")
	if all[0] != id {
		t.Errorf("move before first: %v", all)
	}
	// set / unset / disable
	run(t, c, "/ipv6/firewall/filter/set", "=.id="+id, "=disabled=yes", "=log=yes")
	row = run(t, c, "/ipv6/firewall/filter/print", "?.id="+id).Re[0].Map
	if row["disabled"] != "true" || row["log"] != "true" {
		t.Errorf("set: %v", row)
	}
	run(t, c, "/ipv6/firewall/filter/unset", "=numbers="+id, "=value-name=dst-port")
	if _, ok := run(t, c, "/ipv6/firewall/filter/print", "?.id="+id).Re[0].Map["dst-port"]; ok {
		t.Error("unset left dst-port")
	}
	// remove with a list; ids are never reused
	id2 := run(t, c, "/ipv6/firewall/filter/add", "=chain=forward", "=action=accept").Done.Map["ret"]
	run(t, c, "/ipv6/firewall/filter/remove", "=numbers="+id+","+id2)
	if r := run(t, c, "/ipv6/firewall/filter/print", "?.id="+id); len(r.Re) != 0 {
		t.Error("not removed")
	}
	id3 := run(t, c, "/ipv6/firewall/filter/add", "=chain=forward", "=action=accept").Done.Map["ret"]
	if id3 == id || id3 == id2 {
		t.Errorf("id %s reused", id3)
	}
	if msg := trapMsg(t, c, "/ipv6/firewall/filter/remove", "=.id="+id); msg != "no such item" {
		t.Errorf("remove twice: %q", msg)
	}
}

func TestValidation(t *testing.T) {
	s, _ := newSim(t, Config{})
	c := client(t, s)
	cases := []struct {
		words []string
		want  string
	}{
		{[]string{"/ip/nope/print"}, "no such command prefix"},
		{[]string{"/ip/address/frobnicate"}, "no such command"},
		{[]string{"/ip/address/add", "=address=10.0.0.1/24", "=interface=ether2", "=colour=red"}, "unknown parameter colour"},
		{[]string{"/ip/address/add", "=address=10.0.0.300/24", "=interface=ether2"}, "invalid value for argument address"},
		{[]string{"/ip/address/add", "=address=10.0.0.1/24", "=interface=ether9"}, "input does not match any value of interface"},
		{[]string{"/ip/address/add", "=address=10.0.0.1/24"}, "missing value(s) of argument(s) interface"},
		{[]string{"/ipv6/route/add", "=dst-address=10.0.0.0/8", "=gateway=fe80::1%ether1"}, "invalid value for argument dst-address"},
		{[]string{"/interface/wireguard/add", "=name=wg0", "=listen-port=abc"}, "invalid value for argument listen-port"},
		{[]string{"/interface/wireguard/add", "=name=wg0", "=listen-port=70000"}, "value of listen-port out of range (0..65535)"},
		{[]string{"/interface/wireguard/add", "=name=bridge"}, "failure: already have interface with such name"},
		{[]string{"/interface/wireguard/peers/add", "=interface=ether1", "=public-key=" + mustPub("x")}, "input does not match any value of interface"},
		{[]string{"/ip/firewall/filter/add", "=chain=input", "=action=explode"}, "input does not match any value of action"},
		{[]string{"/ip/firewall/filter/add", "=action=accept"}, "missing value(s) of argument(s) chain"},
		{[]string{"/ip/firewall/filter/add", "=chain=input", "=disabled=maybe"}, "invalid value of disabled, yes or no expected"},
		{[]string{"/ip/address/add", "=address=10.0.0.1/24", "=interface=ether2", "=place-before=*1"}, "unknown parameter place-before"},
		{[]string{"/interface/list/add", "=name=LAN"}, "failure: item with such name already exists"},
		{[]string{"/interface/ethernet/remove", "=numbers=ether1"}, "no such command"}, // ethernet has no remove
		{[]string{"/interface/list/remove", "=numbers=all"}, "failure: can not remove dynamic item"},
	}
	for _, tc := range cases {
		if got := trapMsg(t, c, tc.words...); got != tc.want {
			t.Errorf("%v: trap %q, want %q", tc.words, got, tc.want)
		}
	}
	// Normalisation: what is set is what print returns, in router form.
	run(t, c, "/interface/wireguard/add", "=name=wg0", "=comment=tether")
	pub := mustPub("far")
	run(t, c, "/interface/wireguard/peers/add", "=interface=wg0", "=public-key="+pub, "=persistent-keepalive=25", "=allowed-address=fd00::1/128,10.1.0.0/16", "=endpoint-address=relay.example.net", "=endpoint-port=51820")
	p := run(t, c, "/interface/wireguard/peers/print").Re[0].Map
	if p["persistent-keepalive"] != "25s" || p["disabled"] != "false" || p["public-key"] != pub || p["name"] != "peer1" || p["allowed-address"] != "fd00::1/128,10.1.0.0/16" {
		t.Errorf("peer %v", p)
	}
	run(t, c, "/interface/wireguard/peers/set", "=numbers="+p[".id"], "=persistent-keepalive=1m30s")
	if v := run(t, c, "/interface/wireguard/peers/print", "=.proplist=persistent-keepalive").Re[0].Map["persistent-keepalive"]; v != "1m30s" {
		t.Errorf("keepalive %q", v)
	}
	w := run(t, c, "/interface/wireguard/print").Re[0].Map
	if w["listen-port"] != "13231" || w["mtu"] != "1420" || w["private-key"] == "" || w["running"] != "true" {
		t.Errorf("wg defaults %v", w)
	}
	if got, _ := PublicKey(w["private-key"]); got != w["public-key"] {
		t.Error("public-key does not match private-key")
	}
	if r := run(t, c, "/interface/print", "?name=wg0", "=.proplist=type"); r.Re[0].Map["type"] != "wg" {
		t.Errorf("wg0 in /interface: %v", rows(r))
	}
	// Renaming an interface follows through to its referrers.
	run(t, c, "/interface/wireguard/set", "=numbers=wg0", "=name=wg-relay")
	if v := run(t, c, "/interface/wireguard/peers/print").Re[0].Map["interface"]; v != "wg-relay" {
		t.Errorf("peer interface after rename: %q", v)
	}
	run(t, c, "/interface/wireguard/set", "=numbers=wg-relay", "=name=wg0")
	r := run(t, c, "/ipv6/route/add", "=dst-address=2001:db8:1::5/48", "=gateway=wg0", "=comment=x")
	if got := run(t, c, "/ipv6/route/print", "?.id="+r.Done.Map["ret"]).Re[0].Map; got["dst-address"] != "2001:db8:1::/48" || got["distance"] != "1" || got["dynamic"] != "false" {
		t.Errorf("route %v", got)
	}
}

func mustPub(seed string) string {
	_, pub := KeyPair(seed)
	return pub
}

func TestSingletons(t *testing.T) {
	s, _ := newSim(t, Config{})
	c := client(t, s)
	r := run(t, c, "/system/identity/print")
	if len(r.Re) != 1 || r.Re[0].Map["name"] != "MikroTik" {
		t.Fatalf("identity %v", rows(r))
	}
	if _, ok := r.Re[0].Map[".id"]; ok {
		t.Error("singleton print has .id")
	}
	run(t, c, "/system/identity/set", "=name=home-gw")
	if r := run(t, c, "/system/identity/get", "=value-name=name"); r.Done.Map["ret"] != "home-gw" {
		t.Errorf("get ret %v", r.Done.Map)
	}
	run(t, c, "/ipv6/settings/set", "=accept-router-advertisements=no", "=forward=yes")
	if v := run(t, c, "/ipv6/settings/print").Re[0].Map; v["forward"] != "true" || v["accept-router-advertisements"] != "no" {
		t.Errorf("ipv6 settings %v", v)
	}
	run(t, c, "/ip/dns/set", "=servers=2001:4860:4860::8888,1.1.1.1")
	if v := run(t, c, "/ip/dns/print", "=.proplist=servers").Re[0].Map["servers"]; v != "2001:4860:4860::8888,1.1.1.1" {
		t.Errorf("dns servers %q", v)
	}
	if msg := trapMsg(t, c, "/ip/dns/add", "=servers=1.1.1.1"); msg != "no such command" {
		t.Errorf("add on singleton: %q", msg)
	}
	if v := run(t, c, "/system/resource/print").Re[0].Map["version"]; v != "7.22.3 (stable)" {
		t.Errorf("version %q", v)
	}
}

// TestVersionedSchema proves the simulator enforces each version's tree.
func TestVersionedSchema(t *testing.T) {
	for _, tc := range []struct {
		version     string
		instanceOK  bool
		addPathOK   bool
		hasInstance bool
	}{
		{"7.18", false, true, false},
		{"7.20.8", true, true, true},
		{"7.22.3", true, false, true},
		{"7.24", true, false, true},
	} {
		t.Run(tc.version, func(t *testing.T) {
			s, _ := newSim(t, Config{Version: tc.version})
			c := client(t, s)
			if tc.hasInstance {
				run(t, c, "/routing/bgp/instance/add", "=name=main-bgp", "=as=65010", "=router-id=10.255.0.1")
			} else if msg := trapMsg(t, c, "/routing/bgp/instance/print"); msg != "no such command prefix" {
				t.Errorf("instance menu: %q", msg)
			}
			words := []string{"/routing/bgp/connection/add", "=name=up", "=remote.address=fd00::1", "=remote.as=65001", "=local.role=ebgp", "=as=65010", "=instance=main-bgp"}
			if tc.instanceOK {
				run(t, c, words...)
			} else if msg := trapMsg(t, c, words...); msg != "unknown parameter instance" {
				t.Errorf("instance=: %q", msg)
			}
			words = []string{"/routing/bgp/connection/add", "=name=ap", "=remote.address=fd00::2", "=remote.as=65002", "=local.role=ebgp", "=as=65010", "=add-path-out=all"}
			if tc.addPathOK {
				run(t, c, words...)
			} else if msg := trapMsg(t, c, words...); msg != "unknown parameter add-path-out" {
				t.Errorf("add-path-out=: %q", msg)
			}
		})
	}
	s, _ := newSim(t, Config{Version: "7.18"})
	if msg := trapMsg(t, client(t, s), "/routing/bgp/connection/add", "=name=x", "=remote.address=fd00::1", "=remote.as=1", "=local.role=ebgp"); msg != "missing value(s) of argument(s) as" {
		t.Errorf("7.18 connection without as: %q", msg)
	}
}

func TestAsyncTaggedCommands(t *testing.T) {
	// go-routeros v3.0.1 registers an async tag only after writing the
	// command, so a reply faster than that is dropped and the call hangs.
	// A little latency (any real network has more) avoids that client race.
	s, _ := newSim(t, Config{Faults: Faults{Latency: 20 * time.Millisecond}})
	c := client(t, s)
	c.Async()
	type res struct {
		r   *routeros.Reply
		err error
	}
	ch := make(chan res, 3)
	for _, cmd := range []string{"/ip/address/print", "/interface/print", "/system/identity/print"} {
		go func() {
			r, err := c.Run(cmd)
			ch <- res{r, err}
		}()
	}
	for range 3 {
		x := <-ch
		if x.err != nil || len(x.r.Re) == 0 {
			t.Fatalf("async: %v %v", x.r, x.err)
		}
	}
}
