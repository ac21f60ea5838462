package rossim

import (
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strconv"
	"time"
)

// Dump returns every menu's rows in order, as print shows them (with .id,
// except singletons), for exact before/after comparisons. Derived rows
// (connected and BGP routes, sessions) are included. Typed interface menus
// are dumped once, under "/interface" with their full attributes. Empty
// menus, the clock-driven /system/clock and /system/resource, the sessions
// of /user/active and users' last-logged-in are omitted.
func (s *Sim) Dump() map[string][]map[string]string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := map[string][]map[string]string{}
	for name, t := range s.tables {
		if len(t.items) == 0 || volatile[name] {
			continue // empty and never-used menus look the same
		}
		rows := make([]map[string]string, 0, len(t.items))
		for _, it := range t.items {
			r := maps.Clone(it.attrs)
			delete(r, "last-logged-in") // set by every login
			if !specs[name].singleton {
				r[".id"] = it.ID()
			}
			rows = append(rows, r)
		}
		out[name] = rows
	}
	return out
}

// volatile menus change with the clock or with logins alone; they are not
// configuration.
var volatile = map[string]bool{"/system/clock": true, "/system/resource": true, "/user/active": true}

// stateFile is the JSON form of --state: every row with its id (derived
// rows marked ".derived") and each table's next id.
type stateFile struct {
	Version string                `json:"version"`
	Tables  map[string]stateTable `json:"tables"`
}

type stateTable struct {
	NextID string              `json:"next-id"`
	Items  []map[string]string `json:"items"`
}

// SaveState writes the configuration as JSON.
func (s *Sim) SaveState(w io.Writer) error {
	s.mu.Lock()
	st := stateFile{Version: s.cfg.Version, Tables: map[string]stateTable{}}
	for name, t := range s.tables {
		tt := stateTable{NextID: formatID(t.nextID)}
		for _, it := range t.items {
			r := maps.Clone(it.attrs)
			r[".id"] = it.ID()
			if it.derived != "" {
				// Kept so derived rows keep their ids across a reload; their
				// values are recomputed from the world anyway.
				r[".derived"] = it.derived
			}
			tt.Items = append(tt.Items, r)
		}
		st.Tables[name] = tt
	}
	s.mu.Unlock()
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	return enc.Encode(st)
}

// LoadState replaces the configuration with one written by SaveState.
func (s *Sim) LoadState(r io.Reader) error {
	var st stateFile
	if err := json.NewDecoder(r).Decode(&st); err != nil {
		return fmt.Errorf("rossim: load state: %w", err)
	}
	tables := map[string]*table{}
	for name, tt := range st.Tables {
		t := newTable()
		next, err := parseID(tt.NextID)
		if err != nil {
			return fmt.Errorf("rossim: load state: %s: %w", name, err)
		}
		t.nextID = next
		for _, r := range tt.Items {
			id, err := parseID(r[".id"])
			if err != nil {
				return fmt.Errorf("rossim: load state: %s: %w", name, err)
			}
			a := maps.Clone(r)
			der := a[".derived"]
			delete(a, ".id")
			delete(a, ".derived")
			t.items = append(t.items, &item{id: id, attrs: a, derived: der})
			if base, ok := dynamicBase[name]; ok && der != "" && id > base {
				t.nextDyn = max(t.nextDyn, id-base)
			}
		}
		tables[name] = t
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.tables = tables
	s.wg, s.bgp, s.sched = map[uint64]*peerState{}, map[uint64]*sessState{}, map[uint64]time.Time{}
	s.refresh(s.clock.Now())
	return nil
}

// SaveStateFile and LoadStateFile are SaveState/LoadState on a file.
func (s *Sim) SaveStateFile(path string) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if err := s.SaveState(f); err != nil {
		f.Close()
		return err
	}
	return f.Close()
}

// LoadStateFile loads a file written by SaveStateFile.
func (s *Sim) LoadStateFile(path string) error {
	f, err := os.Open(path)
	if err != nil {
		return err
	}
	defer f.Close()
	return s.LoadState(f)
}

// Menus returns the names of all menus holding rows, sorted.
func (s *Sim) Menus() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Sorted(maps.Keys(s.tables))
}

func itoa(n int) string { return strconv.Itoa(n) }
