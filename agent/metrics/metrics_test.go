package metrics

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// clock is an injected, settable clock.
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.t }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.t = c.t.Add(d); c.mu.Unlock() }

func get(t *testing.T, url string) (int, string) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, string(b)
}

func start(t *testing.T, m *Metrics) string {
	t.Helper()
	srv, err := m.Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("serve: %v", err)
		}
	})
	return "http://" + srv.Addr().String()
}

func TestScrapeAfterTransaction(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	m := New(Options{Site: "home", Version: "1.2.3", PollInterval: 15 * time.Second, Now: clk.Now})
	base := start(t, m)

	// One applied transaction (42s, gate 30s), one revert, one rejection, a
	// failed and a good fetch, API calls, pending notes.
	m.ObserveFetch(200*time.Millisecond, nil)
	m.ObserveFetch(3*time.Second, errors.New("dial tcp: timeout"))
	m.ObserveOutcome("applied", 42*time.Second, 30*time.Second)
	m.ObserveOutcome("reverted", 130*time.Second, 120*time.Second)
	m.ObserveOutcome("rejected", 0, 0)
	m.SetRunning("0123456789abcdef0123456789abcdef01234567")
	m.SetRunning("89abcdef0123456789abcdef0123456789abcdef") // replaces the first
	m.RouterOSCalls(2, 0)
	m.RouterOSCalls(1, 1)
	m.SetPendingNotes(2)
	m.SyncOK(clk.Now())

	code, body := get(t, base+"/metrics")
	if code != 200 {
		t.Fatalf("/metrics: %d", code)
	}
	for _, want := range []string{
		`tether_build_info{site="home",version="1.2.3"} 1`,
		`tether_running_commit_info{commit="89abcdef0123456789abcdef0123456789abcdef",site="home"} 1`,
		`tether_outcomes_total{result="applied",site="home"} 1`,
		`tether_outcomes_total{result="reverted",site="home"} 1`,
		`tether_outcomes_total{result="rejected",site="home"} 1`,
		`tether_outcomes_total{result="unchanged",site="home"} 0`,
		`tether_outcomes_total{result="drift",site="home"} 0`,
		`tether_transaction_duration_seconds_count{result="applied",site="home"} 1`,
		`tether_transaction_duration_seconds_sum{result="applied",site="home"} 42`,
		`tether_transaction_duration_seconds_bucket{result="applied",site="home",le="30"} 0`,
		`tether_transaction_duration_seconds_bucket{result="applied",site="home",le="60"} 1`,
		`tether_transaction_duration_seconds_count{result="reverted",site="home"} 1`,
		`tether_gate_duration_seconds_count{site="home"} 2`,
		`tether_gate_duration_seconds_sum{site="home"} 150`,
		`tether_reverts_total{site="home"} 1`,
		`tether_rejected_commits_total{site="home"} 1`,
		`tether_routeros_api_calls_total{site="home"} 3`,
		`tether_routeros_api_errors_total{site="home"} 1`,
		`tether_git_fetch_duration_seconds_count{site="home"} 2`,
		`tether_git_fetch_failures_total{site="home"} 1`,
		`tether_notes_pending_push{site="home"} 2`,
		`tether_last_sync_timestamp_seconds{site="home"} 1.7723664e+09`,
		`go_goroutines `,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	if strings.Contains(body, "0123456789abcdef0123456789abcdef01234567") {
		t.Error("the previous running commit is still exported")
	}
	// A rejected commit ran no transaction: it has no duration sample.
	if strings.Contains(body, `tether_transaction_duration_seconds_count{result="rejected"`) {
		t.Error("rejected outcome observed a duration")
	}
}

func TestHealthz(t *testing.T) {
	clk := &clock{t: time.Date(2026, 3, 1, 12, 0, 0, 0, time.UTC)}
	m := New(Options{Site: "relay", PollInterval: 10 * time.Second, Now: clk.Now})
	base := start(t, m)

	health := func(wantCode int) Health {
		t.Helper()
		code, body := get(t, base+"/healthz")
		if code != wantCode {
			t.Fatalf("/healthz: %d, want %d: %s", code, wantCode, body)
		}
		var h Health
		if err := json.Unmarshal([]byte(body), &h); err != nil {
			t.Fatalf("%v: %s", err, body)
		}
		return h
	}

	// Fresh agent: within the start-up grace, no sync yet.
	h := health(200)
	if h.Site != "relay" || h.LastSync != nil || h.Status != "ok" {
		t.Fatalf("%+v", h)
	}
	clk.Add(31 * time.Second) // > 3 × 10s without any sync
	if h := health(503); h.Status != "stale" {
		t.Fatalf("%+v", h)
	}

	m.SetRunning("abc123")
	m.ObserveOutcome("applied", time.Second, time.Second)
	m.SyncOK(clk.Now())
	h = health(200)
	if h.RunningCommit != "abc123" || h.LastResult != "applied" || h.LastSync == nil || !h.LastSync.Equal(clk.Now()) {
		t.Fatalf("%+v", h)
	}
	clk.Add(30 * time.Second) // exactly 3 intervals: still fine
	health(200)
	clk.Add(time.Second)
	health(503)
	m.SyncOK(clk.Now())
	health(200)
}

func TestSeparateRegistries(t *testing.T) {
	// Two instances in one process must not collide (no global registry).
	a, b := New(Options{Site: "a"}), New(Options{Site: "b"})
	a.ObserveOutcome("applied", time.Second, 0)
	mf, err := b.Registry().Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range mf {
		if f.GetName() == NameOutcomes {
			for _, mm := range f.GetMetric() {
				if mm.GetCounter().GetValue() != 0 {
					t.Fatalf("b sees a's outcome")
				}
			}
		}
	}
}

func TestListenBadAddress(t *testing.T) {
	if _, err := New(Options{}).Listen("256.0.0.1:1"); err == nil {
		t.Fatal("bad address accepted")
	}
}

func TestShutdownReturns(t *testing.T) {
	srv, err := New(Options{}).Listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(context.Background()) }()
	time.Sleep(10 * time.Millisecond) // let Serve start; Shutdown before Serve is also fine
	if err := srv.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-done:
		if err != nil {
			t.Fatal(err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("Serve did not return after Shutdown")
	}
}
