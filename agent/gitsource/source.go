package gitsource

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-git/go-billy/v5/osfs"
	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/cache"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"github.com/go-git/go-git/v5/storage/filesystem"
	"go.uber.org/zap"

	"github.com/tether-net/tether/agent/gitsource/wire"
	"github.com/tether-net/tether/agent/secret"
)

// RemoteName is the name of the remote in the state-dir clone.
const RemoteName = "origin"

// ErrBranchNotFound is returned by Check when the remote does not have the
// watched branch (yet).
var ErrBranchNotFound = errors.New("branch not found on remote")

// Config configures a Source.
type Config struct {
	// URL of the config repository: a local path, file://, ssh://, scp-like
	// user@host:path, or https://.
	URL string
	// Branch to follow; default "main".
	Branch string
	// StateDir is the agent's state directory; the clone is StateDir/repo.git.
	StateDir string
	// Auth for ssh/https remotes.
	Auth AuthConfig
	// Trust is the signature policy Verify enforces.
	Trust TrustConfig
	// Debounce is the quiet period Watch waits for after a ref change;
	// default 300ms.
	Debounce time.Duration
	// Clock drives Watch's debounce timer; default: the real clock.
	Clock Clock
	// Logger; default: zap.NewNop().
	Logger *zap.Logger
}

// Stats counts remote operations, for metrics and tests.
type Stats struct {
	Lists   int64 // ref advertisements read by Check
	Fetches int64 // fetches (Open's initial one included)
}

// Source is the agent's clone of the config repository. It is safe for
// concurrent use; remote operations are serialized.
type Source struct {
	cfg      Config
	url      string // redacted, for logs and errors
	repo     *git.Repository
	remote   *git.Remote
	auth     transport.AuthMethod
	wire     *wire.Remote
	verifier *Verifier
	log      *zap.Logger
	clock    Clock

	mu      sync.Mutex
	lists   atomic.Int64
	fetches atomic.Int64
}

// Open opens the clone in cfg.StateDir/repo.git, creating it with a full
// fetch of the watched branch if it does not exist. A clone is built in a
// temporary directory and renamed into place, so a crash never leaves a
// half-made clone that a restart would trust. A remote that does not have
// the branch yet is not an error: Head returns the zero hash until it does.
func Open(ctx context.Context, cfg Config) (*Source, error) {
	if cfg.URL == "" {
		return nil, errors.New("open git source: no url")
	}
	if cfg.StateDir == "" {
		return nil, errors.New("open git source: no state dir")
	}
	if cfg.Branch == "" {
		cfg.Branch = "main"
	}
	if cfg.Debounce <= 0 {
		cfg.Debounce = 300 * time.Millisecond
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	s := &Source{
		cfg:   cfg,
		url:   secret.Redact(cfg.URL),
		log:   cfg.Logger.With(zap.String("remote", secret.Redact(cfg.URL)), zap.String("branch", cfg.Branch)),
		clock: cfg.Clock,
	}
	auth, err := cfg.Auth.AuthMethod(cfg.URL)
	if err != nil {
		return nil, fmt.Errorf("open git source: %w", err)
	}
	s.auth = auth
	if s.wire, err = wire.New(cfg.URL, auth, wire.Options{}); err != nil {
		return nil, fmt.Errorf("open git source: %w", redactErr(err, cfg.URL))
	}
	v, err := NewVerifier(cfg.Trust)
	if err != nil {
		return nil, fmt.Errorf("open git source: %w", err)
	}
	s.verifier = v

	dir := filepath.Join(cfg.StateDir, "repo.git")
	repo, err := openClone(dir)
	switch {
	case err == nil:
		s.repo = repo
		if err := s.ensureRemote(); err != nil {
			return nil, err
		}
		s.log.Info("reusing clone", zap.String("dir", dir))
		return s, nil
	case errors.Is(err, git.ErrRepositoryNotExists):
	default:
		return nil, fmt.Errorf("open clone %s: %w", dir, err)
	}

	if err := os.MkdirAll(cfg.StateDir, 0o700); err != nil {
		return nil, fmt.Errorf("create state dir: %w", err)
	}
	tmp, err := os.MkdirTemp(cfg.StateDir, "repo.git.tmp-")
	if err != nil {
		return nil, fmt.Errorf("create clone dir: %w", err)
	}
	defer os.RemoveAll(tmp) // no-op after the rename
	if s.repo, err = git.PlainInit(tmp, true); err != nil {
		return nil, fmt.Errorf("init clone: %w", err)
	}
	if err := s.ensureRemote(); err != nil {
		return nil, err
	}
	if err := s.fetch(ctx); err != nil && !errors.Is(err, ErrBranchNotFound) {
		return nil, err
	}
	if err := os.Rename(tmp, dir); err != nil {
		return nil, fmt.Errorf("move clone into place: %w", err)
	}
	if s.repo, err = openClone(dir); err != nil {
		return nil, fmt.Errorf("open clone %s: %w", dir, err)
	}
	if err := s.ensureRemote(); err != nil {
		return nil, err
	}
	head, _ := s.Head()
	s.log.Info("cloned", zap.String("dir", dir), zap.String("commit", head.String()))
	return s, nil
}

// openClone opens the bare clone keeping up to openPacks pack files open:
// go-git otherwise reopens a pack file for every object it reads from it.
func openClone(dir string) (*git.Repository, error) {
	if _, err := os.Stat(filepath.Join(dir, "objects")); err != nil {
		return nil, git.ErrRepositoryNotExists
	}
	return OpenRepository(dir)
}

// OpenRepository opens a bare repository the way the agent opens its
// clone: at most openPacks pack files open, a bounded object cache, and an object that is not
// found makes the storage re-read the pack list once, so a `git gc` run in
// the state directory under a running agent (which replaces the packs
// go-git indexed at open) does not make objects vanish.
func OpenRepository(dir string) (*git.Repository, error) {
	st := filesystem.NewStorageWithOptions(osfs.New(dir), cache.NewObjectLRU(objectCache),
		filesystem.Options{MaxOpenDescriptors: openPacks})
	return git.Open(&repackTolerant{Storage: st}, nil)
}

// repackTolerant retries an object read after re-reading the pack list.
// HasEncodedObject is left alone: a miss there is the normal answer for an
// object not fetched yet, and a false miss after a gc only makes the
// caller fetch or write the object again.
type repackTolerant struct {
	*filesystem.Storage
}

func (r *repackTolerant) EncodedObject(t plumbing.ObjectType, h plumbing.Hash) (plumbing.EncodedObject, error) {
	o, err := r.Storage.EncodedObject(t, h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		r.Storage.Reindex()
		o, err = r.Storage.EncodedObject(t, h)
	}
	return o, err
}

func (r *repackTolerant) EncodedObjectSize(h plumbing.Hash) (int64, error) {
	n, err := r.Storage.EncodedObjectSize(h)
	if errors.Is(err, plumbing.ErrObjectNotFound) {
		r.Storage.Reindex()
		n, err = r.Storage.EncodedObjectSize(h)
	}
	return n, err
}

const (
	openPacks = 16
	// objectCache bounds go-git's cache of decoded objects (default 96 MiB,
	// which a long-running agent fills): a network's files and the notes
	// trees fit many times over.
	objectCache = 16 * cache.MiByte
)

// ensureRemote (re)writes the origin remote so a changed URL in the agent's
// config takes effect on restart.
func (s *Source) ensureRemote() error {
	rc := &config.RemoteConfig{
		Name:  RemoteName,
		URLs:  []string{s.cfg.URL},
		Fetch: []config.RefSpec{s.refSpec()},
	}
	cfg, err := s.repo.Config()
	if err != nil {
		return fmt.Errorf("read clone config: %w", err)
	}
	old, ok := cfg.Remotes[RemoteName]
	if !ok || len(old.URLs) != 1 || old.URLs[0] != s.cfg.URL || len(old.Fetch) != 1 || old.Fetch[0] != rc.Fetch[0] {
		cfg.Remotes[RemoteName] = rc
		if err := s.repo.SetConfig(cfg); err != nil {
			return fmt.Errorf("write clone config: %w", err)
		}
	}
	r, err := s.repo.Remote(RemoteName)
	if err != nil {
		return fmt.Errorf("load remote: %w", err)
	}
	s.remote = r
	return nil
}

func (s *Source) trackingRef() plumbing.ReferenceName {
	return plumbing.NewRemoteReferenceName(RemoteName, s.cfg.Branch)
}

func (s *Source) branchRef() plumbing.ReferenceName {
	return plumbing.NewBranchReferenceName(s.cfg.Branch)
}

// refSpec force-updates the tracking ref: a rewound remote branch must be
// fetched so Verify can see, and refuse, the rewind.
func (s *Source) refSpec() config.RefSpec {
	return config.RefSpec(fmt.Sprintf("+%s:%s", s.branchRef(), s.trackingRef()))
}

// Repository is the clone, for readers such as package notes. Callers must
// not move the tracking ref.
func (s *Source) Repository() *git.Repository { return s.repo }

// Auth is the transport auth for the remote (nil for local remotes).
func (s *Source) Auth() transport.AuthMethod { return s.auth }

// Wire is the remote's transport, shared with package notes so both use
// one protocol probe.
func (s *Source) Wire() *wire.Remote { return s.wire }

// URL is the remote URL as configured (with credentials, if the operator
// put any in it: do not log it; use secret.Redact).
func (s *Source) URL() string { return s.cfg.URL }

// Stats returns counters of remote operations.
func (s *Source) Stats() Stats {
	return Stats{Lists: s.lists.Load(), Fetches: s.fetches.Load()}
}

// Head is the last fetched head of the watched branch, or the zero hash if
// nothing was fetched yet. It does no I/O beyond the local ref store.
func (s *Source) Head() (plumbing.Hash, error) {
	ref, err := s.repo.Reference(s.trackingRef(), true)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read tracking ref: %w", err)
	}
	return ref.Hash(), nil
}

// Check is the cheap poll: it reads the remote's ref advertisement and
// fetches only if the watched branch differs from the local tracking ref.
// changed reports whether a fetch moved the tracking ref; head is the
// branch's head after the call. Check does not judge the new head: call
// Verify before using it.
func (s *Source) Check(ctx context.Context) (changed bool, head plumbing.Hash, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lists.Add(1)
	remoteHead, err := s.remoteHead(ctx)
	if err != nil {
		return false, plumbing.ZeroHash, err
	}
	local, err := s.Head()
	if err != nil {
		return false, plumbing.ZeroHash, err
	}
	if local == remoteHead {
		return false, local, nil
	}
	if err := s.fetchHead(ctx, remoteHead); err != nil {
		return false, local, err
	}
	head, err = s.Head()
	if err != nil {
		return false, plumbing.ZeroHash, err
	}
	if head != local {
		s.log.Info("remote moved", zap.String("commit", head.String()), zap.String("previous", local.String()))
	}
	return head != local, head, nil
}

// remoteHead asks the remote for the watched branch only (one ls-refs in
// protocol v2), so an idle poll costs the same at any number of refs.
func (s *Source) remoteHead(ctx context.Context) (plumbing.Hash, error) {
	refs, err := s.wire.Refs(ctx, s.branchRef())
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("list refs of %s: %w", s.url, redactErr(err, s.cfg.URL))
	}
	h, ok := refs[s.branchRef()]
	if !ok {
		return plumbing.ZeroHash, fmt.Errorf("check %s: %w: %s", s.url, ErrBranchNotFound, s.cfg.Branch)
	}
	return h, nil
}

// fetch fetches the watched branch into the tracking ref. Callers hold s.mu
// (or own s exclusively, as Open does).
func (s *Source) fetch(ctx context.Context) error {
	h, err := s.remoteHead(ctx)
	if err != nil {
		return err
	}
	return s.fetchHead(ctx, h)
}

// fetchHead fetches head, the branch's value on the remote, into the
// tracking ref, offering the tracking ref's old value as the only have.
func (s *Source) fetchHead(ctx context.Context, head plumbing.Hash) error {
	s.fetches.Add(1)
	err := s.wire.Fetch(ctx, s.repo.Storer, wire.Update{Remote: s.branchRef(), Local: s.trackingRef(), Hash: head})
	if err != nil {
		return fmt.Errorf("fetch %s: %w", s.url, redactErr(err, s.cfg.URL))
	}
	return nil
}

// Verify checks that to may replace from as the applied commit: to must
// descend from from (a zero from, the first commit a site ever sees, skips
// that check) and carry the signatures the trust policy requires. The
// errors match ErrNotFastForward, ErrUnsigned, ErrUnknownSigner or
// ErrBadSignature with errors.Is; all of them are permanent for that commit.
func (s *Source) Verify(ctx context.Context, from, to plumbing.Hash) error {
	return s.verifier.Verify(ctx, s.repo, from, to)
}
