package rosschema

import (
	"slices"
	"testing"
)

func TestVersionsLoad(t *testing.T) {
	for _, v := range Versions() {
		tr, err := Load(v)
		if err != nil {
			t.Fatalf("Load(%s): %v", v, err)
		}
		if tr.Version() != v {
			t.Errorf("Version() = %q, want %q", tr.Version(), v)
		}
		for _, m := range []string{
			"/interface", "/interface/wireguard", "/interface/wireguard/peers",
			"/interface/list", "/interface/list/member", "/ip/address", "/ipv6/address",
			"/ip/route", "/ipv6/route", "/routing/filter/rule", "/routing/bgp/connection",
			"/routing/bgp/session", "/ip/firewall/filter", "/ipv6/firewall/filter",
			"/ipv6/firewall/address-list", "/ipv6/nd", "/ipv6/nd/prefix", "/ip/dns",
			"/ipv6/settings", "/system/script", "/system/scheduler", "/system/identity",
		} {
			if !tr.HasMenu(m) {
				t.Errorf("%s: menu %s missing", v, m)
			}
		}
		if !tr.HasCommand("/tool", "ping") || !tr.HasArg("/tool", "ping", "count") {
			t.Errorf("%s: /tool/ping missing", v)
		}
	}
	if _, err := Load("6.49"); err == nil {
		t.Error("Load(6.49) succeeded, want error")
	}
}

// TestRootPing pins a data fact worth knowing: the 7.24 inspect no longer
// lists the root /ping alias, while /tool/ping exists everywhere.
func TestRootPing(t *testing.T) {
	for v, want := range map[string]bool{"7.18": true, "7.20.8": true, "7.22.3": true, "7.24": false} {
		if got := MustLoad(v).HasCommand("/", "ping"); got != want {
			t.Errorf("%s: HasCommand(/, ping) = %v, want %v", v, got, want)
		}
	}
}

func TestBGPInstanceVersions(t *testing.T) {
	cases := []struct {
		version      string
		instanceMenu bool
		instanceArg  bool
		addPathOut   bool
	}{
		{"7.18", false, false, true},
		{"7.20.8", true, true, true},
		{"7.22.3", true, true, false},
		{"7.24", true, true, false},
	}
	for _, c := range cases {
		tr := MustLoad(c.version)
		if got := tr.HasMenu("/routing/bgp/instance"); got != c.instanceMenu {
			t.Errorf("%s: HasMenu(/routing/bgp/instance) = %v, want %v", c.version, got, c.instanceMenu)
		}
		if got := tr.HasArg("/routing/bgp/connection", "add", "instance"); got != c.instanceArg {
			t.Errorf("%s: connection add instance = %v, want %v", c.version, got, c.instanceArg)
		}
		if got := tr.HasArg("/routing/bgp/connection", "add", "add-path-out"); got != c.addPathOut {
			t.Errorf("%s: connection add add-path-out = %v, want %v", c.version, got, c.addPathOut)
		}
	}
}

func TestProtocolWords(t *testing.T) {
	tr := MustLoad("7.22.3")
	cases := []struct {
		path, cmd, arg string
		want           bool
	}{
		{"/ip/firewall/filter", "set", ".id", true},
		{"/ip/firewall/filter", "remove", ".id", true},
		{"/ip/firewall/filter", "add", ".id", false},
		{"/ip/firewall/filter", "print", ".proplist", true},
		{"/ip/firewall/filter", "print", ".tag", true},
		{"/ip/firewall/filter", "add", ".tag", true},
		{"/ip/firewall/filter", "add", "place-before", true},
		{"/ip/address", "add", "place-before", false},
		{"/ip/firewall/filter", "set", "numbers", true},
		{"/ip/firewall/filter", "add", "no-such-thing", false},
		{"/ip firewall filter", "add", "chain", true},
		{"ip/firewall/filter", "move", "destination", true},
		{"/ip/firewall/nope", "add", "chain", false},
	}
	for _, c := range cases {
		if got := tr.HasArg(c.path, c.cmd, c.arg); got != c.want {
			t.Errorf("HasArg(%q, %q, %q) = %v, want %v", c.path, c.cmd, c.arg, got, c.want)
		}
	}
}

func TestArgsCommandsMenus(t *testing.T) {
	tr := MustLoad("7.20.8")
	args := tr.Args("/interface/wireguard/peers", "add")
	for _, want := range []string{"public-key", "endpoint-address", "endpoint-port", "allowed-address", "persistent-keepalive", "interface", "comment"} {
		if !slices.Contains(args, want) {
			t.Errorf("peers add args lack %q: %v", want, args)
		}
	}
	if !slices.IsSorted(args) {
		t.Error("Args not sorted")
	}
	if tr.Args("/nope", "add") != nil {
		t.Error("Args of unknown menu not nil")
	}
	cmds := tr.Commands("/ip/dns")
	if !slices.Contains(cmds, "set") || slices.Contains(cmds, "add") {
		t.Errorf("/ip/dns commands = %v", cmds)
	}
	menus := tr.Menus()
	if !slices.Contains(menus, "/routing/bgp/instance") || !slices.Contains(menus, "/system/scheduler") {
		t.Errorf("Menus() = %v", menus)
	}
	if slices.Contains(MustLoad("7.18").Menus(), "/routing/bgp/instance") {
		t.Error("7.18 Menus() has /routing/bgp/instance")
	}
}

func TestDeepInspectFields(t *testing.T) {
	tr := MustLoad("7.22.3")
	fields := tr.Fields("/interface/wireguard/peers")
	for _, want := range []string{"last-handshake", "rx", "tx", "current-endpoint-address", "current-endpoint-port"} {
		if !slices.Contains(fields, want) {
			t.Errorf("peer fields lack %q", want)
		}
	}
	bgp := tr.Fields("/routing/bgp/session")
	for _, want := range []string{"established", "remote.address", "remote.as", "local.address", "uptime", "prefix-count"} {
		if !slices.Contains(bgp, want) {
			t.Errorf("session fields lack %q", want)
		}
	}
	if e := tr.Enum("/ip/firewall/filter", "add", "action"); !slices.Contains(e, "accept") || !slices.Contains(e, "drop") {
		t.Errorf("filter action enum = %v", e)
	}
	if MustLoad("7.18").Fields("/interface/wireguard/peers") != nil {
		t.Error("7.18 has fields but no deep inspect")
	}
}
