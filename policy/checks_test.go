package policy

import (
	"os"
	"testing"
)

func TestHealthChecksFromChrRelayExample(t *testing.T) {
	n, problems := Load(os.DirFS("../repo-example/cgnat-chr-relay"), ".")
	if problems.HasErrors() {
		t.Fatal(problems.Err())
	}
	home := n.HealthChecks("home")
	byName := map[string]Check{}
	for _, c := range home {
		byName[c.Name] = c
	}
	hs, ok := byName["handshake wg-vps/chr-vps"]
	if !ok || !hs.MustPass || !hs.Dials || hs.MaxAge.Seconds() != 180 {
		t.Fatalf("home must dial the relay and require a fresh handshake: %+v", hs)
	}
	bgp, ok := byName["bgp chr-vps"]
	if !ok || len(bgp.Expect) != 1 || bgp.Expect[0].String() != "::/0" || bgp.RemoteASN != 64512 {
		t.Fatalf("home expects exactly ::/0 from AS64512: %+v", bgp)
	}
	if _, ok := byName["ping upstream-v6"]; !ok {
		t.Fatal("declared probe missing")
	}
	relay := n.HealthChecks("relay")
	for _, c := range relay {
		if c.Kind == CheckBGP && (len(c.Expect) != 1 || c.Expect[0].String() != "2001:db8:100::/48") {
			t.Fatalf("relay expects exactly the home /48: %+v", c)
		}
		if c.Kind == CheckHandshake && c.Dials {
			t.Fatal("the relay listens; it does not dial home")
		}
	}
}
