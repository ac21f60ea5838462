package gitsource

import (
	"context"
	"sync"
	"testing"
	"time"
)

func TestWatchLocalRemote(t *testing.T) {
	f := newFixture(t)
	s := openSource(t, "file://"+f.remote, func(c *Config) { c.Debounce = 20 * time.Millisecond })
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	ch := s.Watch(ctx)
	if ch == nil {
		t.Fatal("no watch on a local remote")
	}

	// Object writes alone are churn, not a ref change.
	runGit(t, f.remote, []byte("loose object\n"), "hash-object", "-w", "--stdin")
	select {
	case <-ch:
		t.Fatal("signal for an object write")
	case <-time.After(300 * time.Millisecond):
	}

	want := f.commit(t, "net/w.toml", "w = 1\n", "watched")
	f.push(t)
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no signal after push")
	}
	changed, head, err := s.Check(ctx)
	if err != nil || !changed || head != want {
		t.Fatalf("check after signal: %v %v %v", changed, head, err)
	}

	// A branch in a new refs/heads subdirectory is noticed too (the new
	// directory gets watched).
	runGit(t, f.work, nil, "push", "-q", "origin", "HEAD:refs/heads/feature/x")
	select {
	case <-ch:
	case <-time.After(10 * time.Second):
		t.Fatal("no signal after push to a new ref directory")
	}

	cancel()
	for range ch { // closed after cancel
	}
}

func TestWatchNonLocalIsNil(t *testing.T) {
	s := &Source{cfg: Config{URL: "https://example.test/repo.git"}}
	if s.Watch(context.Background()) != nil {
		t.Fatal("watch on a remote URL")
	}
}

// fakeClock hands out timers that fire only when the test says so.
type fakeClock struct {
	mu     sync.Mutex
	timers []*fakeTimer
	made   chan struct{}
}

type fakeTimer struct {
	clk    *fakeClock
	c      chan time.Time
	mu     sync.Mutex
	active bool
	resets int
}

func (c *fakeClock) NewTimer(time.Duration) Timer {
	t := &fakeTimer{clk: c, c: make(chan time.Time, 1), active: true}
	c.mu.Lock()
	c.timers = append(c.timers, t)
	c.mu.Unlock()
	c.made <- struct{}{}
	return t
}

func (t *fakeTimer) C() <-chan time.Time { return t.c }
func (t *fakeTimer) Reset(time.Duration) bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	was := t.active
	t.active = true
	t.resets++
	select { // like a Go ≥1.23 timer: no stale tick after Reset
	case <-t.c:
	default:
	}
	t.clk.made <- struct{}{}
	return was
}
func (t *fakeTimer) Stop() bool {
	t.mu.Lock()
	defer t.mu.Unlock()
	was := t.active
	t.active = false
	return was
}
func (t *fakeTimer) fire() {
	t.mu.Lock()
	t.active = false
	t.mu.Unlock()
	t.c <- time.Time{}
}

func TestDebounce(t *testing.T) {
	clk := &fakeClock{made: make(chan struct{}, 1)}
	in := make(chan struct{})
	out := make(chan struct{}, 1)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { debounce(ctx, clk, time.Second, in, out); close(done) }()

	// A burst of events arms one timer and resets it; nothing is sent
	// until it fires.
	for i := 0; i < 5; i++ {
		in <- struct{}{}
		<-clk.made // armed (first) or re-armed
	}
	select {
	case <-out:
		t.Fatal("signal before the quiet period ended")
	default:
	}
	tm := clk.timers[0]
	tm.fire()
	<-out
	// one burst, one signal
	in <- struct{}{}
	<-clk.made // re-armed
	select {
	case <-out:
		t.Fatal("second signal without a second tick")
	default:
	}
	tm.fire()
	<-out
	if len(clk.timers) != 1 {
		t.Fatalf("timers made: %d, want 1 reused", len(clk.timers))
	}
	cancel()
	<-done
	if _, ok := <-out; ok {
		t.Fatal("out not closed")
	}
}
