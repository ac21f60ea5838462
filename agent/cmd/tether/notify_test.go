package main

import (
	"bytes"
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/agent/config"
	"github.com/tether-net/tether/agent/metrics"
)

func notifyConfig(t *testing.T, url string) config.Notify {
	t.Helper()
	cfg, err := config.Parse("agent.toml", []byte("repo = \"/srv/net\"\nsite = \"home\"\n[notify]\nurl = \""+url+"\"\nqueue_size = 2\n"))
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Notify
}

func scrape(t *testing.T, m *metrics.Metrics) string {
	t.Helper()
	rec := httptest.NewRecorder()
	m.Handler().ServeHTTP(rec, httptest.NewRequest("GET", "/metrics", nil))
	return rec.Body.String()
}

// A receiver that hangs does not hold up Synced: the queue takes what it
// can and the rest is dropped and counted.
func TestSyncedNotBlockedByHungReceiver(t *testing.T) {
	entered := make(chan struct{}, 10)
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		entered <- struct{}{}
		<-release
	}))
	t.Cleanup(srv.Close)
	t.Cleanup(func() { close(release) })
	m := metrics.New(metrics.Options{Site: "home", Version: "test"})
	n, err := newNotifier(notifyConfig(t, srv.URL), zap.NewNop(), m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go n.Run(ctx)
	o := &observer{m: m, notify: n}
	out := &agent.Outcome{Site: "home", Result: agent.ResultReverted, Commit: strings.Repeat("ab", 20)}
	o.Synced(out, nil)
	<-entered // the worker is stuck in the first delivery
	// queue_size = 2: two wait, three are dropped. Were Synced to block,
	// this loop would never end.
	for range 5 {
		o.Synced(out, nil)
	}
	body := scrape(t, m)
	for _, want := range []string{
		`tether_notifications_dropped_total{reason="queue_full",site="home"} 3`,
		`tether_notifications_dropped_total{reason="failed",site="home"} 0`,
		`tether_outcomes_total{result="reverted",site="home"} 6`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %s", want)
		}
	}
}

// syncBuffer is a log sink safe for the worker goroutine.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// The token file is sent as a bearer token and the headers file's lines as
// headers; neither, nor the URL's secret path, shows in any log line, even
// at debug level through failed and retried deliveries.
func TestNotifySecretsSentNotLogged(t *testing.T) {
	const token, apiKey, topic = "tok-7f3e9a1c", "key-55aa", "topic-c0ffee42"
	dir := t.TempDir()
	tokenFile, headersFile := filepath.Join(dir, "token"), filepath.Join(dir, "headers")
	if err := os.WriteFile(tokenFile, []byte(token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(headersFile, []byte("X-Api-Key: "+apiKey+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	got := make(chan http.Header, 10)
	var calls atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		calls.Add(1)
		got <- r.Header.Clone()
		if calls.Load() == 1 {
			w.WriteHeader(500)
		}
	}))
	t.Cleanup(srv.Close)
	var logs syncBuffer
	log := zap.New(zapcore.NewCore(zapcore.NewJSONEncoder(zap.NewProductionEncoderConfig()), zapcore.AddSync(&logs), zap.DebugLevel))
	m := metrics.New(metrics.Options{Site: "home", Version: "test"})
	c := notifyConfig(t, srv.URL+"/"+topic)
	c.TokenFile, c.HeadersFile = tokenFile, headersFile
	n, err := newNotifier(c, log, m)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go n.Run(ctx)
	n.Notify(&agent.Outcome{Site: "home", Result: agent.ResultRejected, Commit: strings.Repeat("ab", 20)})
	for i := 1; i <= 2; i++ {
		select {
		case h := <-got:
			if h.Get("Authorization") != "Bearer "+token || h.Get("X-Api-Key") != apiKey {
				t.Errorf("request %d: Authorization %q, X-Api-Key %q", i, h.Get("Authorization"), h.Get("X-Api-Key"))
			}
		case <-time.After(30 * time.Second):
			t.Fatalf("request %d never came", i)
		}
	}
	// A receiver that is gone: the transport error is logged too.
	dead := httptest.NewServer(http.NotFoundHandler())
	deadURL := dead.URL
	dead.Close()
	c.URL, c.Attempts = deadURL+"/"+topic, 1
	n2, err := newNotifier(c, log, m)
	if err != nil {
		t.Fatal(err)
	}
	go n2.Run(ctx)
	n2.Notify(&agent.Outcome{Site: "home", Result: agent.ResultRejected})
	for !strings.Contains(scrape(t, m), `tether_notifications_dropped_total{reason="failed",site="home"} 1`) {
		time.Sleep(10 * time.Millisecond)
	}
	text := logs.String()
	if !strings.Contains(text, "notification not delivered") || !strings.Contains(text, "retrying") {
		t.Fatalf("the failures were not logged:\n%s", text)
	}
	for _, secret := range []string{token, apiKey, topic} {
		if strings.Contains(text, secret) {
			t.Errorf("the log shows %q:\n%s", secret, text)
		}
	}
}

// A token file that is missing or empty stops the agent at start-up.
func TestNotifyTokenFileRequired(t *testing.T) {
	c := notifyConfig(t, "https://ntfy.example.net/t")
	c.TokenFile = filepath.Join(t.TempDir(), "absent")
	m := metrics.New(metrics.Options{Site: "home", Version: "test"})
	if _, err := newNotifier(c, zap.NewNop(), m); err == nil || !strings.Contains(err.Error(), "notify.token_file") {
		t.Errorf("missing token file: %v", err)
	}
}
