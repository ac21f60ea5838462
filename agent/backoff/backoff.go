// Package backoff computes how long tether waits before retrying something
// that failed: a git poll, a notes push that lost a race, a notification.
package backoff

import (
	"math/rand/v2"
	"time"
)

// Policy doubles the wait from First on each attempt, up to Max.
type Policy struct {
	First, Max time.Duration
}

// Wait is the pause before retry number attempt (1 for the first retry),
// drawn from [d/2, d] for the doubled d: agents that failed at the same
// moment (one remote, one receiver, one notes ref) then do not retry in
// lockstep, and none waits less than half the schedule. rnd returns values in
// [0,1); nil means math/rand.
func (p Policy) Wait(attempt int, rnd func() float64) time.Duration {
	if rnd == nil {
		rnd = rand.Float64
	}
	d := p.Max
	if attempt < 1 {
		attempt = 1
	}
	if attempt < 63 {
		if doubled := p.First << (attempt - 1); doubled > 0 && doubled < p.Max {
			d = doubled
		}
	}
	return d/2 + time.Duration(rnd()*float64(d-d/2))
}
