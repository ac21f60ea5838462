package agent

import (
	"path/filepath"
	"sort"
	"time"
)

// State is what the agent remembers between runs: the last commit it
// trusted (the base for fast-forward checks), the commit the device runs,
// and the commits it will not apply again.
type State struct {
	Accepted    string                `json:"accepted,omitempty"` // last commit that passed trust checks
	Running     string                `json:"running,omitempty"`  // commit the device was last settled at
	LastResult  string                `json:"last_result,omitempty"`
	LastCommit  string                `json:"last_commit,omitempty"` // commit of the last outcome
	LastAt      time.Time             `json:"last_at,omitempty"`
	Rejected    string                `json:"rejected,omitempty"` // last commit recorded as rejected (not retried until the branch moves)
	Quarantined map[string]Quarantine `json:"quarantined,omitempty"`
	// Health is each check's last known health (from passed gates and
	// healthy witness rounds): a witness's baseline, since the far end's
	// change is usually live by the time the witness sees it.
	Health map[string]bool `json:"health,omitempty"`
}

// Quarantine records why a commit is never applied again at this site.
type Quarantine struct {
	Reason string    `json:"reason"`
	At     time.Time `json:"at"`
}

// QuarantinedCommits lists quarantined commits, oldest first.
func (s *State) QuarantinedCommits() []string {
	out := make([]string, 0, len(s.Quarantined))
	for c := range s.Quarantined {
		out = append(out, c)
	}
	sort.Slice(out, func(i, j int) bool { return s.Quarantined[out[i]].At.Before(s.Quarantined[out[j]].At) })
	return out
}

// StateStore persists State in the state dir.
type StateStore struct{ path string }

// NewStateStore returns the store in dir.
func NewStateStore(dir string) *StateStore {
	return &StateStore{path: filepath.Join(dir, "state.json")}
}

// Load reads the state; a missing file is an empty state.
func (s *StateStore) Load() (*State, error) {
	st := &State{Quarantined: map[string]Quarantine{}}
	if _, err := readJSON(s.path, "state", st); err != nil {
		return nil, err
	}
	if st.Quarantined == nil {
		st.Quarantined = map[string]Quarantine{}
	}
	return st, nil
}

// Save writes the state durably.
func (s *StateStore) Save(st *State) error {
	return writeJSON(s.path, "state", st)
}
