package linux

import (
	"os"
	"strings"
	"testing"

	"github.com/tether-net/tether/policy"
)

// The server side of seed 003 (stable SLAAC address, redirects, no privacy
// extensions) on a networkd interface: the keys land in the sections
// systemd.network(5) reads them from.
func TestNetworkdSLAACSettings(t *testing.T) {
	n, problems := policy.Load(os.DirFS("../../repo-example/ula-mesh"), ".")
	if problems.HasErrors() {
		t.Fatal(problems.Err())
	}
	eth0 := &n.Sites["edge-a"].Interfaces[0]
	if eth0.Name != "eth0" || !eth0.Networkd || !eth0.AcceptRA {
		t.Fatalf("edge-a's first interface is not the networkd eth0 accepting RAs: %+v", eth0)
	}
	yes := true
	eth0.IPv6Token, eth0.IPv6PrivacyExtensions, eth0.IPv6UseRedirect = "static:::1234", "no", &yes
	unit := file(t, n, "edge-a", NetworkdDir+"/50-tether-eth0.network")
	network, acceptRA, ok := strings.Cut(unit, "\n[IPv6AcceptRA]\n")
	if !ok {
		t.Fatalf("no [IPv6AcceptRA] section:\n%s", unit)
	}
	mustContain(t, "[Network]", network, "\nIPv6AcceptRA=yes\n", "\nIPv6PrivacyExtensions=no\n")
	mustContain(t, "[IPv6AcceptRA]", acceptRA, "Token=static:::1234\n", "UseRedirect=yes\n")

	// Without accept_ra the RA settings do nothing: the render says so.
	eth0.AcceptRA, eth0.IPv6Token = false, ""
	c, err := Render(n, "edge-a", Options{})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(strings.Join(c.Warnings, "\n"), "interface eth0: ipv6_use_redirect has no effect without accept_ra") {
		t.Errorf("no warning for ipv6_use_redirect without accept_ra: %q", c.Warnings)
	}
}
