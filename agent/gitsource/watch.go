package gitsource

import (
	"context"
	"io/fs"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/fsnotify/fsnotify"
	"go.uber.org/zap"
)

// Clock is the time source for debouncing. Tests inject a fake one.
type Clock interface {
	NewTimer(d time.Duration) Timer
}

// Timer is the part of *time.Timer the debouncer uses.
type Timer interface {
	C() <-chan time.Time
	Reset(d time.Duration) bool
	Stop() bool
}

type realClock struct{}

func (realClock) NewTimer(d time.Duration) Timer { return realTimer{time.NewTimer(d)} }

type realTimer struct{ t *time.Timer }

func (t realTimer) C() <-chan time.Time        { return t.t.C }
func (t realTimer) Reset(d time.Duration) bool { return t.t.Reset(d) }
func (t realTimer) Stop() bool                 { return t.t.Stop() }

// LocalPath returns the filesystem path of a local remote URL (a plain path
// or file://) and whether the URL is local at all.
func LocalPath(rawURL string) (string, bool) {
	if strings.HasPrefix(rawURL, "file://") {
		u, err := url.Parse(rawURL)
		if err != nil {
			return "", false
		}
		return u.Path, true
	}
	if strings.Contains(rawURL, "://") {
		return "", false
	}
	if fi, err := os.Stat(rawURL); err == nil && fi.IsDir() {
		return rawURL, true
	}
	return "", false
}

// gitDir resolves a repository path to its git directory: the path itself
// for a bare repository, path/.git for a working copy.
func gitDir(p string) string {
	if fi, err := os.Stat(filepath.Join(p, ".git")); err == nil && fi.IsDir() {
		return filepath.Join(p, ".git")
	}
	return p
}

// Watch signals when the refs of a local remote (a path or file:// URL)
// change, so the agent polls at once instead of waiting for the interval.
//
// It watches only what a ref update touches: the git directory itself
// (for HEAD and packed-refs, which git replaces by renaming a .lock file)
// and every directory under refs/heads (loose refs, also written via
// .lock + rename; new subdirectories are added as they appear). Object
// writes, which are most of a push's filesystem churn, land in objects/ and
// are never seen; .lock files are ignored. Events are debounced: a signal is
// sent once the refs have been quiet for Config.Debounce, so a push that
// updates several refs yields one signal. The channel has a buffer of one
// and a pending signal absorbs new ones; it is closed when ctx ends.
//
// A signal means "poll now", not "the branch moved": the caller still runs
// Check. Watch returns nil (a channel that never fires in a select) for a
// remote that is not local or when the watcher cannot be set up; the reason
// is logged and polling carries on.
func (s *Source) Watch(ctx context.Context) <-chan struct{} {
	p, ok := LocalPath(s.cfg.URL)
	if !ok {
		return nil
	}
	dir := gitDir(p)
	w, err := fsnotify.NewWatcher()
	if err != nil {
		s.log.Warn("watch disabled", zap.Error(err))
		return nil
	}
	if err := w.Add(dir); err != nil {
		s.log.Warn("watch disabled", zap.String("dir", dir), zap.Error(err))
		w.Close()
		return nil
	}
	// refs/ is watched only so a refs/heads created later gets picked up.
	_ = w.Add(filepath.Join(dir, "refs"))
	heads := filepath.Join(dir, "refs", "heads")
	addTree(w, heads, s.log)

	raw := make(chan struct{}, 1)
	out := make(chan struct{}, 1)
	go func() {
		defer w.Close()
		for {
			select {
			case <-ctx.Done():
				return
			case ev, ok := <-w.Events:
				if !ok {
					return
				}
				if ev.Has(fsnotify.Create) {
					if fi, err := os.Stat(ev.Name); err == nil && fi.IsDir() && isUnder(ev.Name, heads) {
						addTree(w, ev.Name, s.log)
						notify(raw)
						continue
					}
				}
				if refEvent(dir, heads, ev) {
					notify(raw)
				}
			case err, ok := <-w.Errors:
				if !ok {
					return
				}
				s.log.Warn("watch error", zap.Error(err))
				notify(raw) // an overflow may have hidden a ref change
			}
		}
	}()
	go debounce(ctx, s.clock, s.cfg.Debounce, raw, out)
	return out
}

func addTree(w *fsnotify.Watcher, root string, log *zap.Logger) {
	_ = filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return nil // refs/heads may not exist yet in an empty repo
		}
		if d.IsDir() {
			if err := w.Add(p); err != nil {
				log.Warn("watch refs dir", zap.String("dir", p), zap.Error(err))
			}
		}
		return nil
	})
}

func isUnder(p, dir string) bool {
	rel, err := filepath.Rel(dir, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator))
}

// refEvent reports whether ev may have changed a ref.
func refEvent(gitdir, heads string, ev fsnotify.Event) bool {
	if !ev.Has(fsnotify.Create) && !ev.Has(fsnotify.Write) && !ev.Has(fsnotify.Rename) && !ev.Has(fsnotify.Remove) {
		return false
	}
	base := filepath.Base(ev.Name)
	if strings.HasSuffix(base, ".lock") {
		return false
	}
	if filepath.Dir(ev.Name) == filepath.Clean(gitdir) {
		return base == "packed-refs" || base == "HEAD" || base == "refs"
	}
	return isUnder(ev.Name, heads)
}

func notify(ch chan struct{}) {
	select {
	case ch <- struct{}{}:
	default:
	}
}

// debounce forwards a signal to out once in has been quiet for d. It closes
// out when ctx ends.
func debounce(ctx context.Context, clock Clock, d time.Duration, in <-chan struct{}, out chan struct{}) {
	defer close(out)
	var timer Timer
	var fire <-chan time.Time
	for {
		select {
		case <-ctx.Done():
			if timer != nil {
				timer.Stop()
			}
			return
		case <-in:
			if timer == nil {
				timer = clock.NewTimer(d)
			} else {
				// Go ≥1.23 timers: Reset discards a tick not yet received.
				timer.Reset(d)
			}
			fire = timer.C()
		case <-fire:
			fire = nil
			notify(out)
		}
	}
}
