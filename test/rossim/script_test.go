package rossim

import (
	"reflect"
	"strings"
	"testing"
	"time"
)

func TestScriptQuoteRoundTrip(t *testing.T) {
	for _, v := range []string{"", "plain", `with "quotes"`, `back\slash`, "$var and $(x)", "new\nline\ttab\r", "ctl\x01\x7f", "defconf: drop everything else not coming from LAN", "ünïcode ✓"} {
		q := ScriptQuote(v)
		toks, err := tokenize("comment=" + q)
		if err != nil {
			t.Fatalf("%q: %v", q, err)
		}
		if len(toks) != 1 || toks[0].text != "comment="+v {
			t.Errorf("round trip %q -> %s -> %q", v, q, toks[0].text)
		}
	}
	if got := ScriptQuote(`a"b\c$d`); got != `"a\"b\\c\$d"` {
		t.Errorf("ScriptQuote = %s", got)
	}
}

func TestScriptParser(t *testing.T) {
	s, _ := newSim(t, Config{})
	good := map[string]scriptLine{
		`/ip firewall filter add chain=input action=accept comment="tether: a b"`: {menu: "/ip/firewall/filter", verb: "add", args: []pair{{"chain", "input"}, {"action", "accept"}, {"comment", "tether: a b"}}},
		`/ip/firewall/filter set [find where comment="x \"y\""] disabled=yes`:     {menu: "/ip/firewall/filter", verb: "set", selector: &pair{"comment", `x "y"`}, args: []pair{{"disabled", "yes"}}},
		`/system scheduler remove [find name="dm"]`:                               {menu: "/system/scheduler", verb: "remove", selector: &pair{"name", "dm"}},
		`/interface/wireguard/peers set numbers=*A endpoint-port=1`:               {menu: "/interface/wireguard/peers", verb: "set", numbers: "*A", args: []pair{{"endpoint-port", "1"}}},
		`/ipv6 route remove *1F`:                                                  {menu: "/ipv6/route", verb: "remove", numbers: "*1F"},
		`/system script run tether-revert`:                                        {menu: "/system/script", verb: "run", selector: &pair{"name", "tether-revert"}},
		`/system identity set name="gw 1"`:                                        {menu: "/system/identity", verb: "set", args: []pair{{"name", "gw 1"}}},
	}
	for src, want := range good {
		got, err := s.parseLine(src)
		if err != nil {
			t.Errorf("%s: %v", src, err)
			continue
		}
		if !reflect.DeepEqual(got, want) {
			t.Errorf("%s:\n got %+v\nwant %+v", src, got, want)
		}
	}
	bad := []string{
		`:log info "hello"`,
		`/ip firewall filter print`,
		`/ip firewall filter set disabled=yes`,
		`/ip firewall filter add [find comment="x"] chain=input`,
		`/ip firewall filter remove [find where comment~"x"]`,
		`/ip firewall filter remove [find where comment="x" and chain=input]`,
		`/ip firewall filter add comment=$x`,
		`/ip firewall filter add comment="unterminated`,
		`/ip firewall filter add comment="bad \q escape"`,
		`/nope add a=b`,
		`/system identity set [find name="x"] name=y`,
		`/ip firewall filter run x`,
		`/ip firewall filter add chain=input; /ip address add`,
	}
	for _, src := range bad {
		if _, err := s.parseLine(src); err == nil {
			t.Errorf("%s: parsed, want error", src)
		}
	}
}

// TestDeadManRevert arms a scheduler like tether does and lets simulated
// time pass: the script restores the pre-change state and removes itself.
func TestDeadManRevert(t *testing.T) {
	s, _ := newSim(t, Config{})
	c := client(t, s)
	before := s.Dump()

	// The change under test.
	run(t, c, "/ipv6/firewall/filter/add", "=chain=input", "=action=accept", "=protocol=udp", "=dst-port=51820", `=comment=tether: wg "relay"`,
		"=place-before="+run(t, c, "/ipv6/firewall/filter/print", "?comment=defconf: drop everything else not coming from LAN", "?chain=input").Re[0].Map[".id"])
	run(t, c, "/system/identity/set", "=name=changed")
	addrID := run(t, c, "/ip/address/print").Re[0].Map[".id"]
	run(t, c, "/ip/address/set", "=.id="+addrID, "=comment=tether-moved")

	revert := strings.Join([]string{
		"# tether dead-man: inverse plan",
		`/ipv6 firewall filter remove [find where comment=` + ScriptQuote(`tether: wg "relay"`) + `]`,
		`/system identity set name=MikroTik`,
		`/ip address set numbers=` + addrID + ` comment=defconf`,
		`/system scheduler remove [find name="tether-deadman"]`,
		`/system script remove [find name="tether-revert"]`,
	}, "\n")
	run(t, c, "/system/script/add", "=name=tether-revert", "=source="+revert)
	now := t0 // the clock has not moved
	fire := now.Add(2 * time.Minute)
	run(t, c, "/system/scheduler/add", "=name=tether-deadman", "=start-date="+fire.Format("2006-01-02"), "=start-time="+fire.Format("15:04:05"), "=interval=0", "=on-event=/system script run tether-revert")

	s.Advance(time.Minute + 59*time.Second)
	if len(s.ScriptRuns()) != 0 {
		t.Fatalf("fired early: %v", s.ScriptRuns())
	}
	if v := run(t, c, "/system/scheduler/print").Re[0].Map["next-run"]; v != "2026-03-01 12:02:00" {
		t.Errorf("next-run %q", v)
	}
	s.Advance(2 * time.Second)
	runs := s.ScriptRuns()
	// The inline on-event and the script it runs are both recorded.
	if len(runs) != 2 || runs[0].Err != nil || runs[0].Name != "tether-revert" || !runs[0].At.Equal(fire) || runs[1].Name != "scheduler:tether-deadman" || runs[1].Err != nil {
		t.Fatalf("runs %+v", runs)
	}
	after := s.Dump()
	for _, menu := range []string{"/ipv6/firewall/filter", "/system/identity", "/ip/address", "/system/scheduler", "/system/script"} {
		if !reflect.DeepEqual(before[menu], after[menu]) {
			t.Errorf("%s not restored:\nbefore %v\nafter  %v", menu, before[menu], after[menu])
		}
	}
	// Once fired and removed, nothing runs again.
	s.Advance(10 * time.Minute)
	if len(s.ScriptRuns()) != 2 {
		t.Errorf("ran again: %v", s.ScriptRuns())
	}
}

func TestScriptFailures(t *testing.T) {
	s, _ := newSim(t, Config{})
	c := client(t, s)
	// Outside the subset: rejected before anything runs.
	run(t, c, "/system/script/add", "=name=bad", "=source=/system identity set name=x\n:log info \"hi\"")
	if msg := trapMsg(t, c, "/system/script/run", "=number=bad"); !strings.Contains(msg, "line 2") {
		t.Errorf("run bad: %q", msg)
	}
	if v := run(t, c, "/system/identity/print").Re[0].Map["name"]; v != "MikroTik" {
		t.Errorf("rejected script changed identity to %q", v)
	}
	// A runtime error stops the script; earlier lines stay applied.
	run(t, c, "/system/script/add", "=name=half", "=source=/system identity set name=first\n/ip address set numbers=*99 comment=x\n/system identity set name=never")
	trapMsg(t, c, "/system/script/run", "=number=half")
	if v := run(t, c, "/system/identity/print").Re[0].Map["name"]; v != "first" {
		t.Errorf("identity %q", v)
	}
	runs := s.ScriptRuns()
	if len(runs) != 2 || runs[0].Err == nil || runs[1].Err == nil || !strings.Contains(runs[1].Err.Error(), "no such item") {
		t.Errorf("runs %+v", runs)
	}
	// Inline on-event with an interval runs repeatedly.
	run(t, c, "/ip/firewall/address-list/add", "=list=ticks", "=address=10.0.0.1", "=comment=tick")
	run(t, c, "/system/scheduler/add", "=name=every", "=start-time=startup", "=interval=1m", `=on-event=/ip firewall address-list set [find comment="tick"] disabled=yes`)
	s.Advance(3*time.Minute + 30*time.Second)
	// startup = boot+3s, then every minute: 0:03, 1:03, 2:03, 3:03.
	if n := run(t, c, "/system/scheduler/print", "?name=every").Re[0].Map["run-count"]; n != "4" {
		t.Errorf("run-count %s", n)
	}
	if v := run(t, c, "/ip/firewall/address-list/print", "?list=ticks").Re[0].Map["disabled"]; v != "true" {
		t.Errorf("inline on-event not applied: %s", v)
	}
}
