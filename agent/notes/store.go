package notes

import (
	"context"
	"errors"
	"fmt"
	"regexp"
	"strings"
	"sync"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
	"github.com/go-git/go-git/v5/plumbing/transport"
	"go.uber.org/zap"

	"github.com/tether-net/tether/agent/backoff"
	"github.com/tether-net/tether/agent/gitsource/wire"
	"github.com/tether-net/tether/agent/secret"
)

// Ref namespaces.
const (
	// RefPrefix holds one notes ref per site: refs/notes/tether/<site>.
	RefPrefix = "refs/notes/tether/"
	// RemotePrefix is where the remote's notes refs are fetched to, apart
	// from the local refs, so a fetch never overwrites unpublished notes.
	RemotePrefix = "refs/tether-remote/notes/"
)

// SiteRef is the notes ref of site.
func SiteRef(site string) plumbing.ReferenceName { return plumbing.ReferenceName(RefPrefix + site) }

// RemoteSiteRef is the local copy of the remote's notes ref of site.
func RemoteSiteRef(site string) plumbing.ReferenceName {
	return plumbing.ReferenceName(RemotePrefix + site)
}

var siteRE = regexp.MustCompile(`^[A-Za-z0-9_][A-Za-z0-9_.-]*$`)

func checkSite(site string) error {
	if !siteRE.MatchString(site) || strings.Contains(site, "..") || strings.HasSuffix(site, ".lock") {
		return fmt.Errorf("site name %q is not usable in a ref", site)
	}
	return nil
}

// PeerFetchInterval is the MinFetchInterval the agent gives stores it
// reads other sites through: the gate's peer check polls every couple of
// seconds and a far end's note needs no fresher view than this.
const PeerFetchInterval = 3 * time.Second

// Config configures a Store.
type Config struct {
	// Repo is the agent's clone (gitsource.Source.Repository()).
	Repo *git.Repository
	// Site is the site whose notes this store writes.
	Site string
	// RemoteURL to publish to; empty: Push and Fetch are no-ops.
	RemoteURL string
	// Auth for the remote (gitsource.Source.Auth()).
	Auth transport.AuthMethod
	// Wire is the transport to RemoteURL (gitsource.Source.Wire()), shared
	// so stores reuse one protocol probe; default: a new one from
	// RemoteURL and Auth.
	Wire *wire.Remote
	// MinFetchInterval is how long a Fetch is trusted: a Fetch within it
	// of the last one returns at once, so a check that polls another
	// site's note (the gate's peer check) asks the remote at most this
	// often. 0: every Fetch asks.
	MinFetchInterval time.Duration
	// AuthorName and AuthorEmail sign notes commits; default
	// "tether <tether@SITE>".
	AuthorName, AuthorEmail string
	// Now is the clock for commit times; default time.Now.
	Now func() time.Time
	// Rand returns values in [0,1) for backoff jitter; tests set it to be
	// deterministic; default math/rand.
	Rand func() float64
	// Sleep waits between push attempts; default a context-aware timer.
	Sleep func(ctx context.Context, d time.Duration) error
	// MaxAttempts bounds push retries after a lost race; default 6.
	MaxAttempts int
	// Backoff is the first retry delay, doubled per attempt up to
	// MaxBackoff, each jittered to [d/2, d); defaults 100ms and 3s.
	Backoff, MaxBackoff time.Duration
	// Logger; default zap.NewNop().
	Logger *zap.Logger
}

// Store reads and writes one site's notes. It is safe for concurrent use
// within a process; a notes ref has one Store per process.
type Store struct {
	cfg       Config
	repo      *git.Repository
	ref       plumbing.ReferenceName
	remote    *wire.Remote // nil: no remote
	log       *zap.Logger
	mu        sync.Mutex
	lastFetch time.Time
	index     *noteIndex // of the local ref's last known head; nil: reload
}

// New makes a Store for cfg.Site.
func New(cfg Config) (*Store, error) {
	if cfg.Repo == nil {
		return nil, errors.New("notes store: no repository")
	}
	if err := checkSite(cfg.Site); err != nil {
		return nil, fmt.Errorf("notes store: %w", err)
	}
	if cfg.AuthorName == "" {
		cfg.AuthorName = "tether"
	}
	if cfg.AuthorEmail == "" {
		cfg.AuthorEmail = "tether@" + cfg.Site
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Sleep == nil {
		cfg.Sleep = sleepCtx
	}
	if cfg.MaxAttempts <= 0 {
		cfg.MaxAttempts = 6
	}
	if cfg.Backoff <= 0 {
		cfg.Backoff = 100 * time.Millisecond
	}
	if cfg.MaxBackoff <= 0 {
		cfg.MaxBackoff = 3 * time.Second
	}
	if cfg.Logger == nil {
		cfg.Logger = zap.NewNop()
	}
	s := &Store{
		cfg:  cfg,
		repo: cfg.Repo,
		ref:  SiteRef(cfg.Site),
		log:  cfg.Logger, // the caller's logger carries the site
	}
	switch {
	case cfg.Wire != nil:
		s.remote = cfg.Wire
	case cfg.RemoteURL != "":
		r, err := wire.New(cfg.RemoteURL, cfg.Auth, wire.Options{})
		if err != nil {
			return nil, fmt.Errorf("notes store: %s: %w", secret.Redact(cfg.RemoteURL), err)
		}
		s.remote = r
	}
	return s, nil
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}

// Ref is the store's notes ref.
func (s *Store) Ref() plumbing.ReferenceName { return s.ref }

func (s *Store) refHash(name plumbing.ReferenceName) (plumbing.Hash, error) {
	r, err := s.repo.Storer.Reference(name)
	if errors.Is(err, plumbing.ErrReferenceNotFound) {
		return plumbing.ZeroHash, nil
	}
	if err != nil {
		return plumbing.ZeroHash, fmt.Errorf("read %s: %w", name, err)
	}
	return r.Hash(), nil
}

// setRef moves name from old (zero: must not exist) to h atomically.
func (s *Store) setRef(name plumbing.ReferenceName, old, h plumbing.Hash) error {
	var oldRef *plumbing.Reference
	if !old.IsZero() {
		oldRef = plumbing.NewHashReference(name, old)
	}
	if err := s.repo.Storer.CheckAndSetReference(plumbing.NewHashReference(name, h), oldRef); err != nil {
		return fmt.Errorf("update %s: %w", name, err)
	}
	return nil
}

// Read returns this site's note on commit, merged with the last fetched
// remote copy, or nil if there is none.
func (s *Store) Read(ctx context.Context, commit plumbing.Hash) (*Note, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	var out *Note
	for _, name := range []plumbing.ReferenceName{s.ref, RemoteSiteRef(s.cfg.Site)} {
		nc, err := s.refHash(name)
		if err != nil {
			return nil, err
		}
		bh, ok, err := lookupNote(s.repo.Storer, nc, commit)
		if err != nil || !ok {
			if err != nil {
				return nil, err
			}
			continue
		}
		b, err := readBlob(s.repo.Storer, bh)
		if err != nil {
			return nil, err
		}
		n, err := Parse(b)
		if err != nil {
			return nil, fmt.Errorf("note on %s in %s: %w", commit, name, err)
		}
		out = Merge(out, n)
	}
	return out, nil
}

// Add appends attempt to this site's note on commit, in a new notes commit
// on the local ref. It does no network I/O; Push publishes.
func (s *Store) Add(ctx context.Context, commit plumbing.Hash, a Attempt) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if a.Site == "" {
		a.Site = s.cfg.Site
	}
	if a.Commit == "" {
		a.Commit = commit.String()
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	st := s.repo.Storer
	cur, err := s.refHash(s.ref)
	if err != nil {
		return err
	}
	if s.index == nil || s.index.head != cur {
		if s.index, err = loadNoteIndex(st, cur); err != nil {
			return err
		}
	}
	n := &Note{}
	var prefix []byte
	if bh, ok := s.index.get(commit); ok {
		b, err := readBlob(st, bh)
		if err != nil {
			return err
		}
		if old, err := Parse(b); err == nil {
			n = old
		} else {
			// Not ours to reinterpret: keep it verbatim above ours.
			prefix = append(b, '\n')
		}
	}
	n.Append(a)
	body, err := Marshal(n)
	if err != nil {
		return err
	}
	bh, err := storeBlob(st, append(prefix, body...))
	if err != nil {
		return err
	}
	th, err := s.index.put(st, commit, bh)
	if err != nil {
		s.index = nil
		return err
	}
	msg := fmt.Sprintf("%s\n\ncommit %s\n", n.Header(), commit)
	nc, err := s.commit(th, msg, cur)
	if err != nil {
		s.index = nil
		return err
	}
	if err := s.setRef(s.ref, cur, nc); err != nil {
		s.index = nil
		return err
	}
	s.index.head = nc
	s.log.Info("note recorded", zap.String("commit", commit.String()), zap.String("step", "note"),
		zap.String("result", string(a.Result)))
	return nil
}

func (s *Store) commitTree(m noteMap, msg string, parents ...plumbing.Hash) (plumbing.Hash, error) {
	th, err := writeNoteTree(s.repo.Storer, m)
	if err != nil {
		return plumbing.ZeroHash, err
	}
	return s.commit(th, msg, parents...)
}

func (s *Store) commit(th plumbing.Hash, msg string, parents ...plumbing.Hash) (plumbing.Hash, error) {
	sig := object.Signature{Name: s.cfg.AuthorName, Email: s.cfg.AuthorEmail, When: s.cfg.Now().Round(time.Second)}
	c := &object.Commit{Author: sig, Committer: sig, Message: msg, TreeHash: th}
	for _, p := range parents {
		if !p.IsZero() {
			c.ParentHashes = append(c.ParentHashes, p)
		}
	}
	return storeObject(s.repo.Storer, c)
}

// Fetch copies the remote's notes ref of this store's site (and no other)
// to refs/tether-remote/notes/<site>. Local refs are never touched. Within
// MinFetchInterval of the last Fetch it does nothing.
func (s *Store) Fetch(ctx context.Context) error {
	if s.remote == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.MinFetchInterval > 0 && !s.lastFetch.IsZero() && s.cfg.Now().Sub(s.lastFetch) < s.cfg.MinFetchInterval {
		return nil
	}
	if err := s.fetchLocked(ctx); err != nil {
		return err
	}
	s.lastFetch = s.cfg.Now()
	return nil
}

func (s *Store) fetchLocked(ctx context.Context) error {
	return fetchSites(ctx, s.repo, s.remote, s.cfg.Site)
}

// FetchSites copies the remote's notes refs of the named sites to
// refs/tether-remote/notes/<site> with one ref listing and at most one
// fetch, whatever the number of sites on the remote; Read on those sites'
// stores (same repository) then sees them. A site the remote has no notes
// for is skipped. It ignores MinFetchInterval: the caller batches.
func (s *Store) FetchSites(ctx context.Context, sites ...string) error {
	if s.remote == nil || len(sites) == 0 {
		return nil
	}
	for _, site := range sites {
		if err := checkSite(site); err != nil {
			return err
		}
	}
	return fetchSites(ctx, s.repo, s.remote, sites...)
}

func fetchSites(ctx context.Context, repo *git.Repository, remote *wire.Remote, sites ...string) error {
	names := make([]plumbing.ReferenceName, len(sites))
	for i, site := range sites {
		names[i] = SiteRef(site)
	}
	refs, err := remote.Refs(ctx, names...)
	if err != nil {
		return fmt.Errorf("list notes refs: %w", err)
	}
	var updates []wire.Update
	for _, site := range sites {
		h, ok := refs[SiteRef(site)]
		if !ok {
			continue
		}
		if cur, err := repo.Storer.Reference(RemoteSiteRef(site)); err == nil && cur.Hash() == h {
			continue
		}
		updates = append(updates, wire.Update{Remote: SiteRef(site), Local: RemoteSiteRef(site), Hash: h})
	}
	if len(updates) == 0 {
		return nil
	}
	if err := remote.Fetch(ctx, repo.Storer, updates...); err != nil {
		return fmt.Errorf("fetch notes: %w", err)
	}
	return nil
}

// Push publishes the local notes ref. It fetches the remote's ref; if the
// remote has notes the local ref lacks (another writer for this site), it
// merges them into a new local notes commit; then it pushes without force,
// expecting the remote ref at the value it just fetched, so a writer that
// got in between makes the push fail instead of being overwritten. A lost
// race is retried with jittered exponential backoff, up to MaxAttempts.
// Any other failure (remote unreachable, no write access) returns an
// error and leaves the notes in the local ref for the next Push.
func (s *Store) Push(ctx context.Context) error {
	if s.remote == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	remoteRef := RemoteSiteRef(s.cfg.Site)
	var lastErr error
	lastRemote := plumbing.ZeroHash
	for attempt := 1; ; attempt++ {
		if err := s.fetchLocked(ctx); err != nil {
			// After a lost race the remote is up and moving: a fetch that
			// meets a ref update half-way (git-upload-pack hangs up) is
			// part of the race, so it takes the next attempt. A first
			// fetch that fails means the remote is away: report it.
			if lastErr == nil || attempt >= s.cfg.MaxAttempts {
				return err
			}
			lastErr = err
			if err := s.cfg.Sleep(ctx, s.backoff(attempt)); err != nil {
				return err
			}
			continue
		}
		local, err := s.refHash(s.ref)
		if err != nil {
			return err
		}
		if local.IsZero() {
			return nil
		}
		remote, err := s.refHash(remoteRef)
		if err != nil {
			return err
		}
		if lastErr != nil && remote == lastRemote {
			// The push failed but nobody moved the ref: not a race.
			return fmt.Errorf("push notes to %s: %w", secret.Redact(s.cfg.RemoteURL), lastErr)
		}
		if local == remote {
			return nil
		}
		if local, err = s.reconcile(ctx, local, remote); err != nil {
			return err
		}
		if local == remote {
			return nil
		}
		err = s.pushOnce(ctx, local, remote)
		if err == nil {
			s.log.Info("notes pushed", zap.String("step", "push"), zap.String("notes_commit", local.String()))
			return nil
		}
		if attempt >= s.cfg.MaxAttempts {
			return fmt.Errorf("push notes: remote kept moving after %d attempts: %w", attempt, err)
		}
		lastErr, lastRemote = err, remote
		d := s.backoff(attempt)
		s.log.Info("notes push raced, retrying", zap.Int("attempt", attempt), zap.Duration("backoff", d), zap.Error(err))
		if err := s.cfg.Sleep(ctx, d); err != nil {
			return err
		}
	}
}

func (s *Store) backoff(attempt int) time.Duration {
	return backoff.Policy{First: s.cfg.Backoff, Max: s.cfg.MaxBackoff}.Wait(attempt, s.cfg.Rand)
}

// reconcile makes the local ref contain the remote's notes: nothing to do
// if the remote is an ancestor, a fast-forward if the local ref is, a merge
// commit otherwise. It returns the new local head.
func (s *Store) reconcile(ctx context.Context, local, remote plumbing.Hash) (plumbing.Hash, error) {
	if remote.IsZero() {
		return local, nil
	}
	if ok, err := wire.Reaches(ctx, s.repo.Storer, local, remote); err != nil || ok {
		return local, err
	}
	if ok, err := wire.Reaches(ctx, s.repo.Storer, remote, local); err != nil {
		return local, err
	} else if ok {
		if err := s.setRef(s.ref, local, remote); err != nil {
			return local, err
		}
		return remote, nil
	}
	st := s.repo.Storer
	lm, err := readNoteMap(st, local)
	if err != nil {
		return local, err
	}
	rm, err := readNoteMap(st, remote)
	if err != nil {
		return local, err
	}
	merged := 0
	for k, rb := range rm {
		lb, ok := lm[k]
		switch {
		case !ok:
			lm[k] = rb
		case lb != rb:
			b, err := mergeBlobs(st, lb, rb)
			if err != nil {
				return local, err
			}
			if lm[k], err = storeBlob(st, b); err != nil {
				return local, err
			}
			merged++
		}
	}
	msg := fmt.Sprintf("tether: merge notes of %s from the remote\n\n%d notes merged\n", s.cfg.Site, merged)
	nc, err := s.commitTree(lm, msg, local, remote)
	if err != nil {
		return local, err
	}
	if err := s.setRef(s.ref, local, nc); err != nil {
		return local, err
	}
	s.log.Info("notes merged", zap.String("step", "merge"), zap.Int("conflicts", merged))
	return nc, nil
}

// mergeBlobs unions two versions of one note: attempts of both for TOML
// notes, the concatenation of both texts otherwise (git's "cat_sort_uniq"
// spirit: nothing is dropped).
func mergeBlobs(st storer.EncodedObjectStorer, a, b plumbing.Hash) ([]byte, error) {
	ab, err := readBlob(st, a)
	if err != nil {
		return nil, err
	}
	bb, err := readBlob(st, b)
	if err != nil {
		return nil, err
	}
	an, aerr := Parse(ab)
	bn, berr := Parse(bb)
	if aerr == nil && berr == nil {
		return Marshal(Merge(an, bn))
	}
	return append(append(ab, '\n'), bb...), nil
}

func (s *Store) pushOnce(ctx context.Context, local, remote plumbing.Hash) error {
	// The remote applies the update only if the ref is still at remote:
	// a writer that got in between makes it fail instead of being lost.
	if err := s.remote.Push(ctx, s.repo.Storer, s.ref, remote, local); err != nil {
		return err
	}
	// Record what the remote now holds so Pending is right without a fetch.
	return s.repo.Storer.SetReference(plumbing.NewHashReference(RemoteSiteRef(s.cfg.Site), local))
}

// Pending counts local notes commits not on the remote, as of the last
// Fetch or Push (it does no network I/O).
func (s *Store) Pending(ctx context.Context) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	local, err := s.refHash(s.ref)
	if err != nil || local.IsZero() {
		return 0, err
	}
	remote, err := s.refHash(RemoteSiteRef(s.cfg.Site))
	if err != nil {
		return 0, err
	}
	// A bounded walk: the metric is read after every poll, and the notes
	// history grows by one commit per outcome.
	ahead, err := wire.NewCommits(ctx, s.repo.Storer, local, remote)
	return len(ahead), err
}

// History is History for the store's repository.
func (s *Store) History(ctx context.Context, head plumbing.Hash, limit int, sites ...string) ([]Entry, error) {
	return History(ctx, s.repo, head, limit, sites...)
}
