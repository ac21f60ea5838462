package gitsource

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"strings"

	pgperrors "github.com/ProtonMail/go-crypto/openpgp/errors"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/hiddeco/sshsig"
	"github.com/tether-net/tether/agent/gitsource/wire"
	"golang.org/x/crypto/ssh"
)

// Trust errors. Match them with errors.Is; the concrete error is a
// *TrustError naming the commit.
var (
	// ErrNotFastForward: the new head does not descend from the last
	// accepted commit (a rewind or a force-push).
	ErrNotFastForward = errors.New("not a fast-forward of the accepted commit")
	// ErrUnsigned: a signature is required and the commit has none.
	ErrUnsigned = errors.New("commit is not signed")
	// ErrUnknownSigner: the commit is signed by a key not in the allowed
	// signers.
	ErrUnknownSigner = errors.New("commit signed by a key that is not allowed")
	// ErrBadSignature: the signature does not verify (tampered commit,
	// wrong namespace, malformed or unsupported signature).
	ErrBadSignature = errors.New("bad commit signature")
)

// TrustError is a refusal of one commit.
type TrustError struct {
	Commit plumbing.Hash
	Err    error // one of the Err* sentinels
	Detail string
}

func (e *TrustError) Error() string {
	if e.Detail == "" {
		return fmt.Sprintf("commit %s: %v", e.Commit, e.Err)
	}
	return fmt.Sprintf("commit %s: %v: %s", e.Commit, e.Err, e.Detail)
}

func (e *TrustError) Unwrap() error { return e.Err }

// SignaturePolicy says which commits must be signed.
type SignaturePolicy string

const (
	// SignNone: no signatures required (fast-forward is still enforced).
	SignNone SignaturePolicy = ""
	// SignHead: the new head must be signed by an allowed signer. This is
	// the recommended policy: a commit signature covers the commit's tree
	// hash and therefore every byte the agent applies, and only heads are
	// ever applied. Intermediate commits are not applied, and requiring
	// allowed signatures on them would forbid the common flow where a
	// maintainer signs a merge of contributors' unsigned commits.
	SignHead SignaturePolicy = "head"
	// SignAll: every commit in from..to (reachable from to and not from
	// from) must be signed by an allowed signer, for fleets that want the
	// whole audit trail signed. On a site's first sync (zero from) only the
	// head is checked: history from before the agent existed is not judged.
	SignAll SignaturePolicy = "all"
)

// TrustConfig is the agent's local trust configuration. It never comes from
// the config repository itself: a repo must not be able to vouch for itself.
type TrustConfig struct {
	Policy SignaturePolicy
	// AllowedSignersFile is an SSH allowed-signers file in the format of
	// git's gpg.ssh.allowedSignersFile: "principals [options] keytype key
	// [comment]" per line. The namespaces="…" option is honoured;
	// cert-authority lines and valid-after/valid-before are not supported
	// (rejected at load time, so a policy is never silently weaker).
	AllowedSignersFile string
	// PGPKeyRingFile is an ASCII-armored OpenPGP public keyring.
	PGPKeyRingFile string
}

// Signer is one allowed SSH signer.
type Signer struct {
	Principals []string
	Key        ssh.PublicKey
	Namespaces []string // empty: any
}

// Verifier enforces a TrustConfig. It is immutable and safe for concurrent
// use.
type Verifier struct {
	policy     SignaturePolicy
	sshSigners []Signer
	pgpKeyRing string
}

// NewVerifier loads the signer lists named in cfg.
func NewVerifier(cfg TrustConfig) (*Verifier, error) {
	v := &Verifier{policy: cfg.Policy}
	switch cfg.Policy {
	case SignNone, SignHead, SignAll:
	default:
		return nil, fmt.Errorf("unknown signature policy %q (want %q, %q or empty)", cfg.Policy, SignHead, SignAll)
	}
	if cfg.AllowedSignersFile != "" {
		b, err := os.ReadFile(cfg.AllowedSignersFile)
		if err != nil {
			return nil, fmt.Errorf("read allowed signers: %w", err)
		}
		if v.sshSigners, err = ParseAllowedSigners(b); err != nil {
			return nil, fmt.Errorf("%s: %w", cfg.AllowedSignersFile, err)
		}
	}
	if cfg.PGPKeyRingFile != "" {
		b, err := os.ReadFile(cfg.PGPKeyRingFile)
		if err != nil {
			return nil, fmt.Errorf("read pgp keyring: %w", err)
		}
		v.pgpKeyRing = string(b)
	}
	if cfg.Policy != SignNone && len(v.sshSigners) == 0 && v.pgpKeyRing == "" {
		return nil, errors.New("signatures required but no allowed signers or pgp keyring configured")
	}
	return v, nil
}

// ParseAllowedSigners parses an allowed-signers file.
func ParseAllowedSigners(b []byte) ([]Signer, error) {
	var out []Signer
	sc := bufio.NewScanner(bytes.NewReader(b))
	sc.Buffer(make([]byte, 64*1024), 1024*1024)
	for n := 1; sc.Scan(); n++ {
		line := strings.TrimSpace(sc.Text())
		if line == "" || strings.HasPrefix(line, "#") {
			continue
		}
		fields := splitQuoted(line)
		if len(fields) < 3 {
			return nil, fmt.Errorf("line %d: want \"principals [options] keytype key\"", n)
		}
		sg := Signer{Principals: strings.Split(fields[0], ",")}
		rest := fields[1:]
		// Options are present when the second field is not a key type.
		if !isKeyType(rest[0]) {
			for _, opt := range splitOptions(rest[0]) {
				name, val, _ := strings.Cut(opt, "=")
				switch strings.ToLower(name) {
				case "namespaces":
					sg.Namespaces = strings.Split(strings.Trim(val, `"`), ",")
				default:
					return nil, fmt.Errorf("line %d: unsupported option %q", n, name)
				}
			}
			rest = rest[1:]
		}
		if len(rest) < 2 {
			return nil, fmt.Errorf("line %d: missing key", n)
		}
		key, _, _, _, err := ssh.ParseAuthorizedKey([]byte(rest[0] + " " + rest[1]))
		if err != nil {
			return nil, fmt.Errorf("line %d: parse key: %w", n, err)
		}
		sg.Key = key
		out = append(out, sg)
	}
	if err := sc.Err(); err != nil {
		return nil, err
	}
	return out, nil
}

func isKeyType(s string) bool {
	return strings.HasPrefix(s, "ssh-") || strings.HasPrefix(s, "ecdsa-sha2-") ||
		strings.HasPrefix(s, "sk-")
}

// splitOptions splits an option list on commas outside double quotes.
func splitOptions(s string) []string {
	var out []string
	start, inQ := 0, false
	for i, r := range s {
		switch {
		case r == '"':
			inQ = !inQ
		case r == ',' && !inQ:
			out = append(out, s[start:i])
			start = i + 1
		}
	}
	return append(out, s[start:])
}

// splitQuoted splits on blanks outside double quotes.
func splitQuoted(s string) []string {
	var out []string
	var cur strings.Builder
	inQ := false
	for _, r := range s {
		switch {
		case r == '"':
			inQ = !inQ
			cur.WriteRune(r)
		case (r == ' ' || r == '\t') && !inQ:
			if cur.Len() > 0 {
				out = append(out, cur.String())
				cur.Reset()
			}
		default:
			cur.WriteRune(r)
		}
	}
	if cur.Len() > 0 {
		out = append(out, cur.String())
	}
	return out
}

// Verify checks that to descends from from (unless from is zero) and that
// the commits the policy names are signed by allowed signers.
func (v *Verifier) Verify(ctx context.Context, repo *git.Repository, from, to plumbing.Hash) error {
	head, err := repo.CommitObject(to)
	if err != nil {
		return fmt.Errorf("load commit %s: %w", to, err)
	}
	if !from.IsZero() && from != to {
		ok, err := wire.Reaches(ctx, repo.Storer, to, from)
		if err != nil {
			return err
		}
		if !ok {
			return &TrustError{Commit: to, Err: ErrNotFastForward, Detail: "does not descend from " + from.String()}
		}
	}
	switch v.policy {
	case SignNone:
		return nil
	case SignHead:
		return v.VerifyCommit(head)
	}
	if from.IsZero() {
		// First sync: history from before the agent existed is not judged.
		return v.VerifyCommit(head)
	}
	commits, err := rangeCommits(ctx, repo, from, to)
	if err != nil {
		return err
	}
	for _, c := range commits {
		if err := v.VerifyCommit(c); err != nil {
			return err
		}
	}
	return nil
}

// VerifyCommit checks one commit's signature against the allowed signers.
func (v *Verifier) VerifyCommit(c *object.Commit) error {
	sig := strings.TrimSpace(c.PGPSignature)
	switch {
	case sig == "":
		return &TrustError{Commit: c.Hash, Err: ErrUnsigned}
	case strings.HasPrefix(sig, "-----BEGIN SSH SIGNATURE-----"):
		return v.verifySSH(c)
	case strings.HasPrefix(sig, "-----BEGIN PGP SIGNATURE-----"):
		return v.verifyPGP(c)
	default:
		return &TrustError{Commit: c.Hash, Err: ErrBadSignature, Detail: "unsupported signature format"}
	}
}

func (v *Verifier) verifyPGP(c *object.Commit) error {
	if v.pgpKeyRing == "" {
		return &TrustError{Commit: c.Hash, Err: ErrUnknownSigner, Detail: "openpgp signature, no pgp keyring configured"}
	}
	_, err := c.Verify(v.pgpKeyRing)
	switch {
	case err == nil:
		return nil
	case errors.Is(err, pgperrors.ErrUnknownIssuer):
		return &TrustError{Commit: c.Hash, Err: ErrUnknownSigner, Detail: "openpgp key not in keyring"}
	default:
		return &TrustError{Commit: c.Hash, Err: ErrBadSignature, Detail: err.Error()}
	}
}

func (v *Verifier) verifySSH(c *object.Commit) error {
	sig, err := sshsig.Unarmor([]byte(c.PGPSignature))
	if err != nil {
		return &TrustError{Commit: c.Hash, Err: ErrBadSignature, Detail: "parse ssh signature: " + err.Error()}
	}
	pub := sig.PublicKey.Marshal()
	var signer *Signer
	for i := range v.sshSigners {
		if bytes.Equal(v.sshSigners[i].Key.Marshal(), pub) {
			signer = &v.sshSigners[i]
			break
		}
	}
	if signer == nil {
		return &TrustError{Commit: c.Hash, Err: ErrUnknownSigner, Detail: "ssh key " + ssh.FingerprintSHA256(sig.PublicKey)}
	}
	if len(signer.Namespaces) > 0 && !contains(signer.Namespaces, "git") {
		return &TrustError{Commit: c.Hash, Err: ErrUnknownSigner, Detail: "key not allowed for namespace git"}
	}
	payload := &plumbing.MemoryObject{}
	if err := c.EncodeWithoutSignature(payload); err != nil {
		return fmt.Errorf("encode commit %s: %w", c.Hash, err)
	}
	r, err := payload.Reader()
	if err != nil {
		return fmt.Errorf("encode commit %s: %w", c.Hash, err)
	}
	if err := sshsig.Verify(r, sig, signer.Key, sig.HashAlgorithm, "git"); err != nil {
		return &TrustError{Commit: c.Hash, Err: ErrBadSignature, Detail: err.Error()}
	}
	return nil
}

func contains(xs []string, x string) bool {
	for _, s := range xs {
		if s == x {
			return true
		}
	}
	return false
}

// rangeCommits returns the commits reachable from to and not from from
// (git's from..to), newest first in walk order.
func rangeCommits(ctx context.Context, repo *git.Repository, from, to plumbing.Hash) ([]*object.Commit, error) {
	exclude := map[plumbing.Hash]struct{}{}
	if !from.IsZero() {
		if err := wire.Walk(ctx, repo.Storer, from, func(c *object.Commit) (bool, error) {
			exclude[c.Hash] = struct{}{}
			return true, nil
		}); err != nil {
			return nil, err
		}
	}
	var out []*object.Commit
	err := wire.Walk(ctx, repo.Storer, to, func(c *object.Commit) (bool, error) {
		if _, ok := exclude[c.Hash]; ok {
			return false, nil
		}
		out = append(out, c)
		return true, nil
	})
	return out, err
}
