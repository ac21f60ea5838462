package main

import (
	"context"
	"fmt"
	"io/fs"
	"strings"
	"sync/atomic"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/agent/metrics"
	"github.com/tether-net/tether/agent/mikrotik"
	"github.com/tether-net/tether/agent/notes"
	"github.com/tether-net/tether/agent/sdnotify"
)

// observer feeds the metrics endpoint, the systemd watchdog and the status
// line of `systemctl status` from the agent's syncs.
type observer struct {
	m     *metrics.Metrics
	notes *notes.Store
	// attention is the agent's failed-revert record (nil: not watched).
	attention *agent.AttentionStore
	// wanTraps is the live WAN trap record (nil: not watched).
	wanTraps *agent.WANTrapStore
	apiStats func() mikrotik.Stats // RouterOS API traffic so far; nil on Linux
	// notify queues outcomes for the [notify] webhook (nil: off); it must
	// not block.
	notify   interface{ Notify(*agent.Outcome) }
	lastAPI  mikrotik.Stats
	progress atomic.Int64 // unix nanos of the last completed sync

	// STATUS= is read from the agent's saved state, so it says what the
	// device runs, not what this process happened to see.
	sd     *sdnotify.Notifier
	states *agent.StateStore
	poll   time.Duration
}

func (o *observer) Synced(out *agent.Outcome, err error) {
	now := time.Now()
	o.progress.Store(now.UnixNano())
	o.status(err, now)
	if err == nil {
		o.m.SyncOK(now)
	}
	if out != nil {
		o.m.ObserveOutcome(out.Result, out.Finished.Sub(out.Started), out.GateDuration)
		switch out.Result {
		case agent.ResultApplied, agent.ResultUnchanged, agent.ResultRepaired:
			o.m.SetRunning(out.Commit)
		}
		if o.notify != nil {
			o.notify.Notify(out)
		}
	}
	if o.attention != nil {
		at, err := o.attention.Load()
		o.m.SetNeedsAttention(err != nil || at != nil)
	}
	if o.wanTraps != nil {
		if wt, err := o.wanTraps.Load(); err == nil {
			o.m.SetWANTraps(len(wt.Traps))
		}
	}
	if o.notes != nil {
		if n, err := o.notes.Pending(context.Background()); err == nil {
			o.m.SetPendingNotes(n)
		}
	}
	if o.apiStats != nil {
		st := o.apiStats()
		o.m.RouterOSCalls(st.RoundTrips-o.lastAPI.RoundTrips, st.Failures-o.lastAPI.Failures)
		o.lastAPI = st
	}
}

// watchdog pets systemd's watchdog while syncs keep completing; a loop
// stuck for longer than stall stops petting and systemd restarts it.
func (o *observer) watchdog(ctx context.Context, n *sdnotify.Notifier, stall time.Duration) {
	every, err := sdnotify.WatchdogInterval()
	if err != nil || every <= 0 || !n.Enabled() {
		return
	}
	t := time.NewTicker(every / 2)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if time.Since(time.Unix(0, o.progress.Load())) < stall {
				_ = n.Watchdog()
			}
		}
	}
}

// status sends STATUS= (no-op outside systemd).
func (o *observer) status(syncErr error, now time.Time) {
	if !o.sd.Enabled() || o.states == nil {
		return
	}
	st, err := o.states.Load()
	if err != nil {
		st, syncErr = &agent.State{}, err
	}
	_ = o.sd.Status(statusLine(st, syncErr, now.Add(o.poll)))
}

// statusLine is where the site stands, in one line: the commit the device
// runs, the last outcome, a failing sync and the next poll.
func statusLine(st *agent.State, syncErr error, next time.Time) string {
	short := func(c string) string { return c[:min(12, len(c))] }
	parts := []string{"running nothing yet"}
	if st.Running != "" {
		parts[0] = "running " + short(st.Running)
	}
	if st.LastResult != "" {
		parts = append(parts, fmt.Sprintf("last %s %s at %s", st.LastResult, short(st.LastCommit), st.LastAt.UTC().Format("2006-01-02 15:04:05Z")))
	}
	if syncErr != nil {
		msg := syncErr.Error()
		if len(msg) > 160 {
			msg = msg[:160] + "…"
		}
		parts = append(parts, "sync failing: "+msg)
	}
	parts = append(parts, "next poll "+next.UTC().Format("15:04:05Z"))
	return strings.Join(parts, "; ")
}

// timedSource records how long each poll of the repo takes and whether it
// failed.
type timedSource struct {
	agent.Source
	m *metrics.Metrics
}

func (t timedSource) Check(ctx context.Context) (bool, plumbing.Hash, error) {
	start := time.Now()
	changed, head, err := t.Source.Check(ctx)
	t.m.ObserveFetch(time.Since(start), err)
	return changed, head, err
}

func (t timedSource) Tree(ctx context.Context, c plumbing.Hash, dir string) (fs.FS, error) {
	return t.Source.Tree(ctx, c, dir)
}
