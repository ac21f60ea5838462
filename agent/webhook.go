package agent

import (
	"crypto/subtle"
	"net/http"
	"strings"
)

// WebhookHandler forces a sync on POST /hooks/sync when the request carries
// the shared secret as a bearer token (or X-Tether-Secret). Forges can call
// it on push so agents need not wait for the next poll.
func WebhookHandler(secret string, kick chan<- struct{}) http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/hooks/sync", func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodPost {
			w.Header().Set("Allow", http.MethodPost)
			http.Error(w, "use POST", http.StatusMethodNotAllowed)
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
