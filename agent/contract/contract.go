// Package contract holds the values a device backend (agent/mikrotik,
// agent/linuxhost) and the transaction loop (agent) exchange: plans, their
// changes, check results, doctor findings and the errors with agreed meaning.
// It imports nothing of tether's own, so backends depend on it and never on
// the loop; the interfaces they satisfy (agent.Device, agent.Prober) live with
// the loop that consumes them.
package contract

import (
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"time"
)

// ErrDeadmanFired is what Settle(keep) wraps when the device-side dead-man
// already restored the prior state: the change is gone, whatever the gate
// said, and the outcome to record is a revert.
var ErrDeadmanFired = errors.New("the dead-man already restored the prior state")

// ErrPermanent marks failures that retrying the same commit cannot fix: a
// device's Plan wraps it to have the commit rejected (noted, not retried).
var ErrPermanent = errors.New("permanent")

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

// NewTxnID names a transaction: its start time in UTC, for people reading
// dead-man schedulers and state files, and 32 random bits from rnd. Devices
// set it in Plan; it also names the device-side dead-man.
func NewTxnID(now time.Time, rnd io.Reader) string {
	var b [4]byte
	_, _ = io.ReadFull(rnd, b[:])
	return now.UTC().Format("20060102T150405Z") + "-" + hex.EncodeToString(b[:])
}

// Empty reports whether the plan changes nothing.
func (p *Plan) Empty() bool { return p == nil || len(p.Changes) == 0 }

// Summary counts the changes by operation.
func (p *Plan) Summary() map[string]int {
	m := map[string]int{}
	for _, c := range p.Changes {
		m[c.Op]++
	}
	return m
}

// Change is one line of a plan as a person reads it: "+ /ip/address
// 2001:db8::1/64 on wg0", "~ /etc/bird/bird.conf".
type Change struct {
	Op     string `json:"op"`     // add | set | remove | move | write | delete | activate
	Where  string `json:"where"`  // RouterOS menu path or Linux file path
	What   string `json:"what"`   // item identity or file name
	Detail string `json:"detail"` // attribute changes, activation action
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

// DoctorCheck is one line of `tether doctor`'s checklist: what was checked,
// whether it passed, what was seen, and for a failure what to do about it.
type DoctorCheck struct {
	Area   string `json:"area"` // "routeros" | "linux"
	Name   string `json:"name"`
	OK     bool   `json:"ok"`
	Detail string `json:"detail"`
	Fix    string `json:"fix,omitempty"`
}
