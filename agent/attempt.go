package agent

import (
	"fmt"

	"github.com/tether-net/tether/agent/notes"
	"github.com/tether-net/tether/agent/secret"
)

// SettledResult is the result of the latest attempt that speaks for the
// commit, or "" when there is none. An adopt only took ownership and a
// gating or witnessed attempt is part of a witnessed gate (a change still in
// flight, a verdict on another site's change), so they are skipped; a revert by the device's dead-man after a passed gate is not
// settled, because the site applies the commit again at its next poll.
func SettledResult(attempts []notes.Attempt) string {
	for i := len(attempts) - 1; i >= 0; i-- {
		a := attempts[i]
		if isAdoptResult(string(a.Result)) || a.Result == notes.Gating || a.Result == notes.Witnessed {
			continue
		}
		if a.Result == notes.Reverted && a.Reason == secret.Redact(DeadmanFiredReason) {
			return ""
		}
		return string(a.Result)
	}
	return ""
}

// ToAttempt turns an outcome into the note's attempt table.
func ToAttempt(o *Outcome) notes.Attempt {
	a := notes.Attempt{
		Site: o.Site, Commit: o.Commit, Result: notes.Result(o.Result),
		Started: o.Started.UTC(), Finished: o.Finished.UTC(),
		AgentVersion: o.Version, Host: o.Host, Reason: secret.Redact(o.Reason), Errors: o.Errors,
		Txn: o.TxnID, Status: o.Status, Witnesses: o.Witnesses,
	}
	if len(o.Changes) > 0 {
		p := &notes.PlanSummary{}
		for _, c := range o.Changes {
			switch c.Op {
			case "add", "write":
				p.Adds++
			case "set":
				p.Sets++
			case "remove", "delete":
				p.Removes++
			case "move":
				p.Moves++
			}
			if len(p.Lines) < notes.MaxPlanLines {
				p.Lines = append(p.Lines, secret.Redact(changeLine(c)))
			}
		}
		a.Plan = p
	}
	for _, c := range o.Checks {
		status := notes.Fail
		if c.OK {
			status = notes.Pass
		}
		baseline := notes.Fail
		if c.BaselineOK {
			baseline = notes.Pass
		}
		ev := c.Evidence
		if c.Note != "" {
			ev += " (" + c.Note + ")"
		}
		a.Checks = append(a.Checks, notes.Check{Name: c.Name, Kind: c.Kind, Status: status, Baseline: baseline, MustPass: c.MustPass && c.Judged, Evidence: secret.Redact(ev)})
	}
	for _, r := range o.AfterRevert {
		status := notes.Fail
		if r.OK {
			status = notes.Pass
		}
		a.Checks = append(a.Checks, notes.Check{Name: "after revert: " + r.Name, Kind: r.Kind, Status: status, Evidence: secret.Redact(r.Evidence)})
	}
	return a
}

func changeLine(c Change) string {
	s := fmt.Sprintf("%s %s %s", c.Op, c.Where, c.What)
	if c.Detail != "" {
		s += ": " + c.Detail
	}
	return s
}
