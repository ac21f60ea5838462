package rossim

import (
	"bufio"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// Tests named in CONFORMANCE.md: each proves one sourced router behaviour.

// rawSession logs in as admin on a raw connection and returns a sender and
// a reader of whole sentences (words joined by spaces).
func rawSession(t *testing.T, s *Sim) (send func(words ...string), read func() string) {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(nc)
	send = func(words ...string) {
		if _, err := nc.Write(AppendSentence(nil, words...)); err != nil {
			t.Fatal(err)
		}
	}
	read = func() string {
		sen, err := ReadSentence(r)
		if err != nil {
			t.Fatal(err)
		}
		return strings.Join(sen, " ")
	}
	send("/login", "=name=admin", "=password=")
	if got := read(); got != "!done" {
		t.Fatalf("login: %q", got)
	}
	return send, read
}

func TestBlackholeIsABareFlag(t *testing.T) {
	s, _ := newSim(t, Config{})
	send, read := rawSession(t, s)
	send("/ip/route/add", "=dst-address=10.99.0.0/16", "=blackhole=", "=comment=bh")
	if got := read(); !strings.HasPrefix(got, "!done =ret=*") {
		t.Fatalf("add: %q", got)
	}
	send("/ip/route/print", "?comment=bh", "=.proplist=blackhole,dst-address")
	// The word on the wire is "=blackhole=" (present, empty).
	if got := read(); got != "!re =blackhole= =dst-address=10.99.0.0/16" {
		t.Fatalf("print: %q", got)
	}
	read() // !done

	c := client(t, s)
	run(t, c, "/ip/route/add", "=dst-address=10.98.0.0/16", "=gateway=192.168.88.2", "=comment=gw")
	if r := run(t, c, "/ip/route/print", "?comment=gw"); hasFlag(r.Re[0].Map, "blackhole") {
		t.Errorf("unset flag printed: %v", r.Re[0].Map)
	}
	// Any value marks it: presence is what counts.
	run(t, c, "/ipv6/route/add", "=dst-address=2001:db8:99::/48", "=blackhole=no", "=comment=v6")
	r := run(t, c, "/ipv6/route/print", "?comment=v6")
	if v, ok := r.Re[0].Map["blackhole"]; !ok || v != "" {
		t.Fatalf("blackhole=no: %v", r.Re[0].Map)
	}
	// =!blackhole= on set clears it; so does unset.
	run(t, c, "/ipv6/route/set", "=.id="+r.Re[0].Map[".id"], "=!blackhole=")
	if r := run(t, c, "/ipv6/route/print", "?comment=v6"); hasFlag(r.Re[0].Map, "blackhole") {
		t.Errorf("after =!blackhole=: %v", r.Re[0].Map)
	}
	run(t, c, "/ip/route/unset", "=numbers="+run(t, c, "/ip/route/print", "?comment=bh").Re[0].Map[".id"], "=value-name=blackhole")
	if r := run(t, c, "/ip/route/print", "?comment=bh"); hasFlag(r.Re[0].Map, "blackhole") {
		t.Errorf("after unset: %v", r.Re[0].Map)
	}
	// Booleans stay true/false.
	if m := run(t, c, "/ip/route/print", "?comment=gw").Re[0].Map; m["disabled"] != "false" || m["active"] != "true" {
		t.Errorf("booleans: %v", m)
	}
}

func TestDuplicatesRefused(t *testing.T) {
	s, _ := newSim(t, Config{})
	c := client(t, s)
	if msg := trapMsg(t, c, "/ip/address/add", "=address=192.168.88.1/24", "=interface=bridge"); msg != "failure: already have such address" {
		t.Errorf("defconf address again: %q", msg)
	}
	run(t, c, "/ipv6/address/add", "=address=2001:db8::1/64", "=interface=bridge")
	if msg := trapMsg(t, c, "/ipv6/address/add", "=address=2001:db8::1/64", "=interface=bridge"); msg != "failure: already have such address" {
		t.Errorf("ipv6 address again: %q", msg)
	}
	id := run(t, c, "/ip/address/add", "=address=192.168.89.1/24", "=interface=bridge").Done.Map["ret"]
	if msg := trapMsg(t, c, "/ip/address/set", "=.id="+id, "=address=192.168.88.1/24"); msg != "failure: already have such address" {
		t.Errorf("set onto an existing address: %q", msg)
	}
	run(t, c, "/ip/firewall/address-list/add", "=list=l", "=address=192.0.2.1")
	if msg := trapMsg(t, c, "/ip/firewall/address-list/add", "=list=l", "=address=192.0.2.1"); msg != "failure: already have such entry" {
		t.Errorf("address-list entry again: %q", msg)
	}
	run(t, c, "/ip/firewall/address-list/add", "=list=other", "=address=192.0.2.1")
}

func TestCancelInterruptsARunningCommand(t *testing.T) {
	s, _ := newSim(t, Config{})
	send, read := rawSession(t, s)
	send("/tool/ping", "=address=192.168.88.1", "=interval=20ms", ".tag=p")
	for range 2 {
		if got := read(); !strings.HasPrefix(got, "!re ") || !strings.HasSuffix(got, ".tag=p") {
			t.Fatalf("ping reply %q", got)
		}
	}
	send("/cancel", "=tag=p", ".tag=c")
	var rest []string
	for {
		got := read()
		if strings.HasPrefix(got, "!re ") {
			continue // replies already on their way
		}
		rest = append(rest, got)
		if len(rest) == 3 {
			break
		}
	}
	want := []string{"!trap =category=2 =message=interrupted .tag=p", "!done .tag=c", "!done .tag=p"}
	if !slices.Equal(rest, want) {
		t.Fatalf("cancel:\n got %q\nwant %q", rest, want)
	}
	// The connection goes on.
	send("/system/identity/print", ".tag=i")
	if got := read(); !strings.HasPrefix(got, "!re =name=") {
		t.Fatalf("after cancel: %q", got)
	}
}

func TestDynamicRowsHaveLongIDs(t *testing.T) {
	s, _ := newSim(t, Config{Version: "7.20.8", World: relayWorld("")})
	c := client(t, s)
	r := run(t, c, "/ip/route/print", "?dynamic=true", "=.proplist=.id,dst-address")
	if len(r.Re) == 0 || !strings.HasPrefix(r.Re[0].Map[".id"], "*8000000") {
		t.Fatalf("connected route ids %v", rows(r))
	}
	id := run(t, c, "/ip/route/add", "=dst-address=10.7.0.0/16", "=gateway=192.168.88.2").Done.Map["ret"]
	if len(id) > 4 {
		t.Errorf("static route id %s", id)
	}
	// find where .id=... selects a long id in a script too.
	rid := r.Re[0].Map[".id"]
	if _, _, err := s.Exec("/system/script/add", "=name=f", "=source=/ip route set [find where .id="+rid+"] comment=\"x\""); err != nil {
		t.Fatal(err)
	}
	trapMsg(t, c, "/system/script/run", "=number=f")
	if runs := s.ScriptRuns(); len(runs) != 1 || runs[0].Err == nil || !strings.Contains(runs[0].Err.Error(), "can not change dynamic") {
		t.Errorf("script on a dynamic route: %+v", runs)
	}
}

func TestBGPSessionShape(t *testing.T) {
	s, _ := newSim(t, Config{Version: "7.20.8", World: relayWorld("")})
	c := client(t, s)
	run(t, c, "/interface/wireguard/add", "=name=wg-relay", "=listen-port=51821")
	run(t, c, "/interface/wireguard/peers/add", "=interface=wg-relay", "=public-key="+mustPub("relay"),
		"=endpoint-address=198.51.100.7", "=endpoint-port=51820", "=allowed-address=::/0", "=persistent-keepalive=25s")
	run(t, c, "/ipv6/address/add", "=address=fd00:1::2/64", "=interface=wg-relay", "=advertise=no")
	run(t, c, "/routing/bgp/instance/add", "=name=bgp1", "=as=65010")
	run(t, c, "/routing/bgp/connection/add", "=name=relay", "=instance=bgp1", "=remote.address=fd00:1::1", "=remote.as=65001", "=local.role=ebgp", "=afi=ipv6")
	s.Advance(20 * time.Second)
	sess := run(t, c, "/routing/bgp/session/print").Re[0].Map
	if sess[".id"] != "*2800001" || sess["established"] != "true" || sess["name"] != "relay-1" {
		t.Errorf("session %v", sess)
	}
	for _, flag := range []string{"ebgp", "remote.eor", "local.eor"} {
		if v, ok := sess[flag]; !ok || v != "" {
			t.Errorf("%s flag %q %v", flag, v, ok)
		}
	}
	if _, err := ParseDuration(sess["uptime"]); err != nil {
		t.Errorf("uptime %q", sess["uptime"])
	}
}

func TestUnknownMenuTwoTraps(t *testing.T) {
	s, _ := newSim(t, Config{})
	send, read := rawSession(t, s)
	send("/system/routerboard/getall")
	got := []string{read(), read(), read()}
	want := []string{
		"!trap =category=0 =message=no such command or directory (routerboard)",
		"!trap =category=0 =message=no such command prefix",
		"!done",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("unknown menu:\n got %q\nwant %q", got, want)
	}
}
