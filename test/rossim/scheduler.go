package rossim

import (
	"strconv"
	"time"
)

// startupDelay is how long after boot RouterOS runs start-time=startup jobs.
const startupDelay = 3 * time.Second

// runScheduler fires every enabled /system/scheduler whose next run fell in
// (last considered, now]. A job missed several times fires once, as a
// router catching up after a stall does. Called with s.mu held.
func (s *Sim) runScheduler(now time.Time) {
	for _, job := range append([]*item(nil), s.tableFor("/system/scheduler").items...) {
		last, seen := s.sched[job.id]
		s.sched[job.id] = now
		if !seen || job.attrs["disabled"] == "true" {
			continue
		}
		next, ok := s.nextRun(job, last)
		if !ok || next.After(now) {
			continue
		}
		s.fire(job, now)
	}
	for _, job := range s.tableFor("/system/scheduler").items {
		if next, ok := s.nextRun(job, now); ok {
			job.attrs["next-run"] = next.Format(time.DateTime)
		} else {
			delete(job.attrs, "next-run")
		}
	}
}

// nextRun is the first run strictly after t.
func (s *Sim) nextRun(job *item, t time.Time) (time.Time, bool) {
	var start time.Time
	if job.attrs["start-time"] == "startup" {
		start = s.boot.Add(startupDelay)
	} else {
		var err error
		start, err = time.ParseInLocation(time.DateTime, job.attrs["start-date"]+" "+job.attrs["start-time"], s.boot.Location())
		if err != nil {
			return time.Time{}, false
		}
	}
	interval, _ := ParseDuration(job.attrs["interval"])
	if start.After(t) {
		return start, true
	}
	if interval <= 0 {
		return time.Time{}, false // one-shot already past
	}
	k := t.Sub(start)/interval + 1
	return start.Add(k * interval), true
}

// fire runs a job's on-event: the named /system/script if one exists,
// otherwise on-event itself as inline source.
func (s *Sim) fire(job *item, now time.Time) {
	job.attrs["run-count"] = strconv.Itoa(atoi(job.attrs["run-count"]) + 1)
	ev := job.attrs["on-event"]
	// The entry runs with its own policy (set from its creator's).
	p, _ := parsePolicy(job.attrs["policy"], allPolicies)
	who := session{user: job.attrs["owner"], pol: p}
	if sc := s.findByName("/system/script", ev); sc != nil {
		_ = s.runScript(sc, "scheduler", who) // outcome recorded in s.runs
		return
	}
	err := s.interpret(ev, who)
	s.runs = append(s.runs, ScriptRun{Name: "scheduler:" + job.attrs["name"], Origin: "scheduler", At: now, Err: err})
	if err != nil {
		s.logf("rossim: scheduler %q on-event failed: %v", job.attrs["name"], err)
	}
}
