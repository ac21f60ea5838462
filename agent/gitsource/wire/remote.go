// Package wire moves refs and objects between the agent's clone and the
// config repository's remote at a cost that does not grow with the number of
// refs on the remote.
//
// go-git speaks protocol v0/v1, where every conversation starts with the
// server advertising all of its refs; a fleet's notes refs make that the
// bulk of the traffic. Over HTTP(S) this package asks the server for
// protocol v2 and then lists only the named refs (ls-refs with ref-prefix)
// and fetches with a single fetch command whose haves are the local values
// of just the refs being updated. It pushes one ref with a single stateless
// POST to git-receive-pack carrying only the objects the remote lacks, which
// skips the receive-pack advertisement. A remote on the local filesystem
// (a path or file://) is read and written directly. Over ssh it asks for v2
// through the GIT_PROTOCOL environment variable (sshd must accept it).
// Everything else — pushes over ssh, git://, and servers that do not answer
// in v2 — goes through go-git's v0/v1 transport, as before.
package wire

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/config"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/transport"
	githttp "github.com/go-git/go-git/v5/plumbing/transport/http"
	gitssh "github.com/go-git/go-git/v5/plumbing/transport/ssh"
	"github.com/go-git/go-git/v5/storage"
)

// ErrRejected is returned by Push when the remote refused the update,
// typically because the ref no longer holds the expected old value.
var ErrRejected = errors.New("remote rejected the ref update")

// Update sets Local to the remote's Remote ref, whose value is Hash.
type Update struct {
	Remote plumbing.ReferenceName
	Local  plumbing.ReferenceName
	Hash   plumbing.Hash
}

// Stats counts requests by kind, for tests and metrics.
type Stats struct {
	V2Lists, V2Fetches, StatelessPushes int64 // protocol v2 (HTTP, ssh) and direct receive-pack
	LocalLists, LocalFetches, LocalPush int64 // filesystem remotes
	FallbackLists, FallbackFetches      int64 // go-git v0/v1
	FallbackPushes                      int64
}

// Remote is one remote repository. It is safe for concurrent use.
type Remote struct {
	url  string // as configured, credentials included
	ep   *transport.Endpoint
	auth transport.AuthMethod

	http *httpRemote  // nil unless http(s)
	ssh  *sshRemote   // nil unless ssh with key auth
	file *localRemote // nil unless a local path

	mu    sync.Mutex
	stats Stats
}

// Options adjust a Remote.
type Options struct {
	// HTTPClient for http(s) remotes; default: a client using the
	// environment's proxy settings.
	HTTPClient *http.Client
}

// New makes a Remote for rawURL with go-git auth (nil for none).
func New(rawURL string, auth transport.AuthMethod, opt Options) (*Remote, error) {
	ep, err := transport.NewEndpoint(rawURL)
	if err != nil {
		return nil, fmt.Errorf("parse remote url: %w", err)
	}
	r := &Remote{url: rawURL, ep: ep, auth: auth}
	switch ep.Protocol {
	case "http", "https":
		ha, _ := auth.(githttp.AuthMethod)
		if ha == nil && ep.User != "" {
			ha = &githttp.BasicAuth{Username: ep.User, Password: ep.Password}
		}
		client := opt.HTTPClient
		if client == nil {
			client = &http.Client{Transport: http.DefaultTransport}
		}
		u := *ep
		u.User, u.Password = "", ""
		r.http = &httpRemote{base: strings.TrimSuffix(u.String(), "/"), auth: ha, client: client}
	case "file":
		r.file = &localRemote{path: ep.Path}
	case "ssh":
		if sa, ok := auth.(gitssh.AuthMethod); ok {
			r.ssh = &sshRemote{ep: ep, auth: sa}
		}
	}
	return r, nil
}

// Stats returns the request counters.
func (r *Remote) Stats() Stats {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stats
}

func (r *Remote) count(f func(*Stats)) {
	r.mu.Lock()
	f(&r.stats)
	r.mu.Unlock()
}

// Refs returns the remote's values of the named refs; a ref the remote does
// not have is absent from the map.
func (r *Remote) Refs(ctx context.Context, names ...plumbing.ReferenceName) (map[plumbing.ReferenceName]plumbing.Hash, error) {
	if len(names) == 0 {
		return map[plumbing.ReferenceName]plumbing.Hash{}, nil
	}
	switch {
	case r.file != nil:
		r.count(func(s *Stats) { s.LocalLists++ })
		return r.file.refs(names)
	case r.http != nil:
		if ok, err := r.http.v2(ctx); err != nil {
			return nil, err
		} else if ok {
			r.count(func(s *Stats) { s.V2Lists++ })
			return r.http.lsRefs(ctx, names)
		}
	case r.ssh != nil && !r.ssh.knownV0():
		refs, err := r.ssh.lsRefs(ctx, names)
		if !errors.Is(err, errNoV2) {
			r.count(func(s *Stats) { s.V2Lists++ })
			return refs, err
		}
	}
	r.count(func(s *Stats) { s.FallbackLists++ })
	return r.fallbackRefs(ctx, names)
}

// Fetch downloads what the updates need into st and then points each
// update's Local ref at its Hash (forced: the caller judges the move). The
// current values of the Local refs are offered as haves, so only objects
// new since the last fetch of those refs are sent.
func (r *Remote) Fetch(ctx context.Context, st storage.Storer, updates ...Update) error {
	var wants, haves []plumbing.Hash
	for _, u := range updates {
		if u.Hash.IsZero() {
			return fmt.Errorf("fetch %s: no remote value", u.Remote)
		}
		if st.HasEncodedObject(u.Hash) != nil {
			wants = append(wants, u.Hash)
		}
		if ref, err := st.Reference(u.Local); err == nil && ref.Type() == plumbing.HashReference {
			haves = append(haves, ref.Hash())
		}
	}
	if len(wants) > 0 {
		var err error
		switch {
		case r.file != nil && len(haves) > 0:
			r.count(func(s *Stats) { s.LocalFetches++ })
			err = r.file.copyObjects(ctx, st, wants)
		case r.ssh != nil && !r.ssh.knownV0():
			if err = r.ssh.fetch(ctx, st, wants, haves); errors.Is(err, errNoV2) {
				r.count(func(s *Stats) { s.FallbackFetches++ })
				return r.fallbackFetch(ctx, st, updates)
			}
			r.count(func(s *Stats) { s.V2Fetches++ })
		case r.http != nil:
			var ok bool
			if ok, err = r.http.v2(ctx); err == nil && ok {
				r.count(func(s *Stats) { s.V2Fetches++ })
				err = r.http.fetch(ctx, st, wants, haves)
				break
			}
			fallthrough
		default:
			if err == nil {
				r.count(func(s *Stats) { s.FallbackFetches++ })
				return r.fallbackFetch(ctx, st, updates)
			}
		}
		if err != nil {
			return err
		}
	}
	for _, u := range updates {
		if err := st.SetReference(plumbing.NewHashReference(u.Local, u.Hash)); err != nil {
			return fmt.Errorf("update %s: %w", u.Local, err)
		}
	}
	return nil
}

// Push moves the remote ref from old (zero: the ref must not exist) to new,
// sending the objects reachable from new that are not reachable from old.
// A remote whose ref is not at old refuses with ErrRejected.
func (r *Remote) Push(ctx context.Context, st storage.Storer, ref plumbing.ReferenceName, old, new plumbing.Hash) error {
	switch {
	case r.file != nil:
		r.count(func(s *Stats) { s.LocalPush++ })
		return r.file.push(ctx, st, ref, old, new)
	case r.http != nil:
		r.count(func(s *Stats) { s.StatelessPushes++ })
		err := r.http.push(ctx, st, ref, old, new)
		var he *httpStatusError
		if !errors.As(err, &he) || he.code == http.StatusUnauthorized || he.code == http.StatusForbidden {
			return err
		}
		// A server that wants the advertisement first: push as git does.
	}
	r.count(func(s *Stats) { s.FallbackPushes++ })
	return r.fallbackPush(ctx, st, ref, old, new)
}

const fallbackName = "tether-wire"

func (r *Remote) goGit(st storage.Storer) *git.Remote {
	return git.NewRemote(st, &config.RemoteConfig{Name: fallbackName, URLs: []string{r.url}})
}

func (r *Remote) fallbackRefs(ctx context.Context, names []plumbing.ReferenceName) (map[plumbing.ReferenceName]plumbing.Hash, error) {
	refs, err := git.NewRemote(nil, &config.RemoteConfig{Name: fallbackName, URLs: []string{r.url}}).
		ListContext(ctx, &git.ListOptions{Auth: r.auth})
	if errors.Is(err, transport.ErrEmptyRemoteRepository) {
		return map[plumbing.ReferenceName]plumbing.Hash{}, nil
	}
	if err != nil {
		return nil, err
	}
	want := map[plumbing.ReferenceName]bool{}
	for _, n := range names {
		want[n] = true
	}
	out := map[plumbing.ReferenceName]plumbing.Hash{}
	for _, ref := range refs {
		if want[ref.Name()] && ref.Type() == plumbing.HashReference {
			out[ref.Name()] = ref.Hash()
		}
	}
	return out, nil
}

func (r *Remote) fallbackFetch(ctx context.Context, st storage.Storer, updates []Update) error {
	specs := make([]config.RefSpec, len(updates))
	for i, u := range updates {
		specs[i] = config.RefSpec("+" + u.Remote.String() + ":" + u.Local.String())
	}
	err := r.goGit(st).FetchContext(ctx, &git.FetchOptions{
		RemoteName: fallbackName, RefSpecs: specs, Auth: r.auth, Tags: git.NoTags,
	})
	if err != nil && !errors.Is(err, git.NoErrAlreadyUpToDate) {
		return err
	}
	return nil
}

func (r *Remote) fallbackPush(ctx context.Context, st storage.Storer, ref plumbing.ReferenceName, old, new plumbing.Hash) error {
	opts := &git.PushOptions{
		RemoteName: fallbackName,
		RefSpecs:   []config.RefSpec{config.RefSpec(new.String() + ":" + ref.String())},
		Auth:       r.auth,
	}
	if !old.IsZero() {
		opts.RequireRemoteRefs = []config.RefSpec{config.RefSpec(old.String() + ":" + ref.String())}
	}
	err := r.goGit(st).PushContext(ctx, opts)
	switch {
	case err == nil, errors.Is(err, git.NoErrAlreadyUpToDate):
		return nil
	case strings.Contains(err.Error(), "non-fast-forward"), strings.Contains(err.Error(), "remote ref"),
		strings.Contains(err.Error(), "reference has changed"), errors.Is(err, storage.ErrReferenceHasChanged):
		return fmt.Errorf("%w: %v", ErrRejected, err)
	default:
		return err
	}
}
