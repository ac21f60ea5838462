package mikrotik

import (
	"context"
	"testing"
)

// TestStatsCountFailures: tether_routeros_api_errors_total is fed from
// Stats.Failures, so a command the router refuses must count there and a
// good one must not.
func TestStatsCountFailures(t *testing.T) {
	l := newLab(t, "7.20.8", false)
	ctx := context.Background()
	if _, err := l.dev.c.run(ctx, "/ip/address/print"); err != nil {
		t.Fatal(err)
	}
	if st := l.dev.Stats(); st.RoundTrips != 1 || st.Failures != 0 {
		t.Fatalf("after a good read: %+v", st)
	}
	if _, err := l.dev.c.run(ctx, "/ip/address/add", "=address=not-an-address", "=interface=bridge"); err == nil {
		t.Fatal("the router accepted a bad address")
	}
	if st := l.dev.Stats(); st.RoundTrips != 2 || st.Failures != 1 || st.Writes != 1 {
		t.Fatalf("after a refused write: %+v", st)
	}
}
