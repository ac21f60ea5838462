package mikrotik

import (
	"strings"
	"testing"

	ros "github.com/tether-net/tether/render/routeros"
)

// TestDeadmanScriptEscapes runs a dead-man script on the simulator's
// script interpreter: values with the characters RouterOS scripting
// escapes (\ " $ ? and control bytes) come back byte for byte, and items
// are found by [find where …] on a quoted value or a bare .id.
func TestDeadmanScriptEscapes(t *testing.T) {
	const tricky = "tether: a?b $x \"q\" back\\slash\ttab [c]"
	l := newLab(t, "7.22.3", true)
	l.exec(t, "/ip/firewall/address-list/add", "=list=l", "=address=192.0.2.9", "=comment=tether: gone")
	l.exec(t, "/ip/firewall/address-list/add", "=list=l", "=address=192.0.2.8", "=comment=tether: kept")
	kept := l.exec(t, "/ip/firewall/address-list/print", "?comment=tether: kept")[0][".id"]
	u := &undoDoc{Ops: []Op{
		{Op: "remove", Path: "/ip/firewall/address-list", ID: "x", Find: &Find{Attr: "comment", Value: "tether: gone"}},
		{Op: "restore", Path: "/ip/firewall/address-list", ID: "y", Attrs: []ros.Attr{{Name: "list", Value: "l"}, {Name: "address", Value: "192.0.2.10"}, {Name: "comment", Value: tricky}}},
		{Op: "set", Path: "/ip/firewall/address-list", ID: "z", Ref: kept, Attrs: []ros.Attr{{Name: "comment", Value: "tether: back?"}}},
	}}
	src := deadmanScript("t1", u, nil)
	for _, want := range []string{`a\?b \$x \"q\" back\\slash\ttab`, "[find where .id=" + kept + "]"} {
		if !strings.Contains(src, want) {
			t.Fatalf("script lacks %s:\n%s", want, src)
		}
	}
	if _, _, err := l.sim.Exec("/system/script/add", "=name=dm", "=source="+src, "=policy=read,write,test"); err != nil {
		t.Fatal(err)
	}
	if _, _, err := l.sim.Exec("/system/script/run", "=number=dm"); err != nil {
		t.Fatal(err)
	}
	got := l.exec(t, "/ip/firewall/address-list/print", "?address=192.0.2.10")
	if len(got) != 1 || got[0]["comment"] != tricky {
		t.Fatalf("restored entry %v, want comment %q", got, tricky)
	}
	if left := l.exec(t, "/ip/firewall/address-list/print", "?comment=tether: gone"); len(left) != 0 {
		t.Fatalf("added entry not removed: %v", left)
	}
	if got := l.exec(t, "/ip/firewall/address-list/print", "?.id="+kept); got[0]["comment"] != "tether: back?" {
		t.Fatalf("set by .id: %v", got)
	}
}
