//go:build unix

package lab

import (
	"context"
	"errors"
	"net/netip"
	"strings"
	"testing"
	"time"
)

// These tests need neither root nor any tool.

func TestParseWGDump(t *testing.T) {
	dump := "cHJpdmF0ZQ==\tUFVCQQ==\t51820\toff\n" +
		"UFVCQg==\t(none)\t192.0.2.2:51820\tfd00::2/128,10.9.0.0/24\t1700000000\t1234\t5678\t25\n" +
		"UFVCQw==\tcHNr\t(none)\t(none)\t0\t0\t0\toff\n"
	w, err := ParseWGDump("wg0", []byte(dump))
	if err != nil {
		t.Fatal(err)
	}
	if w.Name != "wg0" || w.PublicKey != "UFVCQQ==" || w.ListenPort != 51820 || w.FwMark != 0 {
		t.Errorf("interface = %+v", w)
	}
	if len(w.Peers) != 2 {
		t.Fatalf("peers = %d, want 2", len(w.Peers))
	}
	b, ok := w.Peer("UFVCQg==")
	if !ok {
		t.Fatal("peer B missing")
	}
	want := []netip.Prefix{netip.MustParsePrefix("fd00::2/128"), netip.MustParsePrefix("10.9.0.0/24")}
	if b.HasPresharedKey || b.Endpoint != "192.0.2.2:51820" || len(b.AllowedIPs) != 2 ||
		b.AllowedIPs[0] != want[0] || b.AllowedIPs[1] != want[1] ||
		!b.LatestHandshake.Equal(time.Unix(1700000000, 0)) || b.RxBytes != 1234 || b.TxBytes != 5678 ||
		b.PersistentKeepalive != 25*time.Second {
		t.Errorf("peer B = %+v", b)
	}
	c, _ := w.Peer("UFVCQw==")
	if !c.HasPresharedKey || c.Endpoint != "" || c.AllowedIPs != nil || !c.LatestHandshake.IsZero() || c.PersistentKeepalive != 0 {
		t.Errorf("peer C = %+v", c)
	}

	w, err = ParseWGDump("wg1", []byte("a\tb\t0\t0x2a\n"))
	if err != nil || w.FwMark != 42 || len(w.Peers) != 0 {
		t.Errorf("fwmark dump: %+v, %v", w, err)
	}
	for _, bad := range []string{"", "a\tb\t1\n", "a\tb\t1\toff\nx\ty\n", "a\tb\tport\toff\n"} {
		if _, err := ParseWGDump("wg0", []byte(bad)); err == nil {
			t.Errorf("ParseWGDump(%q): no error", bad)
		}
	}
}

func TestSpecNormalize(t *testing.T) {
	s, err := Star("inet", "relay", "edge-a").normalize()
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Links[1].A.Iface; got != "eth-edge-a" {
		t.Errorf("router iface = %q", got)
	}
	if got := s.Links[1].B.Addrs; got[0] != "198.51.100.6/30" || got[1] != "2001:db8:2::2/64" {
		t.Errorf("edge-a addrs = %v", got)
	}

	// Defaults are filled in on a copy.
	in := Spec{
		Hosts:    []HostSpec{{Name: "a"}, {Name: "b"}},
		Links:    []Link{{A: Endpoint{Host: "a"}, B: Endpoint{Host: "b"}}},
		Segments: []Segment{{Name: "lan", Members: []Endpoint{{Host: "a"}, {Host: "b"}}}},
	}
	out, err := in.normalize()
	if err != nil {
		t.Fatal(err)
	}
	if out.Links[0].A.Iface != "eth-b" || out.Segments[0].Members[1].Iface != "seg-lan" {
		t.Errorf("defaults: %+v", out)
	}
	if in.Links[0].A.Iface != "" || in.Segments[0].Members[0].Iface != "" {
		t.Error("normalize modified its input")
	}

	bad := map[string]Spec{
		"no hosts":       {},
		"bad name":       {Hosts: []HostSpec{{Name: "Edge"}}},
		"reserved":       {Hosts: []HostSpec{{Name: "sw-1"}}},
		"dup host":       {Hosts: []HostSpec{{Name: "a"}, {Name: "a"}}},
		"unknown host":   {Hosts: []HostSpec{{Name: "a"}}, Links: []Link{{A: Endpoint{Host: "a"}, B: Endpoint{Host: "z"}}}},
		"self link":      {Hosts: []HostSpec{{Name: "a"}}, Links: []Link{{A: Endpoint{Host: "a", Iface: "x"}, B: Endpoint{Host: "a", Iface: "y"}}}},
		"long iface":     {Hosts: []HostSpec{{Name: "a"}, {Name: "b"}}, Links: []Link{{A: Endpoint{Host: "a", Iface: "abcdefghijklmnop"}, B: Endpoint{Host: "b"}}}},
		"dup iface":      {Hosts: []HostSpec{{Name: "a"}, {Name: "b"}}, Links: []Link{{A: Endpoint{Host: "a"}, B: Endpoint{Host: "b"}}, {A: Endpoint{Host: "a"}, B: Endpoint{Host: "b", Iface: "x"}}}},
		"real address":   {Hosts: []HostSpec{{Name: "a"}, {Name: "b"}}, Links: []Link{{A: Endpoint{Host: "a", Addrs: []string{"10.0.0.1/24"}}, B: Endpoint{Host: "b"}}}},
		"wide prefix":    {Hosts: []HostSpec{{Name: "a"}, {Name: "b"}}, Links: []Link{{A: Endpoint{Host: "a", Addrs: []string{"2001:db8::1/16"}}, B: Endpoint{Host: "b"}}}},
		"bad route":      {Hosts: []HostSpec{{Name: "a", Routes: []Route{{Dst: "default", Via: "nope"}}}}},
		"mixed route":    {Hosts: []HostSpec{{Name: "a", Routes: []Route{{Dst: "192.0.2.0/24", Via: "2001:db8::1"}}}}},
		"long segment":   {Hosts: []HostSpec{{Name: "a"}}, Segments: []Segment{{Name: "abcdefghijkl"}}},
		"dup segment":    {Hosts: []HostSpec{{Name: "a"}}, Segments: []Segment{{Name: "s"}, {Name: "s"}}},
		"segment member": {Hosts: []HostSpec{{Name: "a"}}, Segments: []Segment{{Name: "s", Members: []Endpoint{{Host: "b"}}}}},
	}
	for name, s := range bad {
		if _, err := s.normalize(); err == nil {
			t.Errorf("%s: no error", name)
		}
	}
}

func TestParseTag(t *testing.T) {
	for in, want := range map[string]string{
		"tetherlab-42-a1b2c3-edge-a":   "tetherlab-42-a1b2c3",
		"tetherlab-42-a1b2c3-sw-lan":   "tetherlab-42-a1b2c3",
		"tetherlab-42-a1b2c3":          "tetherlab-42-a1b2c3",
		"tetherlab-42-A1B2C3-x":        "",
		"tetherlab-x-a1b2c3-x":         "",
		"tetherlab-42-a1b2-x":          "",
		"other-42-a1b2c3":              "",
		"tetherlab-0-a1b2c3":           "",
		"tetherlab-42-a1b2c3.out-1234": "",
	} {
		tag, _, ok := parseTag(in)
		if (want == "") == ok || tag != want {
			t.Errorf("parseTag(%q) = %q, %v; want %q", in, tag, ok, want)
		}
	}
}

func TestWaitFor(t *testing.T) {
	n := 0
	if err := WaitFor(context.Background(), func() (bool, error) { n++; return n == 3, nil }); err != nil || n != 3 {
		t.Errorf("WaitFor: %v after %d calls", err, n)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := WaitFor(ctx, func() (bool, error) { return false, nil })
	if !errors.Is(err, context.DeadlineExceeded) || time.Since(start) > 2*time.Second {
		t.Errorf("WaitFor timeout: %v after %v", err, time.Since(start))
	}
	boom := errors.New("boom")
	if err := WaitFor(context.Background(), func() (bool, error) { return false, boom }); !errors.Is(err, boom) {
		t.Errorf("WaitFor error: %v", err)
	}
	if err := Available(); err != nil && !strings.Contains(err.Error(), "lab unavailable") {
		t.Errorf("Available error lacks context: %v", err)
	}
}
