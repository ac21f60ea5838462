package backoff

import (
	"testing"
	"time"
)

func TestWaitDoublesUpToMax(t *testing.T) {
	p := Policy{First: time.Second, Max: 10 * time.Second}
	upper := func() float64 { return 1 }
	lower := func() float64 { return 0 }
	for attempt, want := range map[int]time.Duration{0: time.Second, 1: time.Second, 2: 2 * time.Second, 3: 4 * time.Second, 4: 8 * time.Second, 5: 10 * time.Second, 200: 10 * time.Second} {
		if got := p.Wait(attempt, upper); got != want {
			t.Errorf("Wait(%d) at the top of the range = %v, want %v", attempt, got, want)
		}
		if got := p.Wait(attempt, lower); got != want/2 {
			t.Errorf("Wait(%d) at the bottom of the range = %v, want %v", attempt, got, want/2)
		}
	}
}

// Agents retrying together spread over [d/2, d].
func TestWaitIsJittered(t *testing.T) {
	p := Policy{First: time.Second, Max: time.Minute}
	seen := map[time.Duration]bool{}
	for range 200 {
		w := p.Wait(1, nil)
		if w < 500*time.Millisecond || w > time.Second {
			t.Fatalf("Wait(1) = %v, outside [0.5s, 1s]", w)
		}
		seen[w] = true
	}
	if len(seen) < 100 {
		t.Errorf("only %d distinct waits in 200: not jittered", len(seen))
	}
}
