// Package agent is tether's transaction loop and the contracts its devices
// meet: a Device plans and applies one site's configuration behind a
// device-side dead-man and settles it; a Prober runs the health checks the
// model implies. Backends (agent/mikrotik, agent/linuxhost) satisfy these
// interfaces without importing this package; cmd/tether picks one.
package agent

import (
	"context"
	"encoding/json"
	"errors"
	"time"

	"github.com/tether-net/tether/policy"
)

// Device is a site's router or host as the transaction loop sees it.
//
// The loop calls Plan, journals the plan (including its Undo) durably, then
// Apply, gates on health, and finally Settle. A device must leave the site
// either fully at the plan or fully at the prior state: Apply arms a
// device-side dead-man that restores the prior state at the deadline unless
// Settle disarms it, so a dead agent or a lost path cannot strand a change.
type Device interface {
	// Plan renders the site from the network, reads the device's owned
	// state once, and returns the difference with its inverse. An empty
	// plan (len(Changes) == 0) means the device already matches.
	Plan(ctx context.Context, n *policy.Network, site string) (*Plan, error)
	// Apply arms the dead-man to fire at deadline, then writes the plan.
	// On error the device has been restored to the prior state (or the
	// dead-man will restore it); the error says which.
	Apply(ctx context.Context, p *Plan, deadline time.Time) error
	// Settle ends a transaction: keep disarms the dead-man and keeps the
	// change; !keep applies the inverse and then disarms. Settle is
	// idempotent, so a restarted agent can call it from the journal.
	Settle(ctx context.Context, p *Plan, keep bool) error
}

// ErrDeadmanFired is what Settle(keep) wraps when the device-side dead-man
// already restored the prior state: the change is gone, whatever the gate
// said, and the outcome to record is a revert.
var ErrDeadmanFired = errors.New("the dead-man already restored the prior state")

// Plan is a device's proposed change. Do and Undo are device-specific and
// opaque to the loop; they are journaled so a restarted agent can settle a
// transaction it did not start.
type Plan struct {
	Site    string          `json:"site"`
	Digest  string          `json:"digest"` // digest of the desired state, for "nothing to do" checks
	TxnID   string          `json:"txn_id"` // unique per transaction; names the dead-man on the device
	Changes []Change        `json:"changes"`
	Do      json.RawMessage `json:"do,omitempty"`
	Undo    json.RawMessage `json:"undo,omitempty"`
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return p == nil || len(p.Changes) == 0 }

// Change is one line of a plan as a person reads it: "+ /ip/address
// 2001:db8::1/64 on wg0", "~ /etc/bird/bird.conf".
type Change struct {
	Op     string `json:"op"`     // add | set | remove | move | write | delete | activate
	Where  string `json:"where"`  // RouterOS menu path or Linux file path
	What   string `json:"what"`   // item identity or file name
	Detail string `json:"detail"` // attribute changes, activation action
}

// Summary counts the changes by operation.
func (p *Plan) Summary() map[string]int {
	m := map[string]int{}
	for _, c := range p.Changes {
		m[c.Op]++
	}
	return m
}

// Prober runs health checks at a site.
type Prober interface {
	// Probe runs every check once and returns one result per check, in
	// order. It never fails as a whole: a check that cannot run is a
	// failed result with the reason as evidence.
	Probe(ctx context.Context, checks []policy.Check) []CheckResult
}

// CheckResult is one observation of a check.
type CheckResult struct {
	Name     string    `json:"name"`
	Kind     string    `json:"kind"`
	OK       bool      `json:"ok"`
	Evidence string    `json:"evidence"` // what was seen: "last handshake 12s ago", "established, 1 prefix (::/0)"
	At       time.Time `json:"at"`
	// Since is when the observed state began, where the device reports it:
	// the last handshake for handshake checks. The gate uses it to demand a
	// handshake after the change on peers the change touched.
	Since time.Time `json:"since,omitempty"`
}
