package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/tether-net/tether/agent/notify"
)

// webhookReceiver is a local [notify] endpoint: it keeps every message it
// is sent, with the Authorization header it came with.
type webhookReceiver struct {
	srv   *httptest.Server
	token string
	got   chan received
}

type received struct {
	auth string
	msg  notify.Message
	err  error
}

func newWebhookReceiver(t *testing.T) *webhookReceiver {
	t.Helper()
	h := &webhookReceiver{token: "e2e-notify-token", got: make(chan received, 32)}
	h.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		var m notify.Message
		if err == nil {
			err = json.Unmarshal(b, &m)
		}
		h.got <- received{auth: r.Header.Get("Authorization"), msg: m, err: err}
	}))
	t.Cleanup(h.srv.Close)
	return h
}

// agentConfig is the [notify] section pointing an agent at the receiver,
// its token in a file as in production.
func (h *webhookReceiver) agentConfig(t *testing.T) string {
	t.Helper()
	tokenFile := filepath.Join(t.TempDir(), "notify-token")
	if err := os.WriteFile(tokenFile, []byte(h.token+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("[notify]\nurl = %q\ntoken_file = %q\n", h.srv.URL+"/tether", tokenFile)
}

// wantReverted waits for the next message and checks it reports site's
// revert of commit with the failing check named check.
func (h *webhookReceiver) wantReverted(ctx context.Context, t *testing.T, site, commit, check string) {
	t.Helper()
	// The message leaves right after the note is recorded; the bound only
	// keeps a missing one from eating the whole scenario's deadline.
	ctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	var r received
	select {
	case r = <-h.got:
	case <-ctx.Done():
		t.Errorf("the webhook heard nothing of %s's revert of %.12s", site, commit)
		return
	}
	if r.err != nil {
		t.Fatalf("webhook body: %v", r.err)
	}
	m := r.msg
	if m.Result != "reverted" || m.Site != site || m.Commit != commit {
		t.Errorf("webhook got %s %s %.12s, want %s reverted %.12s", m.Site, m.Result, m.Commit, site, commit)
	}
	if r.auth != "Bearer "+h.token {
		t.Errorf("webhook Authorization = %q, want the token file's bearer token", r.auth)
	}
	failing := false
	for _, c := range m.FailingChecks {
		failing = failing || (strings.Contains(c.Name, check) && c.Evidence != "")
	}
	if !failing || m.Reason == "" || len(m.Plan) == 0 || m.Finished.IsZero() || m.AgentVersion == "" {
		t.Errorf("webhook message lacks the failing %s check with evidence, the reason, plan or times: %+v", check, m)
	}
}
