package wire

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"strings"
	"sync"

	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// sshRemote asks for protocol v2 over SSH by sending GIT_PROTOCOL in the
// session's environment. sshd passes it on only if its AcceptEnv allows
// GIT_PROTOCOL; otherwise git-upload-pack answers in v0, which is
// remembered and left to go-git.
type sshRemote struct {
	ep   *transport.Endpoint
	auth gitssh.AuthMethod

	mu     sync.Mutex
	probed bool
	isV2   bool
}

var errNoV2 = errors.New("server answered in protocol v0")

func (s *sshRemote) knownV0() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.probed && !s.isV2
}

func (s *sshRemote) remember(v2 bool) {
	s.mu.Lock()
	s.probed, s.isV2 = true, v2
	s.mu.Unlock()
}

// command runs one v2 command in a new git-upload-pack session and hands
// the response to read. errNoV2 means the server spoke v0.
func (s *sshRemote) command(ctx context.Context, cmd string, args []string, read func(*bufio.Reader) error) error {
	cfg, err := s.auth.ClientConfig()
	if err != nil {
		return err
	}
	port := s.ep.Port
	if port == 0 {
		port = 22
	}
	if cfg.User == "" {
		cfg.User = s.ep.User
	}
	addr := net.JoinHostPort(s.ep.Host, strconv.Itoa(port))
	conn, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	stop := context.AfterFunc(ctx, func() { conn.Close() })
	defer stop()
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err != nil {
		conn.Close()
		return err
	}
	client := ssh.NewClient(c, chans, reqs)
	defer client.Close()
	sess, err := client.NewSession()
	if err != nil {
		return err
	}
	defer sess.Close()
	_ = sess.Setenv("GIT_PROTOCOL", "version=2") // refused: the server answers in v0
	stdin, err := sess.StdinPipe()
	if err != nil {
		return err
	}
	stdout, err := sess.StdoutPipe()
	if err != nil {
		return err
	}
	if err := sess.Start("git-upload-pack '" + strings.ReplaceAll(s.ep.Path, "'", `'\''`) + "'"); err != nil {
		return err
	}
	r := bufio.NewReader(stdout)
	caps, v2, err := readV2Caps(r)
	if err != nil {
		return err
	}
	if !v2 {
		// A v0 advertisement: say we want nothing and hang up.
		io.WriteString(stdin, flushPkt)
		stdin.Close()
		s.remember(false)
		return errNoV2
	}
	format, hasFormat := caps["object-format"]
	if !has(caps, "ls-refs") || !has(caps, "fetch") || (hasFormat && format != "sha1") {
		stdin.Close()
		s.remember(false)
		return errNoV2
	}
	s.remember(true)
	var req strings.Builder
	writePkt(&req, "command="+cmd+"\n")
	writePkt(&req, "agent="+userAgent+"\n")
	if hasFormat {
		writePkt(&req, "object-format=sha1\n")
	}
	req.WriteString(delimPkt)
	for _, a := range args {
		writePkt(&req, a+"\n")
	}
	req.WriteString(flushPkt)
	if _, err := io.WriteString(stdin, req.String()); err != nil {
		return err
	}
	err = read(r)
	stdin.Close() // no further command: upload-pack exits
	return err
}

func (s *sshRemote) lsRefs(ctx context.Context, names []plumbing.ReferenceName) (map[plumbing.ReferenceName]plumbing.Hash, error) {
	var out map[plumbing.ReferenceName]plumbing.Hash
	err := s.command(ctx, "ls-refs", lsRefsArgs(names), func(r *bufio.Reader) error {
		var err error
		out, err = readLsRefs(r, names)
		return err
	})
	return out, err
}

func (s *sshRemote) fetch(ctx context.Context, st storer.Storer, wants, haves []plumbing.Hash) error {
	return s.command(ctx, "fetch", fetchArgs(wants, haves), func(r *bufio.Reader) error {
		if err := readPackResponse(ctx, r, st, wants); err != nil {
			return fmt.Errorf("fetch: %w", err)
		}
		return nil
	})
}
