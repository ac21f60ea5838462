// Package webhook lets a forge wake the agent on push: an authenticated POST
// schedules a sync at once instead of at the next poll.
package webhook

import (
	"crypto/subtle"
	"io"
	"net/http"
	"strings"
	"time"
)

// maxBody bounds what a caller may send: forges post their push
// payload, which tether does not need, so it is read and dropped.
const maxBody = 1 << 20

// NewServer serves Handler on addr with every timeout set, so
// a client that trickles headers or a body, or never reads the answer, holds
// a connection for seconds, not forever.
func NewServer(addr, secret string, kick chan<- struct{}) *http.Server {
	return newServer(addr, Handler(secret, kick), 10*time.Second)
}

func newServer(addr string, h http.Handler, read time.Duration) *http.Server {
	return &http.Server{
		Addr:              addr,
		Handler:           h,
		ReadHeaderTimeout: read / 2,
		ReadTimeout:       read,
		WriteTimeout:      read,
		IdleTimeout:       6 * read,
		MaxHeaderBytes:    16 << 10,
	}
}

// Handler forces a sync on POST /hooks/sync when the request carries
// the shared secret as a bearer token (or X-Tether-Secret). Forges can call
// it on push so agents need not wait for the next poll.
func Handler(secret string, kick chan<- struct{}) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/hooks/sync", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
			return
		}
		if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, maxBody)); err != nil {
			http.Error(w, "request body too large or unreadable", http.StatusRequestEntityTooLarge)
			return
		}
		got := r.Header.Get("X-Tether-Secret")
		if auth := r.Header.Get("Authorization"); strings.HasPrefix(auth, "Bearer ") {
			got = strings.TrimPrefix(auth, "Bearer ")
		}
		if secret == "" || subtle.ConstantTimeCompare([]byte(got), []byte(secret)) != 1 {
			http.Error(w, "forbidden", http.StatusForbidden)
			return
		}
		select {
		case kick <- struct{}{}:
		default: // a sync is already pending
		}
		w.WriteHeader(http.StatusAccepted)
		_, _ = w.Write([]byte("sync scheduled\n"))
	})
	return mux
}
