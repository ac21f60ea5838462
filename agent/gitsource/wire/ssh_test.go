package wire

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"golang.org/x/crypto/ssh"
)

// sshGit is an SSH server on loopback that runs git's own upload-pack and
// receive-pack under root for exec requests, passing GIT_PROTOCOL from the
// session's env requests unless acceptEnv is false (sshd's default
// AcceptEnv does not list it).
func sshGit(t *testing.T, root string, acceptEnv bool) (port int, client gitssh.AuthMethod) {
	_, hostKey, _ := ed25519.GenerateKey(rand.Reader)
	hostSigner, _ := ssh.NewSignerFromKey(hostKey)
	_, userKey, _ := ed25519.GenerateKey(rand.Reader)
	userSigner, _ := ssh.NewSignerFromKey(userKey)
	cfg := &ssh.ServerConfig{PublicKeyCallback: func(_ ssh.ConnMetadata, k ssh.PublicKey) (*ssh.Permissions, error) {
		if string(k.Marshal()) != string(userSigner.PublicKey().Marshal()) {
			return nil, fmt.Errorf("unknown key")
		}
		return nil, nil
	}}
	cfg.AddHostKey(hostSigner)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go serveSSH(c, cfg, root, acceptEnv)
		}
	}()
	auth := &gitssh.PublicKeys{User: "git", Signer: userSigner}
	auth.HostKeyCallback = ssh.FixedHostKey(hostSigner.PublicKey())
	return ln.Addr().(*net.TCPAddr).Port, auth
}

func serveSSH(c net.Conn, cfg *ssh.ServerConfig, root string, acceptEnv bool) {
	_, chans, reqs, err := ssh.NewServerConn(c, cfg)
	if err != nil {
		return
	}
	go ssh.DiscardRequests(reqs)
	for nc := range chans {
		ch, creqs, err := nc.Accept()
		if err != nil {
			continue
		}
		go func() {
			defer ch.Close()
			env := []string{"HOME=" + root, "GIT_CONFIG_NOSYSTEM=1", "PATH=" + os.Getenv("PATH")}
			for req := range creqs {
				switch req.Type {
				case "env":
					var kv struct{ K, V string }
					ssh.Unmarshal(req.Payload, &kv)
					ok := acceptEnv && kv.K == "GIT_PROTOCOL"
					if ok {
						env = append(env, kv.K+"="+kv.V)
					}
					req.Reply(ok, nil)
				case "exec":
					var ex struct{ Cmd string }
					ssh.Unmarshal(req.Payload, &ex)
					svc, path, _ := strings.Cut(ex.Cmd, " ")
					path = strings.Trim(path, "'")
					req.Reply(true, nil)
					cmd := exec.Command("git", strings.TrimPrefix(svc, "git-"), filepath.Join(root, path))
					cmd.Env, cmd.Stdin, cmd.Stdout, cmd.Stderr = env, ch, ch, io.Discard
					code := 0
					if err := cmd.Run(); err != nil {
						code = 1
					}
					var st [4]byte
					binary.BigEndian.PutUint32(st[:], uint32(code))
					ch.SendRequest("exit-status", false, st[:])
					return
				default:
					req.Reply(false, nil)
				}
			}
		}()
	}
}

// Over ssh, a server that passes GIT_PROTOCOL on is asked in v2; one that
// does not gets the v0 path; both list, fetch and push.
func TestSSH(t *testing.T) {
	ctx := context.Background()
	for _, acceptEnv := range []bool{true, false} {
		t.Run(fmt.Sprintf("accept-env=%v", acceptEnv), func(t *testing.T) {
			root := t.TempDir()
			repo := remoteRepo(t, root, 5, 300)
			main := plumbing.NewHash(runGit(t, repo, nil, "rev-parse", "main"))
			port, auth := sshGit(t, root, acceptEnv)
			r, err := New(fmt.Sprintf("ssh://git@127.0.0.1:%d/net.git", port), auth, Options{})
			if err != nil {
				t.Fatal(err)
			}
			for i := 0; i < 2; i++ {
				refs, err := r.Refs(ctx, "refs/heads/main", "refs/notes/tether/site9")
				if err != nil || refs["refs/heads/main"] != main || len(refs) != 2 {
					t.Fatalf("refs %v %v", refs, err)
				}
			}
			local := clone(t)
			if err := r.Fetch(ctx, local.Storer, Update{"refs/heads/main", "refs/remotes/origin/main", main}); err != nil {
				t.Fatal(err)
			}
			next := plumbing.NewHash(commitOnRemote(t, repo, 1))
			if err := r.Fetch(ctx, local.Storer, Update{"refs/heads/main", "refs/remotes/origin/main", next}); err != nil {
				t.Fatal(err)
			}
			if _, err := local.CommitObject(next); err != nil {
				t.Fatal(err)
			}
			c := commitOn(t, local, next, "note")
			if err := r.Push(ctx, local.Storer, "refs/notes/tether/ssh", plumbing.ZeroHash, c); err != nil {
				t.Fatalf("push: %v", err)
			}
			if got := runGit(t, repo, nil, "rev-parse", "refs/notes/tether/ssh"); got != c.String() {
				t.Fatalf("remote ref %s", got)
			}
			st := r.Stats()
			if acceptEnv && (st.V2Lists != 2 || st.V2Fetches != 2 || st.FallbackLists+st.FallbackFetches != 0) {
				t.Fatalf("stats %+v: want v2 lists and fetches", st)
			}
			if !acceptEnv && (st.V2Lists+st.V2Fetches != 0 || st.FallbackLists != 2 || st.FallbackFetches != 2) {
				t.Fatalf("stats %+v: want the v0 path", st)
			}
		})
	}
}
