package rossim

import (
	"bufio"
	"errors"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
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
	wmu    sync.Mutex // replies of running jobs interleave with others
	w      *bufio.Writer
	jobs   map[string]*job // running commands by .tag
	authed bool
	who    session
	active string // /user/active key while logged in
	count  int
}

func (s *Sim) handle(nc net.Conn) {
	defer nc.Close()
	c := &conn{s: s, nc: nc, w: bufio.NewWriter(nc), jobs: map[string]*job{}}
	defer func() {
		for _, j := range c.jobs {
			j.stop()
		}
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
	c.wmu.Lock()
	defer c.wmu.Unlock()
	c.w.Write(AppendSentence(nil, words...))
	c.w.Flush()
}

func (c *conn) trap(tag string, t *Trap) {
	if t.Prior != nil {
		c.trapSentence(tag, t.Prior)
	}
	c.trapSentence(tag, t)
	c.send(tag, "!done")
}

func (c *conn) trapSentence(tag string, t *Trap) {
	c.s.nTraps.Add(1)
	words := []string{"!trap"}
	if t.Category != 0 || strings.HasPrefix(t.Message, "no such") {
		words = append(words, "=category="+itoa(t.Category))
	}
	words = append(words, "=message="+t.Message)
	c.send(tag, words...)
}

// serve handles one sentence; false closes the connection.
func (c *conn) serve(words []string) bool {
	s := c.s
	tag := tagOf(words)
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
		c.cancel(tag, words)
		return true
	}
	if isEndlessPing(words) {
		c.startPing(tag, words)
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

// job is a command that runs until cancelled (a ping without count=).
type job struct {
	quit, done chan struct{}
}

func (j *job) stop() {
	close(j.quit)
	<-j.done
}

// isEndlessPing reports a ping that a router runs until /cancel.
func isEndlessPing(words []string) bool {
	if words[0] != "/ping" && words[0] != "/tool/ping" {
		return false
	}
	return !slices.ContainsFunc(words[1:], func(w string) bool { return strings.HasPrefix(w, "=count=") })
}

// startPing runs an endless ping: one reply per interval until cancelled.
// A command that fails validation traps at once, as any other.
func (c *conn) startPing(tag string, words []string) {
	one := append(slices.Clone(words), "=count=1")
	rep, trap := c.execOnce(one)
	if trap != nil {
		c.trap(tag, trap)
		return
	}
	every := time.Second
	for _, w := range words[1:] {
		if v, ok := strings.CutPrefix(w, "=interval="); ok {
			if d, err := ParseDuration(v); err == nil && d > 0 {
				every = d
			}
		}
	}
	j := &job{quit: make(chan struct{}), done: make(chan struct{})}
	c.jobs[tag] = j
	go func() {
		defer close(j.done)
		received := 0
		for seq := 0; ; seq++ {
			if seq > 0 {
				if rep, trap = c.execOnce(one); trap != nil {
					return
				}
			}
			for _, r := range rep.re {
				r["seq"], r["sent"] = strconv.Itoa(seq), strconv.Itoa(seq+1)
				if r["received"] == "1" {
					received++
				}
				r["received"] = strconv.Itoa(received)
				r["packet-loss"] = strconv.Itoa(100 - received*100/(seq+1))
				c.send(tag, rowWords("!re", r)...)
			}
			select {
			case <-j.quit:
				return
			case <-time.After(every):
			}
		}
	}()
}

func (c *conn) execOnce(words []string) (reply, *Trap) {
	c.s.mu.Lock()
	defer c.s.mu.Unlock()
	return c.s.exec(words, c.who)
}

// cancel stops the command tagged =tag= (every running one without it):
// the stopped command ends with !trap category 2 "interrupted", then
// /cancel's !done, then the stopped command's !done — the order
// librouteros's API analysis records from a router.
func (c *conn) cancel(tag string, words []string) {
	var which []string
	if t, ok := argOf(words, "tag"); ok {
		if _, running := c.jobs[t]; running {
			which = append(which, t)
		}
	} else {
		for t := range c.jobs {
			which = append(which, t)
		}
		slices.Sort(which)
	}
	for _, t := range which {
		c.jobs[t].stop()
		delete(c.jobs, t)
		c.s.nTraps.Add(1)
		c.send(t, "!trap", "=category=2", "=message=interrupted")
	}
	c.send(tag, "!done")
	for _, t := range which {
		c.send(t, "!done")
	}
}

func argOf(words []string, k string) (string, bool) {
	for _, w := range words[1:] {
		if v, ok := strings.CutPrefix(w, "="+k+"="); ok {
			return v, true
		}
	}
	return "", false
}
