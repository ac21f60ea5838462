// Package gittest serves bare repositories with git's own smart-HTTP CGI
// (git http-backend) on loopback, counting the bytes and requests that
// cross the socket, for tests and benchmarks of the agent's git traffic.
package gittest

import (
	"net"
	"net/http"
	"net/http/cgi"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// Server is git http-backend behind net/http/cgi on 127.0.0.1.
type Server struct {
	// URL is the base URL; a repository at Root/name.git is URL+"/name.git".
	URL string
	// Root is the directory served (GIT_PROJECT_ROOT).
	Root string

	read, written, requests atomic.Int64
}

// Options adjust the served protocol.
type Options struct {
	// IgnoreV2 drops the client's Git-Protocol header, as a server (or a
	// proxy in front of it) that predates protocol v2 does.
	IgnoreV2 bool
	// PushNeedsAdvertisement answers 400 to a git-receive-pack POST not
	// preceded by a receive-pack ref advertisement (GET info/refs), like a
	// server that keeps per-push state; one request at a time.
	PushNeedsAdvertisement bool
}

// Counts are bytes and requests seen on the server's sockets.
type Counts struct {
	Bytes    int64 // request + response bytes, HTTP headers included
	Requests int64
}

// Serve starts git http-backend for root; it stops when tb ends. Pushes are
// allowed without authentication (http.receivepack).
func Serve(tb testing.TB, root string, opt Options) *Server {
	tb.Helper()
	out, err := exec.Command("git", "--exec-path").Output()
	if err != nil {
		tb.Fatalf("git --exec-path: %v", err)
	}
	backend := filepath.Join(strings.TrimSpace(string(out)), "git-http-backend")
	s := &Server{Root: root}
	h := &cgi.Handler{
		Path: backend,
		Env: []string{
			"GIT_PROJECT_ROOT=" + root,
			"GIT_HTTP_EXPORT_ALL=1",
			"GIT_CONFIG_NOSYSTEM=1",
			"HOME=" + root,
			"GIT_CONFIG_COUNT=1",
			"GIT_CONFIG_KEY_0=http.receivepack",
			"GIT_CONFIG_VALUE_0=true",
		},
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	var advertised atomic.Bool
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		if opt.IgnoreV2 {
			r.Header.Del("Git-Protocol")
		}
		if opt.PushNeedsAdvertisement {
			switch {
			case r.Method == http.MethodGet && r.URL.Query().Get("service") == "git-receive-pack":
				advertised.Store(true)
			case r.Method == http.MethodPost && strings.HasSuffix(r.URL.Path, "/git-receive-pack") && !advertised.Swap(false):
				http.Error(w, "push without advertisement", http.StatusBadRequest)
				return
			}
		}
		h.ServeHTTP(w, r)
	})}
	go srv.Serve(&countingListener{Listener: ln, s: s})
	tb.Cleanup(func() { srv.Close() })
	s.URL = "http://" + ln.Addr().String()
	return s
}

// Counts returns the totals so far.
func (s *Server) Counts() Counts {
	return Counts{Bytes: s.read.Load() + s.written.Load(), Requests: s.requests.Load()}
}

// Add is the sum a+b.
func (a Counts) Add(b Counts) Counts {
	return Counts{Bytes: a.Bytes + b.Bytes, Requests: a.Requests + b.Requests}
}

// Sub is the difference a-b.
func (a Counts) Sub(b Counts) Counts {
	return Counts{Bytes: a.Bytes - b.Bytes, Requests: a.Requests - b.Requests}
}

type countingListener struct {
	net.Listener
	s *Server
}

func (l *countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return &countingConn{Conn: c, s: l.s}, nil
}

type countingConn struct {
	net.Conn
	s *Server
}

func (c *countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.s.read.Add(int64(n))
	return n, err
}

func (c *countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.s.written.Add(int64(n))
	return n, err
}
