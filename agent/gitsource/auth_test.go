package gitsource

import (
	"context"
	"encoding/pem"
	"errors"
	"net"
	"strings"
	"testing"

	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
	"golang.org/x/crypto/ssh/knownhosts"
)

func TestAuthSSH(t *testing.T) {
	dir := t.TempDir()
	_, priv := sshKey(t)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := writeFile(t, dir, "deploy_key", string(pem.EncodeToMemory(block)))
	host, _ := sshKey(t)
	stranger, _ := sshKey(t)
	kh := writeFile(t, dir, "known_hosts", knownhosts.Line([]string{"git.example.test"}, host.PublicKey())+"\n")

	for _, url := range []string{"ssh://git@git.example.test/net.git", "git@git.example.test:net.git"} {
		am, err := AuthConfig{SSHKeyFile: keyFile, KnownHostsFile: kh}.AuthMethod(url)
		if err != nil {
			t.Fatalf("%s: %v", url, err)
		}
		pk, ok := am.(*gitssh.PublicKeys)
		if !ok {
			t.Fatalf("%s: auth %T", url, am)
		}
		if pk.User != "git" {
			t.Errorf("user %q", pk.User)
		}
		if got := pk.HostKeyAlgorithms; len(got) != 1 || got[0] != ssh.KeyAlgoED25519 {
			t.Errorf("host key algorithms %v", got)
		}
		addr := &net.TCPAddr{IP: net.IPv4(192, 0, 2, 1), Port: 22}
		if err := pk.HostKeyCallback("git.example.test:22", addr, host.PublicKey()); err != nil {
			t.Errorf("known host refused: %v", err)
		}
		if err := pk.HostKeyCallback("git.example.test:22", addr, stranger.PublicKey()); err == nil {
			t.Error("unknown host key accepted")
		}
		if err := pk.HostKeyCallback("other.example.test:22", addr, host.PublicKey()); err == nil {
			t.Error("unknown host accepted")
		}
	}
	am, err := AuthConfig{SSHKeyFile: keyFile, KnownHostsFile: kh, SSHUser: "deploy"}.AuthMethod("ssh://git.example.test:2222/net.git")
	if err != nil || am.(*gitssh.PublicKeys).User != "deploy" {
		t.Fatalf("explicit user: %v %v", am, err)
	}
	if _, err := (AuthConfig{SSHKeyFile: keyFile}).AuthMethod("ssh://git@git.example.test/net.git"); !errors.Is(err, ErrNoKnownHosts) {
		t.Fatalf("no known_hosts: %v", err)
	}
	if _, err := (AuthConfig{KnownHostsFile: kh}).AuthMethod("ssh://git@git.example.test/net.git"); !errors.Is(err, ErrNoSSHKey) {
		t.Fatalf("no key: %v", err)
	}
	garbage := writeFile(t, dir, "garbage", "-----BEGIN OPENSSH PRIVATE KEY-----\nc2VjcmV0LWtleS1tYXRlcmlhbA==\n-----END OPENSSH PRIVATE KEY-----\n")
	_, err = AuthConfig{SSHKeyFile: garbage, KnownHostsFile: kh}.AuthMethod("ssh://git@git.example.test/net.git")
	if err == nil || strings.Contains(err.Error(), "c2VjcmV0") {
		t.Fatalf("bad key: %v", err)
	}
}

func TestAuthHTTPS(t *testing.T) {
	dir := t.TempDir()
	tok := writeFile(t, dir, "token", "  s3cr3t-token\n")
	am, err := AuthConfig{TokenFile: tok}.AuthMethod("https://git.example.test/net.git")
	if err != nil {
		t.Fatal(err)
	}
	ba, ok := am.(*githttp.BasicAuth)
	if !ok || ba.Username != "tether" || ba.Password != "s3cr3t-token" {
		t.Fatalf("auth %#v", am)
	}
	if strings.Contains(ba.String(), "s3cr3t") {
		t.Fatalf("auth String leaks token: %s", ba.String())
	}
	if am, err := (AuthConfig{}).AuthMethod("https://git.example.test/net.git"); am != nil || err != nil {
		t.Fatalf("no token: %v %v", am, err)
	}
	if _, err := (AuthConfig{TokenFile: tok}).AuthMethod("http://git.example.test/net.git"); !errors.Is(err, ErrInsecureTransport) {
		t.Fatalf("plain http with token: %v", err)
	}
	if am, err := (AuthConfig{TokenFile: tok}).AuthMethod("/srv/git/net.git"); am != nil || err != nil {
		t.Fatalf("local: %v %v", am, err)
	}
	if _, err := (AuthConfig{TokenFile: dir + "/missing"}).AuthMethod("https://git.example.test/net.git"); err == nil {
		t.Fatal("missing token file: no error")
	}
}

// An unreachable remote with credentials in its URL must not leak them in
// the error.
func TestErrorsAreRedacted(t *testing.T) {
	_, err := Open(context.Background(), Config{
		URL:      "https://user:tok3n@127.0.0.1:1/net.git",
		StateDir: t.TempDir(),
	})
	if err == nil {
		t.Fatal("no error")
	}
	if strings.Contains(err.Error(), "tok3n") {
		t.Fatalf("error leaks the token: %v", err)
	}
}
