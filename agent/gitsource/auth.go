package gitsource

import (
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/tether-net/tether/agent/secret"
	"golang.org/x/crypto/ssh"
)

// AuthConfig says how to authenticate to the remote. Which half is used
// depends on the URL: ssh:// and scp-like "user@host:path" URLs use the SSH
// deploy key, https:// URLs use the token; local paths and file:// need
// nothing. Secrets are read from files so they never sit in the agent's main
// config or its environment.
type AuthConfig struct {
	// SSHKeyFile is an unencrypted OpenSSH or PEM private key (a deploy key).
	SSHKeyFile string
	// SSHUser overrides the user; default: the URL's user, else "git".
	SSHUser string
	// KnownHostsFile is an OpenSSH known_hosts file; required for SSH.
	// There is deliberately no way to skip host key checking.
	KnownHostsFile string
	// TokenFile holds an HTTPS access token (surrounding whitespace trimmed),
	// sent as the password of HTTP basic auth.
	TokenFile string
	// Username for HTTPS basic auth; default "tether" (forges ignore it for
	// tokens but require it to be non-empty).
	Username string
}

// Auth errors.
var (
	ErrNoKnownHosts      = errors.New("ssh remote needs a known_hosts file")
	ErrNoSSHKey          = errors.New("ssh remote needs a deploy key file")
	ErrInsecureTransport = errors.New("refusing to send a token over plain http")
)

// AuthMethod builds the go-git transport auth for rawURL. It returns nil (no
// auth) for local remotes and for https remotes without a token.
func (a AuthConfig) AuthMethod(rawURL string) (transport.AuthMethod, error) {
	ep, err := transport.NewEndpoint(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse remote url %q: %w", secret.Redact(rawURL), redactErr(err, rawURL))
	}
	switch ep.Protocol {
	case "file":
		return nil, nil
	case "ssh":
		return a.sshAuth(ep)
	case "https":
		if a.TokenFile == "" {
			return nil, nil
		}
		tok, err := secret.Read(a.TokenFile)
		if err != nil {
			return nil, fmt.Errorf("read token: %w", err)
		}
		tok = strings.TrimSpace(tok) // a token never holds spaces; a pasted one may
		if tok == "" {
			return nil, fmt.Errorf("read token: %s is empty", a.TokenFile)
		}
		user := a.Username
		if user == "" {
			user = "tether"
		}
		return &githttp.BasicAuth{Username: user, Password: tok}, nil
	case "http":
		if a.TokenFile != "" {
			return nil, ErrInsecureTransport
		}
		return nil, nil
	default:
		return nil, fmt.Errorf("remote url %q: unsupported protocol %q", secret.Redact(rawURL), ep.Protocol)
	}
}

func (a AuthConfig) sshAuth(ep *transport.Endpoint) (transport.AuthMethod, error) {
	if a.SSHKeyFile == "" {
		return nil, ErrNoSSHKey
	}
	if a.KnownHostsFile == "" {
		return nil, ErrNoKnownHosts
	}
	pem, err := os.ReadFile(a.SSHKeyFile)
	if err != nil {
		return nil, fmt.Errorf("read deploy key: %w", err)
	}
	signer, err := ssh.ParsePrivateKey(pem)
	if err != nil {
		// Do not wrap: parser errors may quote key material.
		return nil, fmt.Errorf("parse deploy key %s: invalid or passphrase-protected key", a.SSHKeyFile)
	}
	// go-git's known-hosts database also tells the handshake which host key
	// types it can check, so a server offering ed25519 first still matches a
	// known_hosts that lists only its RSA key.
	hosts, err := gitssh.NewKnownHostsDb(a.KnownHostsFile)
	if err != nil {
		return nil, fmt.Errorf("load known_hosts: %w", err)
	}
	user := a.SSHUser
	if user == "" {
		user = ep.User
	}
	if user == "" {
		user = "git"
	}
	port := ep.Port
	if port == 0 {
		port = 22
	}
	hostport := net.JoinHostPort(ep.Host, fmt.Sprint(port))
	return &gitssh.PublicKeys{
		User:   user,
		Signer: signer,
		HostKeyCallbackHelper: gitssh.HostKeyCallbackHelper{
			HostKeyCallback:   hosts.HostKeyCallback(),
			HostKeyAlgorithms: hosts.HostKeyAlgorithms(hostport),
		},
	}, nil
}

// redactErr hides rawURL's userinfo inside err's message while keeping err
// reachable for errors.Is/As.
func redactErr(err error, rawURL string) error {
	if err == nil {
		return nil
	}
	msg := err.Error()
	red := secret.Redact(msg)
	if u, perr := url.Parse(rawURL); perr == nil && u.User != nil {
		if p, ok := u.User.Password(); ok && p != "" {
			red = strings.ReplaceAll(red, p, "***")
		}
	}
	if red == msg {
		return err
	}
	return &redactedError{msg: red, err: err}
}

type redactedError struct {
	msg string
	err error
}

func (e *redactedError) Error() string { return e.msg }
func (e *redactedError) Unwrap() error { return e.err }
