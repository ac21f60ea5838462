package policy

import (
	"net/netip"
	"testing"
	"time"
)

func TestEndpoint(t *testing.T) {
	for _, tc := range []struct {
		in, host string
		port     uint16
		bad      bool
	}{
		{in: "203.0.113.10:51820", host: "203.0.113.10", port: 51820},
		{in: "[2001:db8::1]:51820", host: "2001:db8::1", port: 51820},
		{in: "relay.example.net:51821", host: "relay.example.net", port: 51821},
		{in: "2001:db8::1:51820", bad: true},
		{in: "relay.example.net", bad: true},
		{in: "relay.example.net:99999", bad: true},
		{in: "bad_host!:51820", bad: true},
		{in: "[10.0.0.1]:51820", bad: true},
	} {
		var e Endpoint
		if err := e.UnmarshalText([]byte(tc.in)); err != nil {
			t.Fatal(err)
		}
		if tc.bad {
			if e.parseErr() == nil {
				t.Errorf("%q: want an error", tc.in)
			}
			continue
		}
		if e.parseErr() != nil || e.Host != tc.host || e.Port != tc.port {
			t.Errorf("%q: got %q %d %v", tc.in, e.Host, e.Port, e.parseErr())
		}
		if e.String() != tc.in {
			t.Errorf("%q: String() = %q", tc.in, e.String())
		}
	}
}

func TestPrefixMatch(t *testing.T) {
	for _, tc := range []struct {
		in       string
		min, max int
		accepts  []string
		rejects  []string
		bad      bool
	}{
		{in: "2001:db8:100::/48", min: 48, max: 48, accepts: []string{"2001:db8:100::/48"}, rejects: []string{"2001:db8:100::/64", "::/0"}},
		{in: "2001:db8::/32+", min: 32, max: 128, accepts: []string{"2001:db8:1::/48", "2001:db8::/32"}, rejects: []string{"2001:db9::/48", "::/0"}},
		{in: "2001:db8::/32{48,64}", min: 48, max: 64, accepts: []string{"2001:db8:5::/48"}, rejects: []string{"2001:db8::/32", "2001:db8::1/128"}},
		{in: "::/0", min: 0, max: 0, accepts: []string{"::/0"}, rejects: []string{"2001:db8::/32"}},
		{in: "2001:db8::/32{16,64}", bad: true},
		{in: "2001:db8::/32{64,48}", bad: true},
		{in: "2001:db8::1/32", bad: true},
		{in: "2001:db8::/32 || true", bad: true},
	} {
		var m PrefixMatch
		_ = m.UnmarshalText([]byte(tc.in))
		if tc.bad {
			if m.parseErr() == nil {
				t.Errorf("%q: want an error", tc.in)
			}
			continue
		}
		if m.parseErr() != nil || m.Min != tc.min || m.Max != tc.max {
			t.Fatalf("%q: got %d-%d %v", tc.in, m.Min, m.Max, m.parseErr())
		}
		if m.String() != tc.in {
			t.Errorf("%q: String() = %q", tc.in, m.String())
		}
		for _, a := range tc.accepts {
			if !m.Contains(netip.MustParsePrefix(a)) {
				t.Errorf("%q should accept %s", tc.in, a)
			}
		}
		for _, r := range tc.rejects {
			if m.Contains(netip.MustParsePrefix(r)) {
				t.Errorf("%q should reject %s", tc.in, r)
			}
		}
	}
}

func TestDurationForms(t *testing.T) {
	var d Duration
	if err := d.UnmarshalTOML(int64(25)); err != nil || d.Duration != 25*time.Second || !d.IsSet() {
		t.Fatalf("integer seconds: %v %v", d, err)
	}
	_ = d.UnmarshalText([]byte("3m"))
	if d.Duration != 3*time.Minute {
		t.Fatalf("3m: %v", d)
	}
	_ = d.UnmarshalText([]byte("soon"))
	if d.parseErr() == nil {
		t.Fatal("want error for 'soon'")
	}
	var zero Duration
	_ = zero.UnmarshalTOML(int64(0))
	if !zero.IsSet() || zero.Duration != 0 {
		t.Fatal("keepalive = 0 must be set and zero (off)")
	}
}

func TestKey(t *testing.T) {
	var k Key
	_ = k.UnmarshalText([]byte("sz6JvcsuN/cltmybD13kzwh4lfBUcvCwUW+KkUg2Al4="))
	if k.parseErr() != nil || k.IsZero() || k.String() != "sz6JvcsuN/cltmybD13kzwh4lfBUcvCwUW+KkUg2Al4=" {
		t.Fatalf("valid key: %v", k.parseErr())
	}
	_ = k.UnmarshalText([]byte("c3o2SnZjc3VOL2NsdG15YkQxM2t6d2g0bGZCVWN2Q3dVVw=="))
	if k.parseErr() == nil {
		t.Fatal("a 33-byte key must be rejected")
	}
}

func TestPositionsScanner(t *testing.T) {
	src := `name = "x"  # comment
[defaults]
mtu = 1420
[[wireguard]]
name = "wg0"
addresses = [
  "fd00::1/64",
  # between
  "10.0.0.1/24",
]
[[wireguard]]
name = "wg1"
comment = """
multi [line] = "x"
"""
public_key = "k"
[[raw.routeros]]
path = "/ip/dns"
[raw.routeros.attributes]
servers = "1.1.1.1"
`
	ps := scanPositions(src)
	for path, want := range map[string]pos{
		"name":                               {1, 1},
		"defaults.mtu":                       {3, 1},
		"wireguard[0].name":                  {5, 1},
		"wireguard[0].addresses[0]":          {7, 3},
		"wireguard[0].addresses[1]":          {9, 3},
		"wireguard[1].name":                  {12, 1},
		"wireguard[1].public_key":            {16, 1},
		"raw.routeros[0].attributes.servers": {20, 1},
	} {
		got, ok := ps.at[path]
		if !ok || got != want {
			t.Errorf("%s: got %v (found %v), want %v", path, got, ok, want)
		}
	}
	if _, ok := ps.at["multi [line]"]; ok {
		t.Error("keys inside multi-line strings must be ignored")
	}
}

func TestSuggestion(t *testing.T) {
	if got := closest("listen_prot", []string{"listen_port", "mtu", "name"}); got != "listen_port" {
		t.Fatalf("got %q", got)
	}
	if got := closest("zzzzzz", []string{"listen_port", "mtu", "name"}); got != "" {
		t.Fatalf("got %q, want no suggestion", got)
	}
}

func TestBadPrefixMatchMatchesNothing(t *testing.T) {
	for _, in := range []string{"10.0.0.0/8{8,32}) || true", "10.0.0.0/8{4,8}"} {
		var m PrefixMatch
		_ = m.UnmarshalText([]byte(in))
		if m.parseErr() == nil || m.Prefix.IsValid() || m.Contains(netip.MustParsePrefix("10.1.0.0/16")) {
			t.Errorf("%q: a rejected match must hold nothing: %+v", in, m)
		}
	}
}

func TestRuleFamilyFromNATTarget(t *testing.T) {
	r := &FirewallRule{Table: "nat", Chain: "dstnat", Action: "dst-nat", ToAddresses: "192.168.88.10"}
	if got := ruleFamily(r); got != "ip" {
		t.Fatalf("a dst-nat to an IPv4 address is an ip rule, got %q", got)
	}
}
