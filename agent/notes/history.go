package notes

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"

	git "github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"
	"github.com/go-git/go-git/v5/plumbing/storer"
)

// Entry is one config commit and what each site recorded for it.
type Entry struct {
	Commit   plumbing.Hash
	Subject  string // first line of the commit message
	When     time.Time
	Outcomes []Outcome // sorted by site; sites without a note are absent
}

// Outcome is one site's note on a commit.
type Outcome struct {
	Site string
	Note *Note // nil if the note did not parse
	Raw  string
	Err  error // parse error, for notes not written by tether
}

// History lists the commits reachable from head, newest first (committer
// time), up to limit (0: all), with every site's note on each. Sites are
// discovered from the local refs/notes/tether/* and the fetched
// refs/tether-remote/notes/* refs; a site present in both is the union of
// the two. sites, if given, restricts the sites reported. Commits without
// notes are listed too, with no outcomes.
func History(ctx context.Context, repo *git.Repository, head plumbing.Hash, limit int, sites ...string) ([]Entry, error) {
	if head.IsZero() {
		return nil, errors.New("history: no head commit")
	}
	maps, err := siteNoteMaps(repo, sites)
	if err != nil {
		return nil, err
	}
	names := make([]string, 0, len(maps))
	for site := range maps {
		names = append(names, site)
	}
	slices.Sort(names)

	iter, err := repo.Log(&git.LogOptions{From: head, Order: git.LogOrderCommitterTime})
	if err != nil {
		return nil, fmt.Errorf("history: walk from %s: %w", head, err)
	}
	defer iter.Close()
	var out []Entry
	err = iter.ForEach(func(c *object.Commit) error {
		if err := ctx.Err(); err != nil {
			return err
		}
		if limit > 0 && len(out) >= limit {
			return storer.ErrStop
		}
		subject, _, _ := strings.Cut(c.Message, "\n")
		e := Entry{Commit: c.Hash, Subject: subject, When: c.Committer.When}
		for _, site := range names {
			o, ok, err := outcome(repo.Storer, site, maps[site], c.Hash)
			if err != nil {
				return err
			}
			if ok {
				e.Outcomes = append(e.Outcomes, o)
			}
		}
		out = append(out, e)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return out, nil
}

// siteNoteMaps loads the note maps of every site's refs (local and
// fetched), filtered by sites if non-empty.
func siteNoteMaps(repo *git.Repository, sites []string) (map[string][]noteMap, error) {
	refs, err := repo.References()
	if err != nil {
		return nil, fmt.Errorf("history: list refs: %w", err)
	}
	defer refs.Close()
	out := map[string][]noteMap{}
	err = refs.ForEach(func(r *plumbing.Reference) error {
		name := r.Name().String()
		var site string
		switch {
		case strings.HasPrefix(name, RefPrefix):
			site = name[len(RefPrefix):]
		case strings.HasPrefix(name, RemotePrefix):
			site = name[len(RemotePrefix):]
		default:
			return nil
		}
		if len(sites) > 0 && !slices.Contains(sites, site) {
			return nil
		}
		if r.Type() != plumbing.HashReference {
			return nil
		}
		m, err := readNoteMap(repo.Storer, r.Hash())
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		out[site] = append(out[site], m)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("history: %w", err)
	}
	return out, nil
}

func outcome(st storer.EncodedObjectStorer, site string, maps []noteMap, commit plumbing.Hash) (Outcome, bool, error) {
	o := Outcome{Site: site}
	var blobs []plumbing.Hash
	for _, m := range maps {
		if b, ok := m[commit]; ok && !slices.Contains(blobs, b) {
			blobs = append(blobs, b)
		}
	}
	if len(blobs) == 0 {
		return o, false, nil
	}
	for _, bh := range blobs {
		b, err := readBlob(st, bh)
		if err != nil {
			return o, false, err
		}
		if o.Raw != "" {
			o.Raw += "\n"
		}
		o.Raw += string(b)
		n, err := Parse(b)
		if err != nil {
			o.Err = err
			continue
		}
		o.Note = Merge(o.Note, n)
	}
	if o.Err != nil {
		o.Note = nil
	}
	return o, true, nil
}
