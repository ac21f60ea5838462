package linux

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/tether-net/tether/policy"
)

// The faithfulness tests hold the renderer to what the seed write-ups
// learned the hard way, on fixtures that follow the write-ups.

func fixtureNet(t *testing.T, name string) *policy.Network {
	t.Helper()
	return load(t, example{name: name, fsys: os.DirFS("testdata/networks"), dir: name})
}

func file(t *testing.T, n *policy.Network, site, path string) string {
	t.Helper()
	cfg, err := Render(n, site, Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range cfg.Files {
		if f.Path == path {
			return string(f.Content)
		}
	}
	t.Fatalf("%s renders no %s", site, path)
	return ""
}

func mustContain(t *testing.T, what, text string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(text, w) {
			t.Errorf("%s: missing %q in\n%s", what, w, text)
		}
	}
}

// Seed 001: the Vultr relay answers NDP for the reserved /64 on the NIC,
// keeps accepting RAs there, and routes the /64 into wg0 through AllowedIPs
// — no PostUp route, which made wg-quick abort. The rule is static, where
// the write-up concludes auto: the example deviates on purpose (auto
// solicits through WireGuard and never hears back, TL018; its README and
// the e2e test hold the evidence), and this fixture follows the example.
func TestFaithfulVultrRelay(t *testing.T) {
	n := fixtureNet(t, "vultr-relay")
	nd := file(t, n, "vps", NdppdPath)
	mustContain(t, "ndppd", nd, "proxy enp1s0 {\n\trule 2001:db8:1:1::/64 {\n\t\tstatic\n\t}\n}")
	if strings.Contains(nd, "auto") {
		t.Error("ndppd uses auto, which the example replaced with static")
	}
	sc := file(t, n, "vps", SysctlPath)
	mustContain(t, "sysctl", sc, "net.ipv6.conf.enp1s0.accept_ra = 2\n", "net.ipv6.conf.enp1s0.proxy_ndp = 1\n", "net.ipv6.conf.all.forwarding = 1\n")
	wg := file(t, n, "vps", "/etc/wireguard/wg0.conf")
	mustContain(t, "wg0", wg, "AllowedIPs = fd99:9999:9999::2/128, 2001:db8:1:1::/64\n", "PersistentKeepalive = 25\n")
	for _, l := range strings.Split(wg, "\n") {
		if strings.HasPrefix(l, "PostUp") && strings.Contains(l, "route") || strings.HasPrefix(l, "PreUp") || strings.HasPrefix(l, "PostDown") {
			t.Errorf("wg0 has %q: routes come from AllowedIPs and sysctls from sysctl.d", l)
		}
	}
	if strings.Contains(wg, "Table = off") {
		t.Error("wg0 must let wg-quick install the AllowedIPs route")
	}
}

// Seed 003: edge routers advertise their /64 plus a route for the /48 from
// the VRRP link-local VIP, never as a default router; keepalived holds the
// VIP without preemption.
func TestFaithfulULAEdge(t *testing.T) {
	n := fixtureNet(t, "ula-mesh")
	for _, s := range []string{"a", "b"} {
		ra := file(t, n, "edge-"+s, RadvdPath)
		mustContain(t, "radvd edge-"+s, ra,
			"interface eth1 {\n\tAdvSendAdvert on;",
			"AdvDefaultLifetime 0;",
			"AdvRASrcAddress {\n\t\tfe80::"+s+":1;\n\t};",
			"prefix fd10:0:0:"+s+"::/64 {\n\t\tAdvOnLink on;\n\t\tAdvAutonomous on;\n\t\tAdvRouterAddr on;\n\t};",
			"route fd10::/48 {\n\t\tAdvRoutePreference high;\n\t};",
			"MinRtrAdvInterval 10;", "MaxRtrAdvInterval 30;", "AdvReachableTime 600000;")
		ka := file(t, n, "edge-"+s, KeepalivedPath)
		mustContain(t, "keepalived edge-"+s, ka, "\tnopreempt\n", "virtual_ipaddress {\n\t\tfe80::"+s+":1/128\n\t}", "garp_master_delay 1", "interface eth1")
		if strings.Contains(ka, "nopreemt") {
			t.Error("the seed's misspelling nopreemt leaked into the output")
		}
		wg := file(t, n, "edge-"+s, "/etc/wireguard/wgvpnr01.conf")
		mustContain(t, "edge wg", wg, "Endpoint = relay.example.net:51820\n", "PersistentKeepalive = 25\n", "AllowedIPs = fd00:ffff::1/128, fd10::/48\n")
	}
}

// Seed 003: the relay forwards only between WireGuard peers, only to the
// /48, only on the mesh port range (plus ICMPv6 and return traffic).
func TestFaithfulULARelayForward(t *testing.T) {
	n := fixtureNet(t, "ula-mesh")
	nft := file(t, n, "relay", DefaultNftPath)
	i := strings.Index(nft, "chain forward {")
	if i < 0 {
		t.Fatal("no forward chain")
	}
	fwd := nft[i : i+strings.Index(nft[i:], "\n\t}")]
	mustContain(t, "forward", fwd, "policy drop;", `iifname "wgvpnr01" oifname "wgvpnr01" ip6 daddr fd10::/48 udp dport 58000-60000 accept`)
	for _, l := range strings.Split(fwd, "\n")[2:] {
		l = strings.TrimSpace(l)
		if !strings.Contains(l, " accept") || strings.HasPrefix(l, "ct state established,related") {
			continue
		}
		if !strings.HasPrefix(l, `iifname "wgvpnr01" oifname "wgvpnr01" ip6 daddr fd10::/48 `) {
			t.Errorf("forward accepts more than wg↔wg to the /48: %s", l)
		}
	}
}

// Seed 000 on a Linux relay: BIRD imports only the declared prefixes, and
// the default route it originates never reaches the kernel.
func TestFaithfulBIRDImports(t *testing.T) {
	n := fixtureNet(t, "bgp-relay")
	b := file(t, n, "vps", DefaultBirdPath)
	mustContain(t, "vps bird", b,
		"filter bgp_in_home {\n\tif net ~ [ 2001:db8:200::/48{48,64} ] then accept;\n\treject;\n}",
		"filter bgp_out_home {\n\tif net ~ [ ::/0 ] then accept;\n\treject;\n}",
		"import filter bgp_in_home;", "export filter bgp_out_home;",
		"local 2001:db8:200::1 as 64512;", "neighbor 2001:db8:200::2 as 64513;",
		"protocol static originate6 {\n\tipv6;\n\troute ::/0 blackhole;\n}")
	if regexp.MustCompile(`import (all|none)?;|import all`).MatchString(strings.ReplaceAll(b, "import none;", "")) {
		t.Error("a BGP channel imports everything")
	}
	k := b[strings.Index(b, "protocol kernel kernel6"):]
	k = k[:strings.Index(k, "\n}")]
	if strings.Contains(k, "originate") {
		t.Error("the kernel protocol exports the originated default")
	}
	h := file(t, n, "home", DefaultBirdPath)
	mustContain(t, "home bird", h, "filter bgp_in_vps {\n\tif net ~ [ ::/0 ] then accept;\n\treject;\n}", "route 2001:db8:200::/48 blackhole { krt_metric = 254; };")
	// BGP owns the routes: wg-quick must not install ::/0 itself.
	mustContain(t, "home wg", file(t, n, "home", "/etc/wireguard/wg-vps.conf"), "Table = off\n")
}

var b64Key = regexp.MustCompile(`[A-Za-z0-9+/]{43}=`)

// No rendered file of any example holds a private key: no PrivateKey line,
// and every key-shaped string is a public key of the model.
func TestNoPrivateKeyRendered(t *testing.T) {
	for _, ex := range examples(t) {
		n := load(t, ex)
		public := map[string]bool{}
		for _, s := range n.Sites {
			for _, w := range s.WireGuard {
				public[w.PublicKey.String()] = true
			}
		}
		for _, p := range n.Peers {
			public[p.PublicKey.String()] = true
		}
		for _, site := range linuxSites(n) {
			cfg, err := Render(n, site, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for _, f := range cfg.Files {
				if regexp.MustCompile(`(?im)^\s*PrivateKey`).Match(f.Content) {
					t.Errorf("%s/%s %s has a PrivateKey line", ex.name, site, f.Path)
				}
				for _, k := range b64Key.FindAll(f.Content, -1) {
					if !public[string(k)] {
						t.Errorf("%s/%s %s holds key-shaped %s that is no public key of the model", ex.name, site, f.Path, k)
					}
				}
				if strings.HasPrefix(f.Path, WireGuardDir) && f.Mode != 0o600 {
					t.Errorf("%s: mode %o, want 0600", f.Path, f.Mode)
				}
			}
		}
	}
}

// [management.ssh] becomes one sshd drop-in that sorts before the
// distribution's and cloud-init's (sshd keeps a keyword's first value), is
// activated by reloading ssh.service when it runs (open sessions survive a
// reload; tether never stops sshd), and
// turns off keyboard-interactive with passwords.
func TestSSHDDropIn(t *testing.T) {
	n := fixtureNet(t, "bgp-relay")
	cfg, err := Render(n, "vps", Options{})
	if err != nil {
		t.Fatal(err)
	}
	var f *File
	for i := range cfg.Files {
		if cfg.Files[i].Path == SSHDPath {
			f = &cfg.Files[i]
		}
	}
	if f == nil {
		t.Fatal("no sshd drop-in rendered")
	}
	if f.Activate != (Action{Kind: ActServiceConfig, Target: "ssh.service"}) || f.Mode != 0o644 {
		t.Errorf("activation %+v mode %o", f.Activate, f.Mode)
	}
	mustContain(t, "sshd", string(f.Content), "\nListenAddress 203.0.113.20\nListenAddress [2001:db8:200::1]:22\n",
		"\nPasswordAuthentication no\nKbdInteractiveAuthentication no\n", "\nPermitRootLogin prohibit-password\n",
		"\nMaxAuthTries 3\n", "\nAllowUsers ops backup@192.0.2.0/24\n")
	other, err := Render(n, "home", Options{})
	if err != nil {
		t.Fatal(err)
	}
	for _, g := range other.Files {
		if g.Path == SSHDPath {
			t.Error("a site without [management.ssh] got an sshd drop-in")
		}
	}
}
