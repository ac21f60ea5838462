package mikrotik

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"slices"
	"strings"
	"testing"
	"time"
)

// replay serves a doctor --capture transcript as a router: each sentence a
// client sends is matched to the first unused identical one in the capture
// (the login's redacted password and .tag words aside) and answered with
// the replies that followed it there. It lets a transcript from real
// hardware, attached to a bug report, drive the agent's read path in a
// test.
type replay struct {
	t         *testing.T
	sentences []captured
	used      []bool
}

func newReplay(t *testing.T, capture []byte) *replay {
	t.Helper()
	r := &replay{t: t}
	sc := bufio.NewScanner(bytes.NewReader(capture))
	sc.Buffer(nil, 1<<24)
	for sc.Scan() {
		var s captured
		if err := json.Unmarshal(sc.Bytes(), &s); err != nil {
			t.Fatalf("capture: %v", err)
		}
		r.sentences = append(r.sentences, s)
	}
	r.used = make([]bool, len(r.sentences))
	return r
}

func (r *replay) serve(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.conn(c)
		}
	}()
	return ln.Addr().String()
}

func comparable(words []string) []string {
	var out []string
	for _, w := range words {
		if strings.HasPrefix(w, ".tag=") {
			continue
		}
		if strings.HasPrefix(w, "=password=") {
			w = "=password=" + redacted
		}
		out = append(out, w)
	}
	return out
}

func (r *replay) conn(c net.Conn) {
	defer c.Close()
	dec := &wordDecoder{}
	buf := make([]byte, 4096)
	var in [][]string
	for {
		n, err := c.Read(buf)
		dec.feed(buf[:n], func(_ string, words []string) { in = append(in, words) })
		for _, words := range in {
			if !r.answer(c, words) {
				return
			}
		}
		in = nil
		if err != nil {
			return
		}
	}
}

// answer writes the captured replies to one sentence; false when the
// capture has none (the client then sees the connection close).
func (r *replay) answer(w io.Writer, words []string) bool {
	var tag string
	for _, x := range words {
		if v, ok := strings.CutPrefix(x, ".tag="); ok {
			tag = v
		}
	}
	want := comparable(words)
	for i, s := range r.sentences {
		if r.used[i] || s.Dir != "send" || !slices.Equal(comparable(s.Words), want) {
			continue
		}
		r.used[i] = true
		for _, reply := range r.sentences[i+1:] {
			if reply.Dir != "recv" {
				break
			}
			out := reply.Words
			if tag != "" {
				out = append(slices.Clone(out), ".tag="+tag)
			}
			writeSentence(w, out)
			if reply.Words[0] == "!done" || reply.Words[0] == "!fatal" {
				break
			}
		}
		return true
	}
	r.t.Logf("replay: no captured sentence %v", want)
	return false
}

func writeSentence(w io.Writer, words []string) {
	var b bytes.Buffer
	for _, x := range append(words, "") {
		n := len(x)
		switch {
		case n < 0x80:
			b.WriteByte(byte(n))
		case n < 0x4000:
			b.Write([]byte{byte(n>>8) | 0x80, byte(n)})
		case n < 0x200000:
			b.Write([]byte{byte(n>>16) | 0xC0, byte(n >> 8), byte(n)})
		default:
			b.Write([]byte{byte(n>>24) | 0xE0, byte(n >> 16), byte(n >> 8), byte(n)})
		}
		b.WriteString(x)
	}
	_, _ = w.Write(b.Bytes())
}

// TestCaptureReplays: a doctor capture holds every sentence of the
// read-only checks with its replies, so replaying it alone (no router)
// gives the same verdicts for login, version, policies, clock, look-alikes
// and owned items — what a maintainer needs to reproduce a report.
func TestCaptureReplays(t *testing.T) {
	sim, addr, fp := tlsSim(t, "7.20.8")
	leastPrivilege(t, sim, "api,read,write")
	sim.Exec("/ip/route/add", "=dst-address=10.77.0.0/16", "=blackhole=", "=comment=tether: gone")
	n := defconfSite(t, "7.20.8")
	var buf bytes.Buffer
	capture := NewCapture(&buf)
	now := time.Now()
	conn := Conn{Address: addr, Username: "tether", Password: "s3cret-for-test", TLS: true, Fingerprint: fp, Timeout: 5 * time.Second}
	live := Doctor(context.Background(), conn, n, "home", DoctorOptions{Capture: capture, Now: func() time.Time { return now }})

	replayAddr := newReplay(t, buf.Bytes()).serve(t)
	conn = Conn{Address: replayAddr, Username: "tether", Password: "another password", Timeout: 5 * time.Second, Retries: 1}
	replayed := Doctor(context.Background(), conn, n, "home", DoctorOptions{Now: func() time.Time { return now }})
	for _, name := range []string{"login", "version", "policies", "clock", "look-alikes", "owned items"} {
		a, b := find(live, name), find(replayed, name)
		if a == nil || b == nil || a.OK != b.OK || a.Detail != b.Detail {
			t.Errorf("%s: live %+v, replayed %+v", name, a, b)
		}
	}
	if c := find(live, "policies"); c == nil || c.OK {
		t.Fatalf("the capture should carry a failing check too: %+v", c)
	}
}
