package rossim

import (
	"bufio"
	"net"
	"testing"
	"time"

	"github.com/go-routeros/routeros/v3"
)

var t0 = time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)

// newSim starts a simulator on loopback with a manual clock.
func newSim(t *testing.T, cfg Config) (*Sim, *ManualClock) {
	t.Helper()
	clk := NewManualClock(t0)
	cfg.Clock = clk
	if cfg.Logf == nil {
		cfg.Logf = t.Logf
	}
	s, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, clk
}

// dial connects the real go-routeros v3 client the way tether does: its own
// net.Conn, then NewClient and Login.
func dial(t *testing.T, s *Sim, user, pass string) (*routeros.Client, error) {
	t.Helper()
	nc, err := net.DialTimeout("tcp", s.Addr(), 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(10 * time.Second))
	c, err := routeros.NewClient(nc)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c, c.Login(user, pass)
}

func client(t *testing.T, s *Sim) *routeros.Client {
	t.Helper()
	c, err := dial(t, s, "admin", "")
	if err != nil {
		t.Fatalf("login: %v", err)
	}
	return c
}

func run(t *testing.T, c *routeros.Client, words ...string) *routeros.Reply {
	t.Helper()
	r, err := c.RunArgs(words)
	if err != nil {
		t.Fatalf("%v: %v", words, err)
	}
	return r
}

// trapMsg runs a command that must fail and returns the trap message.
func trapMsg(t *testing.T, c *routeros.Client, words ...string) string {
	t.Helper()
	_, err := c.RunArgs(words)
	if err == nil {
		t.Fatalf("%v: succeeded, want trap", words)
	}
	de, ok := err.(*routeros.DeviceError)
	if !ok {
		t.Fatalf("%v: error %T %v, want DeviceError", words, err, err)
	}
	return de.Sentence.Map["message"]
}

func rows(r *routeros.Reply) []map[string]string {
	out := make([]map[string]string, len(r.Re))
	for i, s := range r.Re {
		out[i] = s.Map
	}
	return out
}

func column(r *routeros.Reply, k string) []string {
	var out []string
	for _, s := range r.Re {
		out = append(out, s.Map[k])
	}
	return out
}

// rawExchange logs in over a raw connection, sends one command and returns
// the reply words' heads (!re/!empty/!done...).
func rawExchange(t *testing.T, s *Sim, words ...string) []string {
	t.Helper()
	nc, err := net.Dial("tcp", s.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	r := bufio.NewReader(nc)
	nc.Write(AppendSentence(nil, "/login", "=name=admin", "=password="))
	if sen, err := ReadSentence(r); err != nil || sen[0] != "!done" {
		t.Fatalf("login %v %v", sen, err)
	}
	nc.Write(AppendSentence(nil, words...))
	var heads []string
	for {
		sen, err := ReadSentence(r)
		if err != nil {
			t.Fatal(err)
		}
		heads = append(heads, sen[0])
		if sen[0] == "!done" {
			return heads
		}
	}
}
