// Package notify tells a webhook about outcomes an operator must hear of
// (a revert, a rejected commit, a failed revert, drift) — as a JSON document
// or as a plain-text body that ntfy-style services accept.
//
// Delivery never delays or fails a transaction: Notify only queues, a single
// worker posts with jittered, growing backoff, and a full queue drops the
// newest message and counts it. Credentials come from files read once at
// start-up; they are sent as headers and never logged. The message carries
// nothing secret: free text (reasons, evidence, errors) passes through
// secret.Redact like the outcome notes do.
package notify

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/agent/backoff"
	"github.com/tether-net/tether/agent/secret"
)

// Body formats.
const (
	FormatJSON = "json"
	FormatText = "text"
)

// DefaultResults are the outcomes notified unless configured otherwise.
var DefaultResults = []string{agent.ResultReverted, agent.ResultRejected, agent.ResultRevertFailed, agent.ResultDrift}

// Drop reasons, the label of the dropped-notifications counter.
const (
	DropQueueFull = "queue_full"
	DropFailed    = "failed"
)

// Options configures New.
type Options struct {
	URL      string
	Format   string   // json (default) | text
	Results  []string // outcomes to send; nil: DefaultResults
	Headers  http.Header
	Priority string // text mode: sent as the Priority header when set
	// Attempts is how many times one message is tried (default 5); Backoff
	// the wait before the second, doubled each time up to MaxBackoff.
	Attempts   int
	Backoff    time.Duration // default 2s
	MaxBackoff time.Duration // default 2m
	Timeout    time.Duration // per attempt, default 10s
	QueueSize  int           // default 64
	Client     *http.Client  // nil: a client with Timeout
	Log        *zap.Logger
	// Dropped counts a message that was never delivered (nil: not counted).
	Dropped func(reason string)
}

// Notifier queues outcomes and posts them from one worker (Run).
type Notifier struct {
	o       Options
	results map[string]bool
	queue   chan Message
}

// New checks the options and builds a notifier; Run delivers.
func New(o Options) (*Notifier, error) {
	u, err := url.Parse(o.URL)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return nil, errors.New("notify: url must be an http:// or https:// URL")
	}
	if u.User != nil {
		return nil, errors.New("notify: url must not carry credentials; use token_file or headers_file")
	}
	switch o.Format {
	case "":
		o.Format = FormatJSON
	case FormatJSON, FormatText:
	default:
		return nil, fmt.Errorf("notify: format %q: want json or text", o.Format)
	}
	if o.Results == nil {
		o.Results = DefaultResults
	}
	if o.Attempts <= 0 {
		o.Attempts = 5
	}
	if o.Backoff <= 0 {
		o.Backoff = 2 * time.Second
	}
	if o.MaxBackoff <= 0 {
		o.MaxBackoff = 2 * time.Minute
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.QueueSize <= 0 {
		o.QueueSize = 64
	}
	if o.Client == nil {
		o.Client = &http.Client{Timeout: o.Timeout}
	}
	if o.Log == nil {
		o.Log = zap.NewNop()
	}
	if o.Dropped == nil {
		o.Dropped = func(string) {}
	}
	n := &Notifier{o: o, results: map[string]bool{}, queue: make(chan Message, o.QueueSize)}
	for _, r := range o.Results {
		n.results[r] = true
	}
	return n, nil
}

// Wants reports whether outcomes with this result are sent.
func (n *Notifier) Wants(result string) bool { return n.results[result] }

// Notify queues the outcome if its result is wanted. It never blocks: with
// the queue full the message is dropped and counted.
func (n *Notifier) Notify(out *agent.Outcome) {
	if out == nil || !n.results[out.Result] {
		return
	}
	select {
	case n.queue <- NewMessage(out):
	default:
		n.o.Dropped(DropQueueFull)
		n.o.Log.Warn("notification dropped: queue full", zap.String("result", out.Result), zap.String("commit", out.Commit))
	}
}

// Run delivers queued messages until ctx ends.
func (n *Notifier) Run(ctx context.Context) {
	for {
		select {
		case <-ctx.Done():
			return
		case m := <-n.queue:
			n.deliver(ctx, m)
		}
	}
}

// deliver tries one message Attempts times; a 4xx other than 408/429 is the
// receiver refusing it and is not retried.
func (n *Notifier) deliver(ctx context.Context, m Message) {
	body, ctype, err := n.body(m)
	if err != nil {
		n.o.Dropped(DropFailed)
		n.o.Log.Error("notification not encodable", zap.Error(err))
		return
	}
	log := n.o.Log.With(zap.String("result", m.Result), zap.String("commit", m.Commit), zap.String("receiver", n.receiver()))
	retryWait := backoff.Policy{First: n.o.Backoff, Max: n.o.MaxBackoff}
	for attempt := 1; ; attempt++ {
		status, err := n.post(ctx, body, ctype, m)
		if err == nil && status < 300 {
			log.Debug("notification delivered", zap.Int("attempt", attempt))
			return
		}
		retry := err != nil || status >= 500 || status == http.StatusTooManyRequests || status == http.StatusRequestTimeout
		if err == nil {
			err = fmt.Errorf("receiver answered %d", status)
		}
		if !retry || attempt >= n.o.Attempts || ctx.Err() != nil {
			n.o.Dropped(DropFailed)
			log.Warn("notification not delivered", zap.Int("attempts", attempt), zap.Error(err))
			return
		}
		log.Debug("notification failed, retrying", zap.Int("attempt", attempt), zap.Error(err))
		t := time.NewTimer(retryWait.Wait(attempt, nil))
		select {
		case <-ctx.Done():
			t.Stop()
			n.o.Dropped(DropFailed)
			return
		case <-t.C:
		}
	}
}

// receiver names the webhook in logs: scheme and host only, since paths and
// queries of notification services often are the secret (ntfy topics,
// Slack and Matrix hook URLs).
func (n *Notifier) receiver() string {
	u, _ := url.Parse(n.o.URL)
	return u.Scheme + "://" + u.Host
}

func (n *Notifier) post(ctx context.Context, body []byte, ctype string, m Message) (int, error) {
	ctx, cancel := context.WithTimeout(ctx, n.o.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, n.o.URL, bytes.NewReader(body))
	if err != nil {
		return 0, fmt.Errorf("notify request: %w", err)
	}
	for k, vs := range n.o.Headers {
		req.Header[k] = vs
	}
	req.Header.Set("Content-Type", ctype)
	if n.o.Format == FormatText {
		if req.Header.Get("Title") == "" {
			req.Header.Set("Title", m.Title())
		}
		if n.o.Priority != "" {
			req.Header.Set("Priority", n.o.Priority)
		}
	}
	resp, err := n.o.Client.Do(req)
	if err != nil {
		// The error text names the URL; keep only what it says went wrong.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return 0, fmt.Errorf("post notification: %w", err)
	}
	_ = resp.Body.Close()
	return resp.StatusCode, nil
}

func (n *Notifier) body(m Message) ([]byte, string, error) {
	if n.o.Format == FormatText {
		return []byte(m.Text()), "text/plain; charset=utf-8", nil
	}
	b, err := json.Marshal(m)
	return b, "application/json", err
}

// Message is the outcome as sent: what happened where, why, and what the
// health gate saw — never the changes' values or anything secret.
type Message struct {
	Site          string         `json:"site"`
	Host          string         `json:"host"`
	AgentVersion  string         `json:"agent_version"`
	TxnID         string         `json:"txn_id,omitempty"`
	Commit        string         `json:"commit"`
	Result        string         `json:"result"`
	Reason        string         `json:"reason,omitempty"`
	Started       time.Time      `json:"started"`
	Finished      time.Time      `json:"finished"`
	Plan          map[string]int `json:"plan,omitempty"` // changes by operation
	FailingChecks []FailedCheck  `json:"failing_checks,omitempty"`
	Errors        []string       `json:"errors,omitempty"`
}

// FailedCheck is a health check that was not OK, with what was seen.
type FailedCheck struct {
	Name     string `json:"name"`
	Kind     string `json:"kind"`
	Evidence string `json:"evidence"`
	MustPass bool   `json:"must_pass"`
	Judged   bool   `json:"judged"`
}

// NewMessage extracts the notification from an outcome.
func NewMessage(out *agent.Outcome) Message {
	m := Message{Site: out.Site, Host: out.Host, AgentVersion: out.Version, TxnID: out.TxnID,
		Commit: out.Commit, Result: out.Result, Reason: secret.Redact(out.Reason),
		Started: out.Started, Finished: out.Finished, Plan: out.Summary}
	for _, c := range out.Checks {
		if !c.OK {
			m.FailingChecks = append(m.FailingChecks, FailedCheck{Name: c.Name, Kind: c.Kind,
				Evidence: secret.Redact(c.Evidence), MustPass: c.MustPass, Judged: c.Judged})
		}
	}
	for _, e := range out.Errors {
		m.Errors = append(m.Errors, secret.Redact(e))
	}
	return m
}

// Title is the one-line headline: "tether home: reverted 1a2b3c4d".
func (m Message) Title() string {
	return fmt.Sprintf("tether %s: %s %s", m.Site, m.Result, short(m.Commit))
}

// Text is the plain-text body for push services that show text as is.
func (m Message) Text() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%s: %s commit %s", m.Site, m.Result, short(m.Commit))
	if m.Reason != "" {
		fmt.Fprintf(&b, "\nreason: %s", m.Reason)
	}
	for _, c := range m.FailingChecks {
		fmt.Fprintf(&b, "\nfailing: %s (%s): %s", c.Name, c.Kind, c.Evidence)
	}
	for _, e := range m.Errors {
		fmt.Fprintf(&b, "\nerror: %s", e)
	}
	if len(m.Plan) > 0 {
		ops := make([]string, 0, len(m.Plan))
		for op := range m.Plan {
			ops = append(ops, op)
		}
		slices.Sort(ops)
		for i, op := range ops {
			ops[i] = fmt.Sprintf("%s %d", op, m.Plan[op])
		}
		fmt.Fprintf(&b, "\nplan: %s", strings.Join(ops, ", "))
	}
	fmt.Fprintf(&b, "\nat %s by tether %s on %s\n", m.Finished.UTC().Format(time.RFC3339), m.AgentVersion, m.Host)
	return b.String()
}

func short(commit string) string {
	if len(commit) > 12 {
		return commit[:12]
	}
	return commit
}

// ReadHeaders reads a headers file: one "Name: value" a line; blank lines
// and lines starting with # are skipped. Errors name file:line but never
// the value.
func ReadHeaders(path string) (http.Header, error) {
	h := http.Header{}
	if path == "" {
		return h, nil
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("notify headers: %w", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for line := 1; sc.Scan(); line++ {
		s := strings.TrimSpace(sc.Text())
		if s == "" || strings.HasPrefix(s, "#") {
			continue
		}
		name, value, ok := strings.Cut(s, ":")
		name = strings.TrimSpace(name)
		if !ok || name == "" || strings.ContainsAny(name, " \t") {
			return nil, fmt.Errorf("%s:%d: want \"Name: value\"", path, line)
		}
		h.Add(name, strings.TrimSpace(value))
	}
	if err := sc.Err(); err != nil {
		return nil, fmt.Errorf("notify headers %s: %w", path, err)
	}
	return h, nil
}
