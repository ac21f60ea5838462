package agent

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"time"

	"github.com/tether-net/tether/agent/safefile"
)

// Step is where a transaction is; the journal records it before each step
// so a restarted agent knows what the device may look like.
type Step string

const (
	StepPlanned   Step = "planned"   // plan journaled, device untouched
	StepApplying  Step = "applying"  // dead-man armed, writing: device may be partly changed
	StepGating    Step = "gating"    // applied, checking health
	StepKeeping   Step = "keeping"   // gate passed, disarming
	StepReverting Step = "reverting" // gate failed, restoring
)

// Entry is the journal of the one transaction in flight.
type Entry struct {
	TxnID    string        `json:"txn_id"`
	Site     string        `json:"site"`
	Commit   string        `json:"commit"`
	Step     Step          `json:"step"`
	Repair   bool          `json:"repair,omitempty"` // a drift repair, not a new commit
	Adopt    bool          `json:"adopt,omitempty"`  // tether adopt: ownership only, the running commit stays
	Plan     *Plan         `json:"plan"`
	Deadline time.Time     `json:"deadline"`
	Started  time.Time     `json:"started"`
	Baseline []CheckResult `json:"baseline,omitempty"`
	Gate     *GateResult   `json:"gate,omitempty"`
	Reason   string        `json:"reason,omitempty"`
}

// Journal keeps the in-flight transaction in the state dir, written and
// fsynced before every step.
type Journal struct{ path string }

// NewJournal returns the journal in dir.
func NewJournal(dir string) *Journal { return &Journal{path: filepath.Join(dir, "journal.json")} }

// Write records e durably.
func (j *Journal) Write(e *Entry) error {
	return writeJSON(j.path, "journal", e)
}

// Read returns the transaction in flight, or nil when there is none.
func (j *Journal) Read() (*Entry, error) {
	var e Entry
	if ok, err := readJSON(j.path, "journal", &e); !ok {
		return nil, err
	}
	return &e, nil
}

// Clear ends the transaction.
func (j *Journal) Clear() error {
	if err := safefile.Remove(j.path); err != nil {
		return fmt.Errorf("clear journal: %w", err)
	}
	return nil
}

// writeFileSync replaces path atomically in the state dir (created 0700).
func writeFileSync(path string, data []byte, mode fs.FileMode) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return err
	}
	return safefile.Write(path, data, mode)
}
