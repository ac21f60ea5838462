package mikrotik

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/go-routeros/routeros/v3"
	"go.uber.org/zap"
)

// DialFunc opens the transport to the router. It is a seam for tests
// (rossim listens on loopback) and for unusual networks (a jump host).
type DialFunc func(ctx context.Context, network, address string) (net.Conn, error)

// Conn says how to reach a router's API.
type Conn struct {
	Address  string // host:port; 8729 for api-ssl, 8728 for plain API
	Username string
	Password string // never logged
	// TLS selects api-ssl. The certificate is verified against CAFile, or
	// pinned by Fingerprint (SHA-256 of the leaf certificate, hex, colons
	// allowed); InsecureSkipVerify is for labs only.
	TLS                bool
	CAFile             string
	Fingerprint        string
	InsecureSkipVerify bool
	ServerName         string        // for verification with CAFile; default the address host
	Timeout            time.Duration // per API call; default 10s
	Retries            int           // reconnect attempts per call on transport errors; default 2
	Dial               DialFunc      // default net.Dialer.DialContext
	// Tap, when set, wraps the API stream after TLS, so it sees the
	// sentences in clear (tether doctor --capture).
	Tap func(net.Conn) net.Conn
	// ProbeSessions is how many extra API sessions run long read-only
	// probe commands (/tool/ping) side by side; default 4, 1 runs them one
	// after another. They are opened on first use and count against the
	// router's api max-sessions.
	ProbeSessions int
}

// Stats counts API traffic as this client sees it.
type Stats struct {
	RoundTrips int64 // commands sent after login (reads and writes)
	Writes     int64 // add, set, unset, remove, move commands
	Failures   int64 // round trips answered with !trap or !fatal, or lost in transit
	Dials      int64 // connections opened (including reconnects)
}

// client is a serialized, reconnecting RouterOS API session. The library's
// synchronous mode ignores contexts, so every call runs under a connection
// deadline taken from ctx and the per-call timeout.
type client struct {
	cfg Conn
	log *zap.Logger

	mu    sync.Mutex
	nc    net.Conn
	rc    *routeros.Client
	stats Stats

	// probes holds the idle probe sessions; probeAll all of them. Each is
	// a client of its own (serialized, reconnecting), so a ping that waits
	// seconds for replies blocks neither the main session nor other pings.
	// go-routeros' async mode does not fit: it registers a command's tag
	// only after sending it (a fast reply is dropped) and a cancelled call
	// cancels the reader of every command on the connection.
	probes   chan *client
	probeAll []*client
}

// trap is a command the router refused (!trap): the connection is fine and
// the command must not be retried blindly.
type trap struct {
	cmd string
	msg string
}

func (t *trap) Error() string { return fmt.Sprintf("%s: router refused: %s", t.cmd, t.msg) }

// isTrap reports whether err is a router refusal rather than a transport
// failure.
func isTrap(err error) bool {
	var t *trap
	return errors.As(err, &t)
}

// isMissingMenu reports whether err is the router saying the command or menu
// does not exist (CONFORMANCE T1, T2), as opposed to refusing it for another
// reason (T9: not enough permissions).
func isMissingMenu(err error) bool {
	var t *trap
	return errors.As(err, &t) && strings.Contains(t.msg, "no such command")
}

func newClient(cfg Conn, log *zap.Logger) *client {
	c := newSession(cfg, log)
	n := cfg.ProbeSessions
	if n <= 0 {
		n = 4
	}
	c.probes = make(chan *client, n)
	for range n {
		s := newSession(cfg, log)
		c.probeAll = append(c.probeAll, s)
		c.probes <- s
	}
	return c
}

// newSession returns one serialized API session that connects lazily.
func newSession(cfg Conn, log *zap.Logger) *client {
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.Retries <= 0 {
		cfg.Retries = 2
	}
	if cfg.Dial == nil {
		cfg.Dial = (&net.Dialer{}).DialContext
	}
	return &client{cfg: cfg, log: log}
}

// tlsConfig builds the api-ssl verification: a CA file, a pinned leaf
// fingerprint, or (labs) nothing.
func (c *client) tlsConfig() (*tls.Config, error) {
	host, _, err := net.SplitHostPort(c.cfg.Address)
	if err != nil {
		host = c.cfg.Address
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, ServerName: host}
	if c.cfg.ServerName != "" {
		tc.ServerName = c.cfg.ServerName
	}
	switch {
	case c.cfg.Fingerprint != "":
		want, err := hex.DecodeString(strings.ReplaceAll(strings.ToLower(c.cfg.Fingerprint), ":", ""))
		if err != nil || len(want) != sha256.Size {
			return nil, errors.New("routeros fingerprint must be the hex SHA-256 of the router certificate")
		}
		// A pinned leaf replaces chain and name verification: RouterOS
		// certificates are usually self-signed for an address, not a name.
		tc.InsecureSkipVerify = true
		tc.VerifyConnection = func(cs tls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return errors.New("router sent no certificate")
			}
			got := sha256.Sum256(cs.PeerCertificates[0].Raw)
			if !equalBytes(got[:], want) {
				return fmt.Errorf("router certificate fingerprint %x does not match the pinned one", got)
			}
			return nil
		}
	case c.cfg.CAFile != "":
		pem, err := os.ReadFile(c.cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("read routeros ca_file: %w", err)
		}
		pool := x509.NewCertPool()
		if !pool.AppendCertsFromPEM(pem) {
			return nil, fmt.Errorf("routeros ca_file %s holds no PEM certificate", c.cfg.CAFile)
		}
		tc.RootCAs = pool
	case c.cfg.InsecureSkipVerify:
		tc.InsecureSkipVerify = true
	}
	return tc, nil
}

func equalBytes(a, b []byte) bool {
	if len(a) != len(b) {
		return false
	}
	var d byte
	for i := range a {
		d |= a[i] ^ b[i]
	}
	return d == 0
}

// discard keeps the library quiet: its debug log would print the login
// sentence, password included.
type discard struct{}

func (discard) Enabled(context.Context, slog.Level) bool  { return false }
func (discard) Handle(context.Context, slog.Record) error { return nil }
func (d discard) WithAttrs([]slog.Attr) slog.Handler      { return d }
func (d discard) WithGroup(string) slog.Handler           { return d }

// connect dials and logs in; c.mu is held.
func (c *client) connect(ctx context.Context) error {
	c.stats.Dials++
	dctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	nc, err := c.cfg.Dial(dctx, "tcp", c.cfg.Address)
	if err != nil {
		return fmt.Errorf("dial router %s: %w", c.cfg.Address, err)
	}
	if c.cfg.TLS {
		tc, err := c.tlsConfig()
		if err != nil {
			nc.Close()
			return err
		}
		tconn := tls.Client(nc, tc)
		if err := tconn.HandshakeContext(dctx); err != nil {
			nc.Close()
			return fmt.Errorf("tls handshake with router %s: %w", c.cfg.Address, err)
		}
		nc = tconn
	}
	if c.cfg.Tap != nil {
		nc = c.cfg.Tap(nc)
	}
	rc, err := routeros.NewClient(nc)
	if err != nil {
		nc.Close()
		return fmt.Errorf("routeros client: %w", err)
	}
	rc.SetLogHandler(discard{})
	c.setDeadline(ctx, nc)
	if err := rc.Login(c.cfg.Username, c.cfg.Password); err != nil {
		nc.Close()
		var de *routeros.DeviceError
		if errors.As(err, &de) {
			// Never echo the login sentence; the message is the router's.
			return fmt.Errorf("login to router %s as %q: %s", c.cfg.Address, c.cfg.Username, de.Sentence.Map["message"])
		}
		return fmt.Errorf("login to router %s: %w", c.cfg.Address, err)
	}
	c.nc, c.rc = nc, rc
	c.log.Debug("connected to router", zap.String("address", c.cfg.Address), zap.Bool("tls", c.cfg.TLS))
	return nil
}

type callTimeoutKey struct{}

// withCallTimeout lets one slow command (a ping of several packets) run
// longer than the per-call timeout.
func withCallTimeout(ctx context.Context, d time.Duration) context.Context {
	return context.WithValue(ctx, callTimeoutKey{}, d)
}

func (c *client) setDeadline(ctx context.Context, nc net.Conn) {
	t := c.cfg.Timeout
	if d, ok := ctx.Value(callTimeoutKey{}).(time.Duration); ok && d > t {
		t = d
	}
	dl := time.Now().Add(t)
	if d, ok := ctx.Deadline(); ok && d.Before(dl) {
		dl = d
	}
	_ = nc.SetDeadline(dl)
}

// drop closes the connection after a transport error; c.mu is held.
func (c *client) drop() {
	if c.rc != nil {
		_ = c.rc.Close()
	}
	c.nc, c.rc = nil, nil
}

// Close ends the API session and the probe sessions.
func (c *client) Close() error {
	c.mu.Lock()
	c.drop()
	c.mu.Unlock()
	for _, s := range c.probeAll {
		_ = s.Close()
	}
	return nil
}

// runProbe runs a read-only command on an idle probe session, waiting for
// one when all are busy, so probes run side by side with each other and
// with the main session's reads.
func (c *client) runProbe(ctx context.Context, words ...string) (*reply, error) {
	if writeVerbs[verbOf(words[0])] {
		return nil, fmt.Errorf("%s: not a read-only command", words[0])
	}
	var s *client
	select {
	case s = <-c.probes:
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	defer func() { c.probes <- s }()
	return s.run(ctx, words...)
}

// reply is one command's answer: the !re rows and the !done attributes.
type reply struct {
	Re   []map[string]string
	Done map[string]string
}

var writeVerbs = map[string]bool{"add": true, "set": true, "unset": true, "remove": true, "move": true}

func verbOf(cmd string) string { return cmd[strings.LastIndex(cmd, "/")+1:] }

// run sends one command. Reads are retried after reconnecting; a write that
// failed in transit is not retried, because the router may have executed
// it: the caller re-reads and decides (plans and inverses are idempotent).
func (c *client) run(ctx context.Context, words ...string) (*reply, error) {
	c.mu.Lock()
	defer c.mu.Unlock()
	write := writeVerbs[verbOf(words[0])]
	var lastErr error
	for attempt := 0; attempt <= c.cfg.Retries; attempt++ {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if c.rc == nil {
			if err := c.connect(ctx); err != nil {
				lastErr = err
				if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) || strings.Contains(err.Error(), "login to router") {
					return nil, err
				}
				continue
			}
		}
		c.setDeadline(ctx, c.nc)
		c.stats.RoundTrips++
		if write {
			c.stats.Writes++
		}
		r, err := c.rc.RunArgs(words)
		if err == nil {
			out := &reply{Done: map[string]string{}}
			for _, s := range r.Re {
				out.Re = append(out.Re, s.Map)
			}
			if r.Done != nil {
				out.Done = r.Done.Map
			}
			return out, nil
		}
		c.stats.Failures++
		var de *routeros.DeviceError
		if errors.As(err, &de) && de.Sentence.Word == "!trap" {
			return nil, &trap{cmd: words[0], msg: de.Sentence.Map["message"]}
		}
		// !fatal, EOF, timeouts: the session is gone.
		c.drop()
		lastErr = fmt.Errorf("%s: %w", words[0], err)
		if errors.Is(err, io.EOF) {
			lastErr = fmt.Errorf("%s: connection closed by router: %w", words[0], err)
		}
		if write {
			return nil, lastErr
		}
		c.log.Debug("router call failed, reconnecting", zap.String("cmd", words[0]), zap.Error(err))
	}
	return nil, lastErr
}

// Stats sums the main session's and the probe sessions' counters.
func (c *client) Stats() Stats {
	c.mu.Lock()
	st := c.stats
	c.mu.Unlock()
	for _, s := range c.probeAll {
		ps := s.Stats()
		st.RoundTrips += ps.RoundTrips
		st.Writes += ps.Writes
		st.Failures += ps.Failures
		st.Dials += ps.Dials
	}
	return st
}
