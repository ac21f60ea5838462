package gitsource

import (
	"bytes"
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/ProtonMail/go-crypto/openpgp"
	"github.com/ProtonMail/go-crypto/openpgp/armor"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/hiddeco/sshsig"
	"golang.org/x/crypto/ssh"
)

// goGitCommit commits a file in the fixture's work tree with go-git, so the
// commit can carry a go-git made signature.
func (f *fixture) goGitCommit(t *testing.T, name, content string, opts git.CommitOptions) plumbing.Hash {
	t.Helper()
	f.write(t, name, content)
	repo, err := git.PlainOpen(f.work)
	if err != nil {
		t.Fatal(err)
	}
	wt, err := repo.Worktree()
	if err != nil {
		t.Fatal(err)
	}
	f.n++
	sig := &object.Signature{Name: "Signer", Email: "signer@example.test", When: time.Date(2026, 1, 1, 0, 0, f.n, 0, time.UTC)}
	opts.Author, opts.Committer = sig, sig
	h, err := wt.Commit("signed "+name, &opts)
	if err != nil {
		t.Fatal(err)
	}
	return h
}

func pgpKey(t *testing.T, name string) (*openpgp.Entity, string) {
	t.Helper()
	e, err := openpgp.NewEntity(name, "", name+"@example.test", nil)
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	w, err := armor.Encode(&buf, openpgp.PublicKeyType, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Serialize(w); err != nil {
		t.Fatal(err)
	}
	w.Close()
	return e, buf.String()
}

type sshCommitSigner struct{ s ssh.Signer }

func (x sshCommitSigner) Sign(m io.Reader) ([]byte, error) {
	sig, err := sshsig.Sign(m, x.s, sshsig.HashSHA512, "git")
	if err != nil {
		return nil, err
	}
	return sshsig.Armor(sig), nil
}

func sshKey(t *testing.T) (ssh.Signer, ed25519.PrivateKey) {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	s, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	return s, priv
}

func writeFile(t *testing.T, dir, name, content string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func verifierFor(t *testing.T, cfg TrustConfig) *Verifier {
	t.Helper()
	v, err := NewVerifier(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return v
}

func TestVerifyPGP(t *testing.T) {
	f := newFixture(t)
	allowed, allowedPub := pgpKey(t, "allowed")
	other, _ := pgpKey(t, "other")
	unsigned := f.head(t)
	good := f.goGitCommit(t, "net/a.toml", "a = 1\n", git.CommitOptions{SignKey: allowed})
	bad := f.goGitCommit(t, "net/b.toml", "b = 1\n", git.CommitOptions{SignKey: other})
	f.push(t)
	s := openSource(t, f.remote)
	ctx := context.Background()
	keyring := writeFile(t, t.TempDir(), "keyring.asc", allowedPub)
	v := verifierFor(t, TrustConfig{Policy: SignHead, PGPKeyRingFile: keyring})
	repo := s.Repository()

	if err := v.Verify(ctx, repo, unsigned, good); err != nil {
		t.Fatalf("allowed key: %v", err)
	}
	if err := v.Verify(ctx, repo, good, bad); !errors.Is(err, ErrUnknownSigner) {
		t.Fatalf("other key: %v, want ErrUnknownSigner", err)
	}
	if err := v.Verify(ctx, repo, plumbing.ZeroHash, unsigned); !errors.Is(err, ErrUnsigned) {
		t.Fatalf("unsigned: %v, want ErrUnsigned", err)
	}
	// SignAll over unsigned..bad also trips on bad; over unsigned..good it
	// checks only good.
	va := verifierFor(t, TrustConfig{Policy: SignAll, PGPKeyRingFile: keyring})
	if err := va.Verify(ctx, repo, unsigned, good); err != nil {
		t.Fatalf("all, unsigned..good: %v", err)
	}
	if err := va.Verify(ctx, repo, unsigned, bad); !errors.Is(err, ErrUnknownSigner) {
		t.Fatalf("all, unsigned..bad: %v", err)
	}

	// A tampered commit keeps its signature but not its payload.
	c, err := repo.CommitObject(good)
	if err != nil {
		t.Fatal(err)
	}
	c.Message = "tampered\n"
	if err := v.VerifyCommit(c); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered: %v, want ErrBadSignature", err)
	}
	// Signatures are required: an empty policy config is refused.
	if _, err := NewVerifier(TrustConfig{Policy: SignHead}); err == nil {
		t.Fatal("signatures required without signers: no error")
	}
}

func TestVerifySSHGoGit(t *testing.T) {
	f := newFixture(t)
	allowed, _ := sshKey(t)
	other, _ := sshKey(t)
	good := f.goGitCommit(t, "net/a.toml", "a = 1\n", git.CommitOptions{Signer: sshCommitSigner{allowed}})
	bad := f.goGitCommit(t, "net/b.toml", "b = 1\n", git.CommitOptions{Signer: sshCommitSigner{other}})
	f.push(t)
	s := openSource(t, f.remote)
	ctx := context.Background()
	signers := writeFile(t, t.TempDir(), "allowed_signers",
		"# ops team\nops@example.test "+string(ssh.MarshalAuthorizedKey(allowed.PublicKey())))
	v := verifierFor(t, TrustConfig{Policy: SignHead, AllowedSignersFile: signers})
	repo := s.Repository()

	if err := v.Verify(ctx, repo, plumbing.ZeroHash, good); err != nil {
		t.Fatalf("allowed key: %v", err)
	}
	if err := v.Verify(ctx, repo, good, bad); !errors.Is(err, ErrUnknownSigner) {
		t.Fatalf("other key: %v, want ErrUnknownSigner", err)
	}
	c, _ := repo.CommitObject(good)
	c.Message = "tampered\n"
	if err := v.VerifyCommit(c); !errors.Is(err, ErrBadSignature) {
		t.Fatalf("tampered: %v, want ErrBadSignature", err)
	}
	// A key restricted to another namespace is not allowed for git.
	ns := writeFile(t, t.TempDir(), "allowed_signers",
		`ops@example.test namespaces="file" `+string(ssh.MarshalAuthorizedKey(allowed.PublicKey())))
	vns := verifierFor(t, TrustConfig{Policy: SignHead, AllowedSignersFile: ns})
	if err := vns.Verify(ctx, repo, plumbing.ZeroHash, good); !errors.Is(err, ErrUnknownSigner) {
		t.Fatalf("namespace-restricted key: %v", err)
	}
}

// TestVerifySSHGitCLI checks interop with signatures made by git itself
// (gpg.format=ssh), which sign git's exact commit bytes.
func TestVerifySSHGitCLI(t *testing.T) {
	if _, err := exec.LookPath("ssh-keygen"); err != nil {
		t.Skip("ssh-keygen not installed")
	}
	f := newFixture(t)
	dir := t.TempDir()
	signer, priv := sshKey(t)
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := writeFile(t, dir, "id_ed25519", string(pem.EncodeToMemory(block)))
	writeFile(t, dir, "id_ed25519.pub", string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	signed := f.commit(t, "net/a.toml", "a = 1\n", "ssh signed by git",
		"-c", "gpg.format=ssh", "-c", "user.signingkey="+keyFile, "-c", "commit.gpgsign=true")
	f.push(t)
	s := openSource(t, f.remote)
	signers := writeFile(t, dir, "allowed_signers", "ops@example.test "+string(ssh.MarshalAuthorizedKey(signer.PublicKey())))
	v := verifierFor(t, TrustConfig{Policy: SignHead, AllowedSignersFile: signers})
	c, err := s.Repository().CommitObject(signed)
	if err != nil {
		t.Fatal(err)
	}
	if c.PGPSignature == "" {
		t.Fatal("git did not sign the commit")
	}
	if err := v.VerifyCommit(c); err != nil {
		t.Fatalf("git-made ssh signature: %v", err)
	}
	other, _ := sshKey(t)
	ov := verifierFor(t, TrustConfig{Policy: SignHead, AllowedSignersFile: writeFile(t, dir, "other",
		"x@example.test "+string(ssh.MarshalAuthorizedKey(other.PublicKey())))})
	if err := ov.VerifyCommit(c); !errors.Is(err, ErrUnknownSigner) {
		t.Fatalf("other signer list: %v", err)
	}
}

func TestParseAllowedSigners(t *testing.T) {
	k, _ := sshKey(t)
	pub := string(bytes.TrimSpace(ssh.MarshalAuthorizedKey(k.PublicKey())))
	in := "# comment\n\na@x,b@x " + pub + " laptop\nc@x namespaces=\"git,file\" " + pub + "\n"
	got, err := ParseAllowedSigners([]byte(in))
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 || len(got[0].Principals) != 2 || got[1].Namespaces[1] != "file" {
		t.Fatalf("parsed %+v", got)
	}
	for _, bad := range []string{
		"a@x cert-authority " + pub,
		"a@x valid-after=\"20260101\" " + pub,
		"a@x ssh-ed25519",
		"a@x ssh-ed25519 AAAAnotbase64!!",
	} {
		if _, err := ParseAllowedSigners([]byte(bad)); err == nil {
			t.Errorf("%q: no error", bad)
		}
	}
}
