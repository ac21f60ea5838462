// Package agent is tether's transaction loop and the interfaces its devices
// meet: a Device plans and applies one site's configuration behind a
// device-side dead-man and settles it; a Prober runs the health checks the
// model implies. The values they exchange live in agent/contract, so backends
// (agent/mikrotik, agent/linuxhost) satisfy these interfaces without
// importing this package (test/arch checks it); cmd/tether picks one.
package agent

import (
	"context"
	"time"

	"github.com/tether-net/tether/agent/contract"
	"github.com/tether-net/tether/policy"
)

// The loop's names for the contract values.
type (
	Plan        = contract.Plan
	Change      = contract.Change
	CheckResult = contract.CheckResult
	DoctorCheck = contract.DoctorCheck
)

var (
	ErrDeadmanFired = contract.ErrDeadmanFired
	ErrPermanent    = contract.ErrPermanent
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
	// plan (len(Changes) == 0) means the device already matches. A plan
	// the device can never carry out wraps contract.ErrPermanent.
	Plan(ctx context.Context, n *policy.Network, site string) (*Plan, error)
	// Apply arms the dead-man to fire at deadline, then writes the plan.
	// On error the device has been restored to the prior state (or the
	// dead-man will restore it); the error says which.
	Apply(ctx context.Context, p *Plan, deadline time.Time) error
	// Settle ends a transaction: keep disarms the dead-man and keeps the
	// change; !keep applies the inverse and then disarms. Settle is
	// idempotent, so a restarted agent can call it from the journal. It
	// wraps contract.ErrDeadmanFired when the dead-man got there first.
	Settle(ctx context.Context, p *Plan, keep bool) error
}

// Prober runs health checks at a site.
type Prober interface {
	// Probe runs every check once and returns one result per check, in
	// order. It never fails as a whole: a check that cannot run is a
	// failed result with the reason as evidence.
	Probe(ctx context.Context, checks []policy.Check) []CheckResult
}
