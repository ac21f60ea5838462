package notify

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-net/tether/agent"
)

// request is what the receiver saw.
type request struct {
	header http.Header
	body   string
}

// receiver is a local webhook answering with the given statuses in turn
// (the last one repeats) and handing every request to the test.
func receiver(t *testing.T, statuses ...int) (*httptest.Server, <-chan request) {
	t.Helper()
	got := make(chan request, 100)
	var mu sync.Mutex
	n := 0
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		mu.Lock()
		status := statuses[min(n, len(statuses)-1)]
		n++
		mu.Unlock()
		// Recorded before answering: once the client has the answer,
		// the test sees the request.
		got <- request{header: r.Header.Clone(), body: string(b)}
		w.WriteHeader(status)
	}))
	t.Cleanup(srv.Close)
	return srv, got
}

// start builds a notifier with fast retries and runs it for the test.
func start(t *testing.T, o Options) *Notifier {
	t.Helper()
	if o.Backoff == 0 {
		o.Backoff = time.Millisecond
	}
	n, err := New(o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { n.Run(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	return n
}

func next(t *testing.T, got <-chan request) request {
	t.Helper()
	select {
	case r := <-got:
		return r
	case <-time.After(10 * time.Second):
		t.Fatal("the receiver got nothing")
		return request{}
	}
}

func reverted() *agent.Outcome {
	t0 := time.Date(2026, 12, 3, 10, 0, 0, 0, time.UTC)
	ok := agent.CheckReport{CheckResult: agent.CheckResult{Name: "uplink", Kind: "handshake", OK: true, Evidence: "last handshake 3s ago"}, MustPass: true, Judged: true}
	bad := agent.CheckReport{CheckResult: agent.CheckResult{Name: "bgp-core", Kind: "bgp", Evidence: "idle; peer https://ops:hunter2@git.example.net/x said no"}, MustPass: true, Judged: true}
	return &agent.Outcome{TxnID: "t1", Site: "home", Commit: strings.Repeat("ab", 20), Result: agent.ResultReverted,
		Started: t0, Finished: t0.Add(95 * time.Second), Summary: map[string]int{"add": 2, "set": 1},
		Changes: []agent.Change{{Op: "set", Where: "/interface/wireguard/peers", What: "core", Detail: "preshared-key=SECRETPSK"}},
		Checks:  []agent.CheckReport{ok, bad}, Reason: "health gate failed: bgp-core", Version: "1.6.0", Host: "gw1"}
}

// The JSON body carries what an operator needs to act — site, commit,
// result, reason, times, the failing check and its evidence, the plan
// summary, version and host — and neither the change values nor URL
// credentials.
func TestJSONBody(t *testing.T) {
	srv, got := receiver(t, 204)
	n := start(t, Options{URL: srv.URL + "/hook"})
	n.Notify(reverted())
	r := next(t, got)
	if ct := r.header.Get("Content-Type"); ct != "application/json" {
		t.Errorf("Content-Type %q", ct)
	}
	var m map[string]any
	if err := json.Unmarshal([]byte(r.body), &m); err != nil {
		t.Fatalf("body is not JSON: %v\n%s", err, r.body)
	}
	for k, want := range map[string]any{"site": "home", "commit": strings.Repeat("ab", 20), "result": "reverted",
		"reason": "health gate failed: bgp-core", "started": "2026-12-03T10:00:00Z", "finished": "2026-12-03T10:01:35Z",
		"agent_version": "1.6.0", "host": "gw1", "txn_id": "t1"} {
		if m[k] != want {
			t.Errorf("%s = %v, want %v", k, m[k], want)
		}
	}
	if plan, _ := m["plan"].(map[string]any); plan["add"] != 2.0 || plan["set"] != 1.0 {
		t.Errorf("plan = %v", m["plan"])
	}
	checks, _ := m["failing_checks"].([]any)
	if len(checks) != 1 {
		t.Fatalf("failing_checks = %v, want only bgp-core", m["failing_checks"])
	}
	c := checks[0].(map[string]any)
	if c["name"] != "bgp-core" || c["kind"] != "bgp" || c["evidence"] != "idle; peer https://git.example.net/x said no" {
		t.Errorf("failing check = %v", c)
	}
	for _, secret := range []string{"hunter2", "SECRETPSK"} {
		if strings.Contains(r.body, secret) {
			t.Errorf("body carries %q:\n%s", secret, r.body)
		}
	}
}

// Text mode sends a readable body with Title and (configured) Priority
// headers, as ntfy-style services take them.
func TestTextBody(t *testing.T) {
	srv, got := receiver(t, 200)
	n := start(t, Options{URL: srv.URL, Format: FormatText, Priority: "high"})
	n.Notify(reverted())
	r := next(t, got)
	if h := r.header.Get("Title"); h != "tether home: reverted abababababab" {
		t.Errorf("Title %q", h)
	}
	if h := r.header.Get("Priority"); h != "high" {
		t.Errorf("Priority %q", h)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Errorf("Content-Type %q", ct)
	}
	want := "home: reverted commit abababababab\n" +
		"reason: health gate failed: bgp-core\n" +
		"failing: bgp-core (bgp): idle; peer https://git.example.net/x said no\n" +
		"plan: add 2, set 1\n" +
		"at 2026-12-03T10:01:35Z by tether 1.6.0 on gw1\n"
	if r.body != want {
		t.Errorf("body:\n%s\nwant:\n%s", r.body, want)
	}
}

// Without a priority configured no Priority header is sent.
func TestTextBodyWithoutPriority(t *testing.T) {
	srv, got := receiver(t, 200)
	n := start(t, Options{URL: srv.URL, Format: FormatText})
	n.Notify(reverted())
	if r := next(t, got); r.header.Values("Priority") != nil {
		t.Errorf("Priority sent: %q", r.header.Values("Priority"))
	}
}

// Only the configured results are sent; by default applied and unchanged
// (the normal case) are not.
func TestResultFilter(t *testing.T) {
	srv, got := receiver(t, 200)
	n := start(t, Options{URL: srv.URL, Results: []string{agent.ResultRejected}})
	for _, r := range []string{agent.ResultApplied, agent.ResultReverted, agent.ResultRejected} {
		out := reverted()
		out.Result = r
		n.Notify(out)
	}
	// One worker delivers in order: the first delivery is the first wanted.
	var m Message
	if err := json.Unmarshal([]byte(next(t, got).body), &m); err != nil {
		t.Fatal(err)
	}
	if m.Result != agent.ResultRejected {
		t.Errorf("first delivery is %q, want rejected (applied and reverted are not configured)", m.Result)
	}
	d, err := New(Options{URL: srv.URL})
	if err != nil {
		t.Fatal(err)
	}
	for r, want := range map[string]bool{"reverted": true, "rejected": true, "revert-failed": true, "drift": true,
		"applied": false, "unchanged": false, "repaired": false} {
		if d.Wants(r) != want {
			t.Errorf("default Wants(%q) = %v", r, !want)
		}
	}
}

// dropCounter records the Dropped callback.
type dropCounter struct {
	mu sync.Mutex
	n  map[string]int
	ch chan string
}

func newDropCounter() *dropCounter {
	return &dropCounter{n: map[string]int{}, ch: make(chan string, 100)}
}

func (d *dropCounter) drop(reason string) {
	d.mu.Lock()
	d.n[reason]++
	d.mu.Unlock()
	d.ch <- reason
}

func (d *dropCounter) count(reason string) int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return d.n[reason]
}

// A receiver that fails twice with 500 gets the message on the third try,
// and nothing is counted as dropped.
func TestRetriesAfter500(t *testing.T) {
	srv, got := receiver(t, 500, 503, 200)
	drops := newDropCounter()
	n := start(t, Options{URL: srv.URL, Attempts: 5, Dropped: drops.drop})
	n.Notify(reverted())
	first := next(t, got)
	for i := 2; i <= 3; i++ {
		if r := next(t, got); r.body != first.body {
			t.Errorf("attempt %d sent a different body", i)
		}
	}
	// A second message proves the worker moved on after the success
	// rather than retrying the first again.
	out := reverted()
	out.Commit = strings.Repeat("cd", 20)
	n.Notify(out)
	if r := next(t, got); !strings.Contains(r.body, out.Commit) {
		t.Errorf("fourth request is not the second message: %s", r.body)
	}
	if c := drops.count(DropFailed); c != 0 {
		t.Errorf("%d dropped", c)
	}
}

// A receiver that keeps failing gets exactly Attempts tries, then the
// message is counted as failed; a 400 is not retried at all.
func TestGivesUp(t *testing.T) {
	for _, c := range []struct {
		status, tries int
	}{{500, 3}, {http.StatusTooManyRequests, 3}, {400, 1}} {
		srv, got := receiver(t, c.status)
		drops := newDropCounter()
		n := start(t, Options{URL: srv.URL, Attempts: 3, Dropped: drops.drop})
		n.Notify(reverted())
		select {
		case reason := <-drops.ch:
			if reason != DropFailed {
				t.Errorf("%d: dropped for %q", c.status, reason)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%d: never gave up", c.status)
		}
		if len(got) != c.tries {
			t.Errorf("%d: %d tries, want %d", c.status, len(got), c.tries)
		}
	}
}

func TestNewRefuses(t *testing.T) {
	for _, c := range []struct{ url, format, want string }{
		{"ftp://x/y", "", "http:// or https://"},
		{"https://user:pw@ntfy.example.net/t", "", "must not carry credentials"},
		{"https://ntfy.example.net/t", "xml", `format "xml"`},
	} {
		_, err := New(Options{URL: c.url, Format: c.format})
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s %s: %v, want %q", c.url, c.format, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "pw@") {
			t.Errorf("error shows the credentials: %v", err)
		}
	}
}

func TestReadHeaders(t *testing.T) {
	p := filepath.Join(t.TempDir(), "headers")
	if err := os.WriteFile(p, []byte("# ntfy\nTags: warning\n\nX-Api-Key:  k3y \n"), 0o600); err != nil {
		t.Fatal(err)
	}
	h, err := ReadHeaders(p)
	if err != nil {
		t.Fatal(err)
	}
	if h.Get("Tags") != "warning" || h.Get("X-Api-Key") != "k3y" || len(h) != 2 {
		t.Errorf("headers = %v", h)
	}
	if err := os.WriteFile(p, []byte("Tags: x\nthis is no header s3cret\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	_, err = ReadHeaders(p)
	if err == nil || !strings.Contains(err.Error(), p+":2:") || strings.Contains(err.Error(), "s3cret") {
		t.Errorf("bad line: %v, want file:2 and no value", err)
	}
}
