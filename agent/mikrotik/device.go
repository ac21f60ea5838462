package mikrotik

import (
	"context"
	"crypto/rand"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strconv"
	"time"

	"go.uber.org/zap"

	"github.com/tether-net/tether/agent/contract"
	"github.com/tether-net/tether/policy"
	ros "github.com/tether-net/tether/render/routeros"
)

// ErrDeadmanFired says the router restored its prior state by itself: the
// dead-man's deadline passed before the transaction was settled.
var ErrDeadmanFired = fmt.Errorf("the router ran its dead-man: %w", contract.ErrDeadmanFired)

// Options configure a Device. Conn is required; the rest are seams.
type Options struct {
	Conn   Conn
	Logger *zap.Logger                                        // default zap.NewNop
	Now    func() time.Time                                   // the agent's clock; default time.Now
	Rand   io.Reader                                          // transaction ids; default crypto/rand
	Render func(*policy.Network, string) (*ros.Config, error) // default render/routeros.Render
	// Version, when set, renders the site for this RouterOS version instead
	// of the one the model declares (tests run one model on several).
	Version string
	// RawMenusAllow names guarded menus (see guardedMenus) that raw items
	// may change on this router; the agent's [routeros] raw_menus_allow.
	RawMenusAllow []string
}

// Device is a RouterOS router reached over its API. It satisfies
// agent.Device and agent.Prober. Calls are serialized on one connection;
// probe pings run side by side on a few more (Conn.ProbeSessions).
type Device struct {
	c        *client
	log      *zap.Logger
	now      func() time.Time
	rand     io.Reader
	render   func(*policy.Network, string) (*ros.Config, error)
	version  string
	rawAllow []string
	owned    ownedMenus // menus plans read beyond the rendered ones
}

// New returns a Device; it connects lazily on the first call.
func New(o Options) *Device {
	d := &Device{log: o.Logger, now: o.Now, rand: o.Rand, render: o.Render, version: o.Version, rawAllow: o.RawMenusAllow}
	if d.log == nil {
		d.log = zap.NewNop()
	}
	if d.now == nil {
		d.now = time.Now
	}
	if d.rand == nil {
		d.rand = rand.Reader
	}
	if d.render == nil {
		d.render = ros.Render
	}
	d.c = newClient(o.Conn, d.log)
	return d
}

// Close ends the API session.
func (d *Device) Close() error { return d.c.Close() }

// Stats returns the API traffic so far.
func (d *Device) Stats() Stats { return d.c.Stats() }

// Plan renders the site and plans it against the router.
func (d *Device) Plan(ctx context.Context, n *policy.Network, site string) (*contract.Plan, error) {
	cfg, err := d.renderSite(n, site)
	if err != nil {
		return nil, err
	}
	p, err := d.PlanConfig(ctx, cfg)
	if err != nil {
		if pe, ok := errors.AsType[*PrereqError](err); ok {
			whereInSite(n.Sites[site], pe.Missing)
		}
		return nil, fmt.Errorf("plan %s: %w", site, err)
	}
	d.log.Debug("planned", zap.String("step", "plan"), zap.String("digest", p.Digest),
		zap.Int("changes", len(p.Changes)), zap.Any("summary", p.Summary()))
	return p, nil
}

// renderSite renders the site, for Options.Version when it is set.
func (d *Device) renderSite(n *policy.Network, site string) (*ros.Config, error) {
	if s := n.Sites[site]; s != nil {
		if err := checkRawMenus(s, d.rawAllow); err != nil {
			return nil, err
		}
	}
	if d.version != "" {
		if s := n.Sites[site]; s != nil && s.RouterOSVersion != d.version {
			cp := *s
			cp.RouterOSVersion = d.version
			nn := *n
			nn.Sites = make(map[string]*policy.Site, len(n.Sites))
			for k, v := range n.Sites {
				nn.Sites[k] = v
			}
			nn.Sites[site] = &cp
			n = &nn
		}
	}
	cfg, err := d.render(n, site)
	if err != nil {
		return nil, fmt.Errorf("render %s: %w", site, err)
	}
	return cfg, nil
}

func (d *Device) newTxnID() string { return contract.NewTxnID(d.now(), d.rand) }

// DeadmanName is the name of a transaction's /system/script and
// /system/scheduler on the router.
func DeadmanName(txn string) string { return "tether-deadman-" + txn }

func decodePlan(p *contract.Plan) (*doDoc, *undoDoc, error) {
	var do doDoc
	var undo undoDoc
	if err := json.Unmarshal(p.Do, &do); err != nil {
		return nil, nil, fmt.Errorf("decode plan ops: %w", err)
	}
	if err := json.Unmarshal(p.Undo, &undo); err != nil {
		return nil, nil, fmt.Errorf("decode inverse ops: %w", err)
	}
	return &do, &undo, nil
}

// Apply arms the dead-man for deadline, then writes the plan. On a failure
// it restores the prior state through the API and disarms; if that fails
// too the dead-man restores the router at the deadline. The error says
// which.
func (d *Device) Apply(ctx context.Context, p *contract.Plan, deadline time.Time) error {
	if p.Empty() {
		return nil
	}
	do, undo, err := decodePlan(p)
	if err != nil {
		return err
	}
	log := d.log.With(zap.String("txn", p.TxnID)) // the caller's logger carries the site
	start := d.now()
	scriptRef, err := d.arm(ctx, p.TxnID, undo, deadline)
	if err != nil {
		// Nothing of the plan was written; take back what arming left.
		_ = d.disarm(context.WithoutCancel(ctx), p.TxnID)
		return fmt.Errorf("arm dead-man: %w", err)
	}
	log.Info("dead-man armed", zap.String("step", "arm"), zap.Time("deadline", deadline))
	ids := map[string]string{}
	n, err := d.exec(ctx, do.Ops, ids)
	if err == nil && needsRefs(undo) {
		// Some added items have no unique name or comment: now that their
		// .ids are known, give the dead-man a script that names them.
		src := deadmanScript(p.TxnID, undo, ids)
		_, err = d.c.run(ctx, "/system/script/set", "=.id="+scriptRef, "=source="+src)
		if err != nil {
			err = fmt.Errorf("update dead-man script: %w", err)
		}
	}
	if err == nil {
		log.Info("applied", zap.String("step", "apply"), zap.Int("writes", n), zap.Duration("duration", d.now().Sub(start)))
		return nil
	}
	log.Info("apply failed, restoring", zap.String("step", "apply"), zap.Int("done", n), zap.Error(err))
	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 60*time.Second)
	defer cancel()
	if rerr := d.restore(rctx, undo); rerr != nil {
		return fmt.Errorf("apply %s: op %d of %d failed: %w; restoring through the API failed too (%v): the dead-man restores the router at %s",
			p.TxnID, n+1, len(do.Ops), err, rerr, deadline.Format(time.RFC3339))
	}
	if derr := d.disarm(rctx, p.TxnID); derr != nil {
		return fmt.Errorf("apply %s: op %d of %d failed: %w; the router was restored to its prior state, but the dead-man could not be removed (%v): it will re-apply the same prior state at %s",
			p.TxnID, n+1, len(do.Ops), err, derr, deadline.Format(time.RFC3339))
	}
	return fmt.Errorf("apply %s: op %d of %d failed: %w; the router was restored to its prior state", p.TxnID, n+1, len(do.Ops), err)
}

func needsRefs(u *undoDoc) bool {
	for _, o := range u.Ops {
		if o.Op == "remove" && o.Find == nil {
			return true
		}
	}
	return false
}

// Settle ends a transaction. keep disarms the dead-man; !keep restores the
// prior state through the API, verifies it, then disarms. It is idempotent
// and needs only the journaled plan. If the dead-man already fired, keep
// returns ErrDeadmanFired (after finishing the restore, so the router is
// never left half-way) and !keep logs that the router reverted itself.
func (d *Device) Settle(ctx context.Context, p *contract.Plan, keep bool) error {
	if p.Empty() {
		return nil
	}
	_, undo, err := decodePlan(p)
	if err != nil {
		return err
	}
	log := d.log.With(zap.String("txn", p.TxnID)) // the caller's logger carries the site
	st, err := d.deadmanState(ctx, p.TxnID)
	if err != nil {
		return fmt.Errorf("settle %s: %w", p.TxnID, err)
	}
	fired := st.fired
	if st.schedRef == "" && st.scriptRef == "" {
		// Gone: either settled before, or the script ran to its end (it
		// removes itself). The router's state tells which.
		ops, err := d.restoreOps(ctx, undo, true)
		if err != nil {
			return fmt.Errorf("settle %s: %w", p.TxnID, err)
		}
		fired = len(ops) == 0
	}
	if keep && !fired {
		if err := d.disarmState(ctx, st); err != nil {
			return fmt.Errorf("settle %s: disarm: %w", p.TxnID, err)
		}
		log.Info("settled, change kept", zap.String("step", "settle"))
		return nil
	}
	if err := d.restore(ctx, undo); err != nil {
		return fmt.Errorf("settle %s: restore prior state: %w", p.TxnID, err)
	}
	if err := d.disarm(ctx, p.TxnID); err != nil {
		return fmt.Errorf("settle %s: prior state restored, but disarm failed: %w", p.TxnID, err)
	}
	switch {
	case fired && keep:
		log.Info("dead-man had fired: the router reverted itself", zap.String("step", "settle"))
		return fmt.Errorf("settle %s: %w", p.TxnID, ErrDeadmanFired)
	case fired:
		log.Info("dead-man had fired: the router reverted itself", zap.String("step", "settle"))
		return nil
	}
	log.Info("settled, change reverted", zap.String("step", "settle"))
	return nil
}

type deadman struct {
	schedRef, scriptRef string
	fired               bool
}

// deadmanState reads the transaction's scheduler and script.
func (d *Device) deadmanState(ctx context.Context, txn string) (deadman, error) {
	name := DeadmanName(txn)
	var st deadman
	rep, err := d.c.run(ctx, "/system/scheduler/print", "=.proplist=.id,name,run-count", "?name="+name)
	if err != nil {
		return st, fmt.Errorf("read dead-man scheduler: %w", err)
	}
	if len(rep.Re) > 0 {
		st.schedRef = rep.Re[0][".id"]
		if n, _ := strconv.Atoi(rep.Re[0]["run-count"]); n > 0 {
			st.fired = true // ran but did not finish (its last lines remove it)
		}
	}
	rep, err = d.c.run(ctx, "/system/script/print", "=.proplist=.id,name", "?name="+name)
	if err != nil {
		return st, fmt.Errorf("read dead-man script: %w", err)
	}
	if len(rep.Re) > 0 {
		st.scriptRef = rep.Re[0][".id"]
	}
	return st, nil
}

// deadmanPolicy is what the dead-man script and its scheduler may do: it
// only restores configuration, so it needs no more than read and write.
const deadmanPolicy = "read,write"

// arm creates the dead-man: the script first, then the one-shot scheduler
// that runs it at the deadline in the router's own clock.
func (d *Device) arm(ctx context.Context, txn string, undo *undoDoc, deadline time.Time) (string, error) {
	at, err := d.routerTime(ctx, deadline)
	if err != nil {
		return "", err
	}
	name := DeadmanName(txn)
	src := deadmanScript(txn, undo, nil)
	// Scripts default to every policy, which a least-privilege API user
	// (docs/routeros.md: read, write, api, test) may not grant; the
	// dead-man needs only read and write.
	rep, err := d.c.run(ctx, "/system/script/add", "=name="+name, "=source="+src, "=policy="+deadmanPolicy, "=comment=tether: dead-man "+txn)
	if err != nil {
		return "", fmt.Errorf("add script: %w", err)
	}
	ref := rep.Done["ret"]
	_, err = d.c.run(ctx, "/system/scheduler/add", "=name="+name,
		"=start-date="+at.Format("2006-01-02"), "=start-time="+at.Format("15:04:05"),
		"=interval=0", "=on-event="+name, "=policy="+deadmanPolicy, "=comment=tether: dead-man "+txn)
	if err != nil {
		return "", fmt.Errorf("add scheduler: %w", err)
	}
	return ref, nil
}

// routerTime converts the agent's deadline to the router's wall clock: the
// router's time now (from /system/clock, which prints local time) plus the
// time left, rounded up to a whole second. This is immune to clock skew
// between the agent and the router and to the router's time zone.
func (d *Device) routerTime(ctx context.Context, deadline time.Time) (time.Time, error) {
	left := deadline.Sub(d.now())
	if left <= 0 {
		return time.Time{}, fmt.Errorf("deadline %s has already passed", deadline.Format(time.RFC3339))
	}
	rep, err := d.c.run(ctx, "/system/clock/print", "=.proplist=time,date")
	if err != nil {
		return time.Time{}, fmt.Errorf("read router clock: %w", err)
	}
	if len(rep.Re) == 0 {
		return time.Time{}, errors.New("read router clock: empty reply")
	}
	now, err := parseRouterClock(rep.Re[0]["date"], rep.Re[0]["time"])
	if err != nil {
		return time.Time{}, err
	}
	return now.Add(left).Add(time.Second - 1).Truncate(time.Second), nil
}

// parseRouterClock reads /system/clock: 7.10+ print 2024-05-01, older
// releases may/01/2024.
func parseRouterClock(date, clock string) (time.Time, error) {
	for _, layout := range []string{"2006-01-02 15:04:05", "Jan/02/2006 15:04:05", "jan/02/2006 15:04:05"} {
		if t, err := time.Parse(layout, date+" "+clock); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("read router clock: cannot parse date %q time %q", date, clock)
}

// disarm removes the scheduler (first, so it cannot fire any more) and the
// script. Missing ones are fine: disarming is idempotent.
func (d *Device) disarm(ctx context.Context, txn string) error {
	st, err := d.deadmanState(ctx, txn)
	if err != nil {
		return err
	}
	return d.disarmState(ctx, st)
}

func (d *Device) disarmState(ctx context.Context, st deadman) error {
	if st.schedRef != "" {
		if _, err := d.c.run(ctx, "/system/scheduler/remove", "=.id="+st.schedRef); err != nil {
			return fmt.Errorf("remove dead-man scheduler: %w", err)
		}
	}
	if st.scriptRef != "" {
		if _, err := d.c.run(ctx, "/system/script/remove", "=.id="+st.scriptRef); err != nil {
			return fmt.Errorf("remove dead-man script: %w", err)
		}
	}
	return nil
}
