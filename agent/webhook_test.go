package agent

import (
	"net/http"
	"net/http/httptest"
	"testing"
)

func TestWebhook(t *testing.T) {
	kick := make(chan struct{}, 1)
	srv := httptest.NewServer(WebhookHandler("s3cret", kick))
	defer srv.Close()
	post := func(header, value string) int {
		req, _ := http.NewRequest(http.MethodPost, srv.URL+"/hooks/sync", nil)
		if header != "" {
			req.Header.Set(header, value)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post("", ""); code != http.StatusForbidden {
		t.Fatalf("no secret: %d", code)
	}
	if code := post("Authorization", "Bearer wrong"); code != http.StatusForbidden {
		t.Fatalf("wrong secret: %d", code)
	}
	if len(kick) != 0 {
		t.Fatal("a refused request must not trigger a sync")
	}
	if code := post("Authorization", "Bearer s3cret"); code != http.StatusAccepted {
		t.Fatalf("right secret: %d", code)
	}
	if code := post("X-Tether-Secret", "s3cret"); code != http.StatusAccepted {
		t.Fatalf("header secret: %d", code)
	}
	if len(kick) != 1 {
		t.Fatal("want exactly one pending sync (coalesced)")
	}
	resp, _ := http.Get(srv.URL + "/hooks/sync")
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("GET: %d", resp.StatusCode)
	}
}
