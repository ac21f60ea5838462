package rossim

import (
	"bufio"
	"bytes"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestWordLengthForms(t *testing.T) {
	cases := []struct {
		n      int
		prefix []byte
	}{
		{0x7f, []byte{0x7f}},
		{0x80, []byte{0x80, 0x80}},
		{0x3fff, []byte{0xbf, 0xff}},
		{0x4000, []byte{0xc0, 0x40, 0x00}},
		{0x1fffff, []byte{0xdf, 0xff, 0xff}},
		{0x200000, []byte{0xe0, 0x20, 0x00, 0x00}},
		{0x10000000, []byte{0xf0, 0x10, 0x00, 0x00, 0x00}},
	}
	for _, c := range cases {
		if got := appendLength(nil, c.n); !bytes.Equal(got, c.prefix) {
			t.Errorf("len %#x: prefix % x, want % x", c.n, got, c.prefix)
		}
		if c.n > 1<<22 {
			continue // too big to round-trip in a unit test
		}
		w := strings.Repeat("x", c.n)
		got, err := ReadWord(bufio.NewReader(bytes.NewReader(AppendWord(nil, w))))
		if err != nil || got != w {
			t.Errorf("len %#x: round trip failed: %v", c.n, err)
		}
	}
	// The reader decodes the 0xF0 form for any length.
	got, err := ReadWord(bufio.NewReader(bytes.NewReader([]byte{0xF0, 0, 0, 0, 3, 'a', 'b', 'c'})))
	if err != nil || got != "abc" {
		t.Errorf("0xF0 form: %q %v", got, err)
	}
}

// TestRawConnFraming talks to the server with hand-made bytes, sending one
// word in each of the five length forms.
func TestRawConnFraming(t *testing.T) {
	s, _ := newSim(t, Config{})
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	r := bufio.NewReader(nc)
	send := func(words ...string) []string {
		t.Helper()
		if _, err := nc.Write(AppendSentence(nil, words...)); err != nil {
			t.Fatal(err)
		}
		var all []string
		for {
			sen, err := ReadSentence(r)
			if err != nil {
				t.Fatal(err)
			}
			all = append(all, strings.Join(sen, " "))
			if sen[0] == "!done" || sen[0] == "!fatal" {
				return all
			}
		}
	}
	if got := send("/login", "=name=admin", "=password="); got[0] != "!done" {
		t.Fatalf("login: %v", got)
	}
	for i, n := range []int{10, 0x100, 0x5000, 0x210000} {
		comment := strings.Repeat("c", n)
		// A list holds an address once, so each round adds another.
		got := send("/ip/firewall/address-list/add", "=list=big", fmt.Sprintf("=address=10.9.9.%d", i+1), "=comment="+comment)
		if !strings.HasPrefix(got[0], "!done =ret=*") {
			t.Fatalf("add with %d-byte comment: %v", n, got[0][:min(60, len(got[0]))])
		}
		id := strings.TrimPrefix(got[0], "!done =ret=")
		got = send("/ip/firewall/address-list/print", "?.id="+id, "=.proplist=comment")
		if got[0] != "!re =comment="+comment {
			t.Fatalf("print back %d bytes: mismatch", n)
		}
	}
	// The fifth form (0xF0 + 4 bytes) with a small length is legal too.
	word := "/system/identity/print"
	raw := append([]byte{0xF0, 0, 0, 0, byte(len(word))}, word...)
	raw = append(raw, 0)
	nc.Write(raw)
	sen, err := ReadSentence(r)
	if err != nil || sen[0] != "!re" || !slices.Contains(sen, "=name=MikroTik") {
		t.Fatalf("0xF0 form: %v %v", sen, err)
	}
	ReadSentence(r) // !done
	// Tags are echoed on every reply word sequence.
	got := send("/ip/address/print", ".tag=abc", "=.proplist=address")
	for _, l := range got {
		if !strings.HasSuffix(l, ".tag=abc") {
			t.Errorf("reply %q lacks tag", l)
		}
	}
	if got := send("/quit"); !strings.HasPrefix(got[0], "!fatal") {
		t.Errorf("/quit: %v", got)
	}
}

func TestNotLoggedInIsFatal(t *testing.T) {
	s, _ := newSim(t, Config{})
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	nc.Write(AppendSentence(nil, "/ip/address/print"))
	r := bufio.NewReader(nc)
	sen, err := ReadSentence(r)
	if err != nil || sen[0] != "!fatal" || sen[1] != "not logged in" {
		t.Fatalf("got %v %v", sen, err)
	}
	if _, err := ReadSentence(r); err == nil {
		t.Fatal("connection still open after !fatal")
	}
}
