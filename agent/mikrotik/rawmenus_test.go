package mikrotik

import (
	"context"
	"errors"
	"maps"
	"strings"
	"testing"

	"github.com/tether-net/tether/agent/contract"
	"github.com/tether-net/tether/policy"
)

// TestRawMenusGuarded: a commit whose raw items add a user or a scheduler is
// refused before the router is touched, as a permanent error (the loop
// rejects and notes it), unless this agent's config allows that menu.
// Unguarded menus pass untouched.
func TestRawMenusGuarded(t *testing.T) {
	ex := examples(t)[0]
	withRaw := func(items ...policy.RawRouterOS) *policy.Network {
		s := *ex.n.Sites[ex.site]
		s.Raw.RouterOS = append(append([]policy.RawRouterOS(nil), s.Raw.RouterOS...), items...)
		n := *ex.n
		n.Sites = maps.Clone(ex.n.Sites)
		n.Sites[ex.site] = &s
		return &n
	}
	user := policy.RawRouterOS{Path: "/user/", Name: "backdoor", Attributes: map[string]string{"name": "x", "group": "full", "password": "p"}}
	sched := policy.RawRouterOS{Path: "/system/scheduler", Name: "tick", Attributes: map[string]string{"name": "tick", "on-event": "/user add name=y group=full"}}
	dns := policy.RawRouterOS{Path: "/ip/dns/static", Name: "nas", Attributes: map[string]string{"name": "nas.lan", "address": "192.168.88.10"}}

	l := newLab(t, "7.20.8", false)
	_, err := l.dev.Plan(context.Background(), withRaw(dns, user, sched), ex.site)
	if !errors.Is(err, contract.ErrPermanent) {
		t.Fatalf("plan error %v, want a permanent refusal", err)
	}
	for _, want := range []string{`"backdoor" changes /user`, `"tick" changes /system/scheduler`, "raw_menus_allow"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q: %v", want, err)
		}
	}
	if strings.Contains(err.Error(), "nas") {
		t.Errorf("an unguarded menu was reported: %v", err)
	}
	if st := l.dev.Stats(); st.RoundTrips != 0 {
		t.Errorf("the refusal reached the router: %+v", st)
	}

	if _, err := l.dev.Plan(context.Background(), withRaw(dns), ex.site); err != nil {
		t.Fatalf("an unguarded raw item was refused: %v", err)
	}
	if err := checkRawMenus(withRaw(user, sched).Sites[ex.site], []string{"/user", "/system/scheduler/"}); err != nil {
		t.Fatalf("allowed menus were refused: %v", err)
	}
	if err := checkRawMenus(withRaw(user).Sites[ex.site], []string{"/users"}); err == nil {
		t.Fatal("/users allowed /user")
	}
}
