package agent_test

import (
	"strings"
	"testing"
	"time"

	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/test/rossim"
)

// With the network's default budgets (the harness overrides only the
// deadline, stable window and peer wait), a wrong key on a one-ended change
// is reverted after WireGuard's handshake budget, not at the deadline, and
// a right one whose handshake takes 10s is kept.
func TestTxnOneEndedKeyChangeIsJudgedOnTheHandshakeBudget(t *testing.T) {
	s := newHome(t)
	h, home := s.h, s.home
	before := config(home.sim)
	c := h.repo.commit(t, patch(t, s.files, "sites/relay.toml", relayKey, flipChar(relayKey, 3)), "relay: mistyped key")
	o := home.sync(t)
	if o == nil || o.Result != agent.ResultReverted {
		t.Fatalf("a wrong key must be reverted: %+v", o)
	}
	t.Logf("wrong key: gate %s: %s", o.GateDuration, o.Reason)
	if !strings.Contains(o.Reason, "handshake wg-vps/chr-vps") || !strings.Contains(o.Reason, "past the 15s handshake budget") {
		t.Errorf("the verdict must name the check, its evidence and the budget: %s", o.Reason)
	}
	if o.GateDuration > 20*time.Second {
		t.Errorf("gate ran %s of simulated time; the budget is 15s", o.GateDuration)
	}
	if diff := configDiff(before, config(home.sim)); diff != "" {
		t.Errorf("not restored:\n%s", diff)
	}
	if st := home.state(t); st.Quarantined[c.String()].Reason == "" {
		t.Errorf("not quarantined: %+v", st)
	}

	_, k2 := rossim.KeyPair("relay-rotated")
	far := relayFarEnd()
	far.PublicKey, far.HandshakeAfter = k2, rossim.Duration(10*time.Second)
	home.sim.SetWorld(rossim.World{FarEnds: []rossim.FarEnd{far}})
	h.repo.commit(t, patch(t, s.files, "sites/relay.toml", relayKey, k2), "relay: rotated key")
	if o := home.sync(t); o == nil || o.Result != agent.ResultApplied {
		t.Fatalf("a right key that handshakes within the budget must be kept: %+v", o)
	}
}
