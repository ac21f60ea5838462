package mikrotik

import (
	"context"
	"fmt"
	"net/netip"
	"strings"
	"sync"
	"testing"
	"time"

	"go.uber.org/zap"

	"github.com/tether-net/tether/policy"
	"github.com/tether-net/tether/test/rossim"
)

// slowPings is a simulator dataplane whose pings are never answered and
// take a while: wait decides how long. It counts pings in flight at once.
type slowPings struct {
	wait func(ctx context.Context, started int)

	mu                      sync.Mutex
	inFlight, maxIn, starts int
}

func (*slowPings) Apply(rossim.DataplaneConfig) error { return nil }
func (*slowPings) Peers() (map[rossim.DataplanePeerKey]rossim.DataplanePeerStats, error) {
	return nil, nil
}
func (*slowPings) Close() error { return nil }

func (s *slowPings) Ping(ctx context.Context, req rossim.PingRequest) (rossim.PingResult, error) {
	s.mu.Lock()
	s.inFlight++
	s.starts++
	s.maxIn = max(s.maxIn, s.inFlight)
	started := s.starts
	s.mu.Unlock()
	s.wait(ctx, started)
	s.mu.Lock()
	s.inFlight--
	s.mu.Unlock()
	return rossim.PingResult{Sent: req.Count}, nil
}

// seen returns the most pings in flight at once and the pings run.
func (s *slowPings) seen() (maxIn, starts int) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.maxIn, s.starts
}

func pingChecks(n int) []policy.Check {
	var cs []policy.Check
	for i := range n {
		cs = append(cs, policy.Check{Name: fmt.Sprintf("ping-%d", i), Kind: policy.CheckPing,
			Target: netip.AddrFrom4([4]byte{192, 0, 2, byte(10 + i)}), Count: 1})
	}
	return cs
}

// TestProbePingsRunTogether: four unanswered pings of one round are all in
// flight at the router at the same time, so the round costs one ping's
// time. Each simulated ping holds until all four have started (or gives up
// after a few seconds, which a one-after-another prober would hit and show
// as one ping in flight).
func TestProbePingsRunTogether(t *testing.T) {
	const n = 4
	all := make(chan struct{})
	dp := &slowPings{wait: func(ctx context.Context, started int) {
		if started == n {
			close(all)
		}
		select {
		case <-all:
		case <-time.After(3 * time.Second):
		case <-ctx.Done():
		}
	}}
	l := newLabAs(t, rossim.Config{Version: "7.22.3", Dataplane: dp})
	res := l.dev.Probe(context.Background(), pingChecks(n))
	if maxIn, _ := dp.seen(); maxIn != n {
		t.Errorf("%d pings in flight at once at the router, want %d", maxIn, n)
	}
	if len(res) != n {
		t.Fatalf("%d results, want %d", len(res), n)
	}
	for i, r := range res {
		if want := fmt.Sprintf("ping-%d", i); r.Name != want || r.OK || !strings.Contains(r.Evidence, "0/1 replies") {
			t.Errorf("result %d: %s ok=%v %q, want %s failed with 0/1 replies", i, r.Name, r.OK, r.Evidence, want)
		}
	}
}

// TestProbeSessionsBound: with ProbeSessions 2, never more than two pings
// run at the router at once, and all four still get their answer.
func TestProbeSessionsBound(t *testing.T) {
	dp := &slowPings{wait: func(ctx context.Context, _ int) {
		select {
		case <-time.After(20 * time.Millisecond):
		case <-ctx.Done():
		}
	}}
	l := newLabAs(t, rossim.Config{Version: "7.22.3", Dataplane: dp})
	d := New(Options{Conn: Conn{Address: l.sim.Addr(), Username: "admin", Timeout: 5 * time.Second, ProbeSessions: 2},
		Logger: zap.NewNop(), Now: l.clk.Now})
	defer d.Close()
	res := d.Probe(context.Background(), pingChecks(4))
	if maxIn, starts := dp.seen(); maxIn > 2 || starts != 4 {
		t.Errorf("max %d pings in flight, %d pings run; want at most 2 and 4", maxIn, starts)
	}
	for _, r := range res {
		if !strings.Contains(r.Evidence, "0/1 replies") {
			t.Errorf("%s: %q", r.Name, r.Evidence)
		}
	}
	if st := d.Stats(); st.RoundTrips != 4 || st.Dials != 2 {
		t.Errorf("stats %+v, want 4 round trips on 2 probe sessions", st)
	}
}

// BenchmarkProbeRound is a round of four unanswered pings, each taking
// 100ms at the router: one probe session (the former one-after-another
// behaviour) against the default four.
func BenchmarkProbeRound(b *testing.B) {
	dp := &slowPings{wait: func(ctx context.Context, _ int) {
		select {
		case <-time.After(100 * time.Millisecond):
		case <-ctx.Done():
		}
	}}
	l := newLabAs(b, rossim.Config{Version: "7.22.3", Dataplane: dp})
	for _, sessions := range []int{1, 4} {
		b.Run(fmt.Sprintf("sessions=%d", sessions), func(b *testing.B) {
			d := New(Options{Conn: Conn{Address: l.sim.Addr(), Username: "admin", Timeout: 5 * time.Second, ProbeSessions: sessions},
				Logger: zap.NewNop(), Now: l.clk.Now})
			defer d.Close()
			checks := pingChecks(4)
			for b.Loop() {
				d.Probe(context.Background(), checks)
			}
		})
	}
}
