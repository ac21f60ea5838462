package rossim

import (
	"bufio"
	"errors"
	"net"
	"slices"
	"strings"
	"time"
)

// Faults injects failures into the API.
type Faults struct {
	// DropAfter closes a connection instead of answering its command
	// number DropAfter+1 (login not counted); 0 disables. The dropped
	// command is not executed. DropAfterGlobal counts across connections.
	DropAfter       int
	DropAfterGlobal int
	// Traps make matching commands fail with a !trap without executing.
	Traps []TrapRule
	// Latency delays every reply.
	Latency time.Duration
}

// TrapRule fails commands on Menu (e.g. "/ip/firewall/filter") with
// Command (e.g. "add"; "" = any). Times limits how often (0 = always).
type TrapRule struct {
	Menu, Command string
	Message       string // default "rossim: injected failure"
	Times         int
}

// Start listens on addr (e.g. "127.0.0.1:0") and serves in the background.
func (s *Sim) Start(addr string) error {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return err
	}
	s.Serve(ln)
	return nil
}

// Serve serves connections from ln in the background until Close.
func (s *Sim) Serve(ln net.Listener) {
	s.netMu.Lock()
	s.ln = ln
	s.netMu.Unlock()
	s.serving.Add(1)
	go func() {
		defer s.serving.Done()
		for {
			conn, err := ln.Accept()
			if err != nil {
				return
			}
			s.netMu.Lock()
			if s.closed {
				s.netMu.Unlock()
				conn.Close()
				return
			}
			s.conns[conn] = struct{}{}
			s.netMu.Unlock()
			s.nConns.Add(1)
			s.serving.Add(1)
			go func() {
				defer s.serving.Done()
				s.handle(conn)
				s.netMu.Lock()
				delete(s.conns, conn)
				s.netMu.Unlock()
			}()
		}
	}()
}

// Addr returns the listening address ("127.0.0.1:port"), or "" before Start.
func (s *Sim) Addr() string {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	if s.ln == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Listener returns the listener being served, or nil before Start/Serve.
func (s *Sim) Listener() net.Listener {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	return s.ln
}

// Close stops listening, closes every connection, waits for handlers and
// closes the Dataplane, if any.
func (s *Sim) Close() error {
	s.netMu.Lock()
	s.closed = true
	var err error
	if s.ln != nil {
		err = s.ln.Close()
	}
	for c := range s.conns {
		c.Close()
	}
	s.netMu.Unlock()
	s.serving.Wait()
	if errors.Is(err, net.ErrClosed) {
		err = nil
	}
	return errors.Join(err, s.closeDataplane())
}

// DropConnections closes every open API connection (the listener stays up),
// like a router reboot or a path failure.
func (s *Sim) DropConnections() {
	s.netMu.Lock()
	defer s.netMu.Unlock()
	for c := range s.conns {
		c.Close()
	}
}

// conn is one API session. Commands are executed in arrival order; replies
// carry the command's .tag, so tagged (async) clients work.
type conn struct {
	s      *Sim
	nc     net.Conn
	w      *bufio.Writer
	authed bool
	who    session
	active string // /user/active key while logged in
	count  int
}

func (s *Sim) handle(nc net.Conn) {
	defer nc.Close()
	c := &conn{s: s, nc: nc, w: bufio.NewWriter(nc)}
	defer func() {
		if c.active != "" {
			s.logoutActive(c.active)
		}
	}()
	r := bufio.NewReader(nc)
	for {
		words, err := ReadSentence(r)
		if err != nil {
			return
		}
		if len(words) == 0 {
			continue // empty sentence: ignored per protocol
		}
		if !c.serve(words) {
			return
		}
	}
}

func tagOf(words []string) string {
	for _, w := range words[1:] {
		if t, ok := strings.CutPrefix(w, ".tag="); ok {
			return t
		}
	}
	return ""
}

// send writes one reply sentence, adding .tag when the command had one.
func (c *conn) send(tag string, words ...string) {
	if tag != "" {
		words = append(words, ".tag="+tag)
	}
	c.w.Write(AppendSentence(nil, words...))
}

func (c *conn) trap(tag string, t *Trap) {
	c.s.nTraps.Add(1)
	words := []string{"!trap"}
	if t.Category != 0 || strings.HasPrefix(t.Message, "no such") {
		words = append(words, "=category="+itoa(t.Category))
	}
	words = append(words, "=message="+t.Message)
	c.send(tag, words...)
	c.send(tag, "!done")
}

// serve handles one sentence; false closes the connection.
func (c *conn) serve(words []string) bool {
	s := c.s
	tag := tagOf(words)
	defer c.w.Flush()
	switch words[0] {
	case "/login":
		return c.login(tag, words)
	case "/quit":
		c.send(tag, "!fatal", "session terminated on request")
		return false
	}
	if !c.authed {
		c.send("", "!fatal", "not logged in")
		return false
	}
	s.nCmds.Add(1)
	c.count++
	s.mu.Lock()
	s.global++
	f := s.faults
	drop := (f.DropAfter > 0 && c.count > f.DropAfter) || (f.DropAfterGlobal > 0 && s.global > int64(f.DropAfterGlobal))
	s.mu.Unlock()
	if drop {
		return false
	}
	if f.Latency > 0 {
		time.Sleep(f.Latency)
	}
	if words[0] == "/cancel" {
		// Every command completes before the next is read, so there is
		// never anything running to cancel.
		c.send(tag, "!done")
		return true
	}
	if t := s.injectedTrap(words[0]); t != nil {
		c.trap(tag, t)
		return true
	}
	s.mu.Lock()
	rep, trap := s.exec(words, c.who)
	s.mu.Unlock()
	if trap != nil {
		c.trap(tag, trap)
		return true
	}
	for _, r := range rep.re {
		c.send(tag, rowWords("!re", r)...)
	}
	if len(rep.re) == 0 && isPrint(words[0]) {
		c.send(tag, "!empty") // RouterOS 7.18+ says so before !done
	}
	c.send(tag, rowWords("!done", rep.done)...)
	return true
}

func isPrint(cmd string) bool {
	return strings.HasSuffix(cmd, "/print") || strings.HasSuffix(cmd, "/getall")
}

// rowWords renders attributes with .id first and the rest sorted, so
// replies are deterministic.
func rowWords(head string, r map[string]string) []string {
	words := []string{head}
	if id, ok := r[".id"]; ok {
		words = append(words, "=.id="+id)
	}
	keys := make([]string, 0, len(r))
	for k := range r {
		if k != ".id" {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		words = append(words, "="+k+"="+r[k])
	}
	return words
}

// login implements the post-6.43 plain login. A failed login is a !trap
// then !done, and the connection stays open, as on RouterOS 7.
func (c *conn) login(tag string, words []string) bool {
	var name, pass string
	for _, w := range words[1:] {
		if v, ok := strings.CutPrefix(w, "=name="); ok {
			name = v
		}
		if v, ok := strings.CutPrefix(w, "=password="); ok {
			pass = v
		}
	}
	who, trap := c.s.checkLogin(name, pass, c.nc.RemoteAddr())
	if trap != nil {
		c.trap(tag, trap)
		return true
	}
	if c.active != "" {
		c.s.logoutActive(c.active)
	}
	c.authed, c.who = true, who
	c.active = c.s.loginActive(who, c.nc.RemoteAddr())
	c.send(tag, "!done")
	return true
}

func (s *Sim) injectedTrap(cmd string) *Trap {
	s.mu.Lock()
	defer s.mu.Unlock()
	i := strings.LastIndex(cmd, "/")
	menu, verb := cmd[:i], cmd[i+1:]
	for n, r := range s.faults.Traps {
		if r.Menu != menu || (r.Command != "" && r.Command != verb) {
			continue
		}
		if r.Times > 0 && s.trapHits[n] >= r.Times {
			continue
		}
		s.trapHits[n]++
		msg := r.Message
		if msg == "" {
			msg = "rossim: injected failure"
		}
		return &Trap{Category: 4, Message: msg}
	}
	return nil
}
