package main

import (
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-git/go-git/v5"

	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/agent/metrics"
	"github.com/tether-net/tether/agent/mikrotik"
	"github.com/tether-net/tether/agent/notes"
)

// After a transaction the endpoint exposes the outcome, the durations, the
// running commit and the pending notes.
func TestObserverFeedsMetrics(t *testing.T) {
	repo, err := git.PlainInit(filepath.Join(t.TempDir(), "r.git"), true)
	if err != nil {
		t.Fatal(err)
	}
	store, err := notes.New(notes.Config{Repo: repo, Site: "home"})
	if err != nil {
		t.Fatal(err)
	}
	m := metrics.New(metrics.Options{Site: "home", Version: "test", PollInterval: time.Second})
	var api mikrotik.Stats
	o := &observer{m: m, notes: store, apiStats: func() mikrotik.Stats { return api }}
	start := time.Now()
	api = mikrotik.Stats{RoundTrips: 5, Failures: 1}
	o.Synced(nil, nil)
	api = mikrotik.Stats{RoundTrips: 7, Failures: 2}
	o.Synced(&agent.Outcome{Result: agent.ResultApplied, Commit: strings.Repeat("ab", 20), Started: start, Finished: start.Add(3 * time.Second), GateDuration: 2 * time.Second}, nil)
	o.Synced(&agent.Outcome{Result: agent.ResultReverted, Commit: strings.Repeat("cd", 20), Started: start, Finished: start.Add(time.Second)}, nil)
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	body := rec.Body.String()
	for _, want := range []string{
		`tether_outcomes_total{result="applied",site="home"} 1`,
		`tether_outcomes_total{result="reverted",site="home"} 1`,
		`tether_reverts_total{site="home"} 1`,
		`tether_running_commit_info{commit="` + strings.Repeat("ab", 20) + `",site="home"} 1`,
		`tether_routeros_api_calls_total{site="home"} 7`,
		`tether_routeros_api_errors_total{site="home"} 2`,
		`tether_notes_pending_push{site="home"} 0`,
		`tether_gate_duration_seconds_count{site="home"} 1`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if t.Failed() {
		os.Stderr.WriteString(body)
	}
}
