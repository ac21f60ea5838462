package gitsource

import "time"

// NextPoll returns the wait before the next poll: interval spread by
// ±jitterFrac (clamped to [0, 1]) so a fleet of agents started together does
// not poll the remote in lockstep. rnd returns a value in [0, 1) (e.g.
// rand.Float64); it is an input so schedules are testable.
func NextPoll(interval time.Duration, jitterFrac float64, rnd func() float64) time.Duration {
	if interval <= 0 {
		return 0
	}
	if jitterFrac <= 0 || rnd == nil {
		return interval
	}
	if jitterFrac > 1 {
		jitterFrac = 1
	}
	r := rnd()
	if r < 0 {
		r = 0
	} else if r >= 1 {
		r = 1
	}
	d := time.Duration(float64(interval) * (1 + jitterFrac*(2*r-1)))
	if d < 0 {
		d = 0
	}
	return d
}
