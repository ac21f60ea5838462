package agent_test

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/agent/mikrotik"
	"github.com/tether-net/tether/agent/notebook"
	"github.com/tether-net/tether/agent/notes"
	"github.com/tether-net/tether/test/rossim"
)

// TestTxnAdoptDefconfAddress: the home router of cgnat-chr-relay, its site
// also declaring defconf's LAN address. The agent refuses the commit
// before any write, every poll, naming the item; an adopt through the
// agent (dead-man, gate, real notes) takes the address over and is noted
// as "adopted", which a peer reading the notes does not take for the
// commit's result; the next poll applies the rest of the commit.
func TestTxnAdoptDefconfAddress(t *testing.T) {
	h := newHarness(t)
	home := h.addSim("home", "7.22.3", rossim.World{FarEnds: []rossim.FarEnd{relayFarEnd()}})
	files := patch(t, exampleFiles(t), "sites/home.toml", "[[interface]]\nname = \"bridge\"\nrole = \"lan\"\n",
		"[[interface]]\nname = \"bridge\"\nrole = \"lan\"\n\n[[address]]\ninterface = \"bridge\"\naddress = \"192.168.88.1/24\"\ncomment = \"LAN\"\n")
	c := h.repo.commit(t, files, "declare the LAN address defconf already has")
	home.sim.ResetStats()
	for range 2 {
		_, err := home.syncErr()
		var le *mikrotik.LookalikeError
		if !errors.As(err, &le) || !strings.Contains(err.Error(), "ip address 192.168.88.1/24 on bridge exists and is not tether's") {
			t.Fatalf("sync: %v", err)
		}
	}
	if st := home.sim.Stats(); st.Writes != 0 {
		t.Fatalf("a refused commit wrote %d times", st.Writes)
	}
	if a := armed(home.sim); len(a) > 0 {
		t.Fatalf("dead-man armed for a refused commit: %v", a)
	}

	n := loadNet(t, home, c)
	p, found, err := home.dev.AdoptPlan(context.Background(), n, "home")
	if err != nil || len(found) != 1 {
		t.Fatalf("adopt plan: %v %+v", err, found)
	}
	home.clock.join()
	o, err := home.agent.Adopt(context.Background(), c.String(), n, p)
	home.clock.leave()
	if err != nil || o.Result != agent.ResultAdopted {
		t.Fatalf("adopt: %+v %v", o, err)
	}
	if a := lastAttempt(t, home.note(t, c)); a.Result != notes.Result(agent.ResultAdopted) || !strings.Contains(a.Reason, "comment only") {
		t.Fatalf("adopt note: %s", describeNote(a))
	}
	peerView := &notebook.Git{Other: func(site string) (*notes.Store, error) {
		return notes.New(notes.Config{Repo: home.src.Repository(), Site: site, RemoteURL: h.repo.bare})
	}}
	if r, err := peerView.Result(context.Background(), c.String(), "home"); err != nil || r != "" {
		t.Fatalf("a peer reads the adopt as the commit's result: %q %v", r, err)
	}

	if o := home.sync(t); o == nil || o.Result != agent.ResultApplied {
		t.Fatalf("the commit after the adopt: %+v", o)
	}
	if r, err := peerView.Result(context.Background(), c.String(), "home"); err != nil || r != agent.ResultApplied {
		t.Fatalf("a peer reads %q %v, want applied", r, err)
	}
	rows, _, _ := home.sim.Exec("/ip/address/print", "?address=192.168.88.1/24")
	if len(rows) != 1 || rows[0]["comment"] != "tether: LAN" {
		t.Fatalf("the address: %v", rows)
	}
}
