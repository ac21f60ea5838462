package webhook

import (
	"bytes"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"
)

func TestWebhook(t *testing.T) {
	kick := make(chan struct{}, 1)
	srv := httptest.NewServer(Handler("s3cret", kick))
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

// TestWebhookBoundsClients: an oversized body is refused without a sync, and
// a client that sends headers and then stalls is disconnected by the read
// timeout instead of holding the connection.
func TestWebhookBoundsClients(t *testing.T) {
	kick := make(chan struct{}, 1)
	srv := newServer("127.0.0.1:0", Handler("s3cret", kick), 400*time.Millisecond)
	ln, err := net.Listen("tcp", srv.Addr)
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(ln)
	defer srv.Close()
	url := "http://" + ln.Addr().String() + "/hooks/sync"

	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(make([]byte, maxBody+1)))
	req.Header.Set("X-Tether-Secret", "s3cret")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusRequestEntityTooLarge || len(kick) != 0 {
		t.Fatalf("oversized body: status %d, %d syncs", resp.StatusCode, len(kick))
	}

	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	fmt.Fprintf(c, "POST /hooks/sync HTTP/1.1\r\nHost: x\r\nX-Tether-Secret: s3cret\r\nContent-Length: 100\r\n\r\nabc")
	c.SetReadDeadline(time.Now().Add(30 * time.Second)) // a bound for the test, far above the server's
	_, err = io.ReadAll(c)
	if ne, ok := err.(net.Error); ok && ne.Timeout() {
		t.Fatal("the server kept a stalled client's connection open")
	}
	if len(kick) != 0 {
		t.Fatal("a truncated request triggered a sync")
	}
}
