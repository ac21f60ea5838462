package agent

import (
	"context"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/tether-net/tether/policy"
)

// WANInspector is a device that can see its live WAN and report the
// routed-prefix trap there (agent/linuxhost). Devices without it are not
// asked.
type WANInspector interface {
	WANTraps(ctx context.Context, n *policy.Network, site string) ([]string, error)
}

// WANTraps is the last live WAN traps the agent saw, kept in the state dir
// for `tether status` and the metrics.
type WANTraps struct {
	Traps []string  `json:"traps"`
	Since time.Time `json:"since"`
}

// WANTrapStore keeps WANTraps in the state dir (wan-traps.json).
type WANTrapStore struct{ path string }

// NewWANTrapStore returns the store in dir.
func NewWANTrapStore(dir string) *WANTrapStore {
	return &WANTrapStore{path: filepath.Join(dir, "wan-traps.json")}
}

// Load returns the traps last seen (none when never checked).
func (s *WANTrapStore) Load() (*WANTraps, error) {
	var w WANTraps
	if _, err := readJSON(s.path, "wan traps", &w); err != nil {
		return nil, err
	}
	return &w, nil
}

func (s *WANTrapStore) save(w *WANTraps) error {
	return writeJSON(s.path, "wan traps", w)
}

// watchWAN looks at the live WAN on a quiet poll. A trap that appears (or
// changes) is recorded once as a `drift` note on the running commit with
// the fix; a trap that goes is logged. Failing to look is logged, not an
// error: the site itself is fine.
func (a *Agent) watchWAN(ctx context.Context, st *State, n *policy.Network) (*Outcome, error) {
	w, ok := a.Device.(WANInspector)
	if !ok {
		return nil, nil
	}
	traps, err := w.WANTraps(ctx, n, a.Site)
	if err != nil {
		a.log().Debug("cannot read the live WAN", zap.Error(err))
		return nil, nil
	}
	store := NewWANTrapStore(filepath.Dir(a.States.path))
	prev, err := store.Load()
	if err != nil {
		return nil, err
	}
	if slices.Equal(prev.Traps, traps) {
		return nil, nil
	}
	now := a.Clock.Now()
	if err := store.save(&WANTraps{Traps: traps, Since: now}); err != nil {
		return nil, err
	}
	if len(traps) == 0 {
		a.log().Info("the WAN trap is gone", zap.String("step", "wan"))
		return nil, nil
	}
	a.log().Warn("routed prefix connected on the WAN", zap.String("step", "wan"), zap.Strings("traps", traps))
	o := &Outcome{Site: a.Site, Commit: st.Running, Result: ResultDrift, Started: now, Finished: now, Version: a.Version, Host: a.Host,
		Reason: "live WAN: " + strings.Join(traps, "; ")}
	return o, a.finish(ctx, st, o)
}
