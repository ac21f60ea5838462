package linuxhost

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"

	"github.com/tether-net/tether/agent/contract"
)

// ErrDeadmanFired is returned by Settle(keep) when the dead-man reverted the
// transaction before it could be kept.
var ErrDeadmanFired = fmt.Errorf("the host's dead-man timer reverted this transaction: %w", contract.ErrDeadmanFired)

// Settle implements agent.Device. keep disarms the dead-man; !keep restores
// the previous files and runtime state, then disarms. It only needs the
// plan, so a restarted agent can settle from its journal, and it is
// idempotent.
func (d *Device) Settle(ctx context.Context, p *contract.Plan, keep bool) error {
	if p.Empty() {
		return nil
	}
	log := d.o.Log.With(zap.String("txn", p.TxnID)) // the caller's logger carries the site
	unlock, err := d.lock(ctx)
	if err != nil {
		return fmt.Errorf("linux settle %s: %w", p.Site, err)
	}
	defer unlock()
	done := d.outcome(p.TxnID)
	_, statErr := os.Stat(d.recordPath(p.TxnID))
	pending := statErr == nil

	if keep {
		if !pending {
			if strings.HasPrefix(done, "reverted") {
				return fmt.Errorf("linux settle %s: keep %s: %w", p.Site, p.TxnID, ErrDeadmanFired)
			}
			return nil
		}
		if err := d.disarm(ctx, p.TxnID, "kept", false); err != nil {
			return fmt.Errorf("linux settle %s: %w", p.Site, err)
		}
		log.Info("kept", zap.String("step", "settle"))
		return nil
	}

	if strings.HasPrefix(done, "reverted") {
		return nil
	}
	_, undo, err := d.decode(p)
	if err != nil {
		return fmt.Errorf("linux settle %s: %w", p.Site, err)
	}
	err = withBoot(ctx, d.boot(ctx), undo.Enable, undo.Disable, true, func() error { return d.transition(ctx, undo.Files, true, undo) })
	if err != nil {
		// The dead-man stays armed: it retries at the deadline.
		return fmt.Errorf("linux settle %s: revert: %w", p.Site, err)
	}
	if err := d.writeManifest(undo.Owned); err != nil {
		return fmt.Errorf("linux settle %s: %w", p.Site, err)
	}
	if err := d.disarm(ctx, p.TxnID, "reverted", false); err != nil {
		return fmt.Errorf("linux settle %s: reverted, but: %w", p.Site, err)
	}
	log.Info("reverted", zap.String("step", "settle"))
	return nil
}

// record is what the dead-man needs to revert without the agent: the plan
// and the device settings. It lives in StateDir/linuxhost/txn-ID.json
// (0600) from arming until the transaction is settled; whoever removes it
// under the lock — Settle or the dead-man — decides the outcome.
type record struct {
	TxnID    string         `json:"txn_id"`
	Site     string         `json:"site"`
	Armed    time.Time      `json:"armed"`
	Seconds  int            `json:"seconds"`
	Settings settings       `json:"settings"`
	DeadMan  string         `json:"deadman"` // systemd | detached
	Plan     *contract.Plan `json:"plan"`
}

type settings struct {
	Root       string `json:"root"`
	KeyDir     string `json:"key_dir"`
	StateDir   string `json:"state_dir"`
	BirdSocket string `json:"bird_socket"`
	Services   string `json:"services"` // systemd | direct
}

func (d *Device) recordPath(txn string) string {
	return filepath.Join(d.dir(), "txn-"+txn+".json")
}

func (d *Device) donePath(txn string) string { return filepath.Join(d.dir(), "txn-"+txn+".done") }

func (d *Device) outcome(txn string) string {
	b, _ := os.ReadFile(d.donePath(txn))
	return strings.TrimSpace(string(b))
}

// servicesKind tells the dead-man which service manager to rebuild: a
// Services that is (or embeds) Direct says "direct".
func (d *Device) servicesKind() string {
	if k, ok := d.o.Services.(interface{ Kind() string }); ok {
		return k.Kind()
	}
	return "systemd"
}

// lock serializes Apply, Settle and the dead-man's revert across processes
// (the dead-man is a separate process, possibly in another namespace, but
// on the same filesystem).
func (d *Device) lock(ctx context.Context) (func(), error) {
	if err := os.MkdirAll(d.dir(), 0o700); err != nil {
		return nil, err
	}
	f, err := os.OpenFile(filepath.Join(d.dir(), "lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if err != nil {
		return nil, err
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			return func() { _ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN); f.Close() }, nil
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", f.Name(), err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("lock %s: %w", f.Name(), ctx.Err())
		case <-time.After(50 * time.Millisecond):
		}
	}
}

// Revert reverts the transaction txn recorded in stateDir (every pending
// one when txn is ""), as the dead-man does: `tether revert` calls it. The
// record supplies Root, KeyDir, BIRD's socket and the kind of service
// manager; o supplies the Runner (default: local) and the logger. A
// transaction already settled is left alone.
func Revert(ctx context.Context, stateDir, txn string, o Options) error {
	dir := filepath.Join(stateDir, "linuxhost")
	var names []string
	if txn != "" {
		names = []string{filepath.Join(dir, "txn-"+txn+".json")}
	} else {
		m, err := filepath.Glob(filepath.Join(dir, "txn-*.json"))
		if err != nil {
			return err
		}
		sort.Strings(m)
		names = m
	}
	var errs []error
	for _, name := range names {
		if err := revertRecord(ctx, name, o); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func revertRecord(ctx context.Context, name string, o Options) error {
	b, err := os.ReadFile(name)
	if errors.Is(err, fs.ErrNotExist) {
		return nil // settled meanwhile
	}
	if err != nil {
		return fmt.Errorf("revert: %w", err)
	}
	var rec record
	if err := json.Unmarshal(b, &rec); err != nil {
		return fmt.Errorf("revert: %s: %w", name, err)
	}
	s := rec.Settings
	o.Root, o.KeyDir, o.StateDir, o.BirdSocket = s.Root, s.KeyDir, s.StateDir, s.BirdSocket
	if o.Runner == nil {
		o.Runner = ExecRunner{}
	}
	if o.Services == nil {
		if s.Services == "direct" {
			o.Services = Direct{Runner: o.Runner, Units: DirectUnits(s.Root, s.BirdSocket)}
		} else {
			o.Services = Systemd{Runner: o.Runner}
		}
	}
	d := New(o)
	log := d.o.Log.With(zap.String("site", rec.Site), zap.String("txn", rec.TxnID))
	unlock, err := d.lock(ctx)
	if err != nil {
		return fmt.Errorf("revert %s: %w", rec.TxnID, err)
	}
	defer unlock()
	if _, err := os.Stat(d.recordPath(rec.TxnID)); err != nil {
		return nil // Settle won the race
	}
	_, undo, err := d.decode(rec.Plan)
	if err != nil {
		return fmt.Errorf("revert %s: %w", rec.TxnID, err)
	}
	err = withBoot(ctx, d.boot(ctx), undo.Enable, undo.Disable, true, func() error { return d.transition(ctx, undo.Files, true, undo) })
	if err != nil {
		log.Error("dead-man revert failed", zap.String("step", "deadman"), zap.Error(err))
		return fmt.Errorf("revert %s: %w", rec.TxnID, err)
	}
	if err := d.writeManifest(undo.Owned); err != nil {
		return fmt.Errorf("revert %s: %w", rec.TxnID, err)
	}
	if err := d.disarm(ctx, rec.TxnID, "reverted by dead-man", true); err != nil {
		return fmt.Errorf("revert %s: %w", rec.TxnID, err)
	}
	log.Info("reverted by dead-man", zap.String("step", "deadman"))
	return nil
}

func sortedKeys(m map[string]string) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}
