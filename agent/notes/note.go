package notes

import (
	"bytes"
	"fmt"
	"slices"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
	"github.com/tether-net/tether/agent/secret"
)

// Result is the outcome of one attempt.
type Result string

// Results.
const (
	Applied   Result = "applied"   // change applied and the health gate passed
	Reverted  Result = "reverted"  // change applied, gate failed, reverted
	Rejected  Result = "rejected"  // commit refused: untrusted or invalid
	Unchanged Result = "unchanged" // nothing to do for this site
	Repaired  Result = "repaired"  // drift on the device corrected
	// Gating marks a change in flight: applied (or about to be) and under
	// its gate; the far ends of the links it touches witness it.
	Gating Result = "gating"
	// Witnessed is a far end's verdict on another site's change in flight
	// (Status healthy or regressed, its checks as evidence).
	Witnessed Result = "witnessed"
)

// Witness statuses.
const (
	Healthy     = "healthy"
	Regressed   = "regressed"
	Pending     = "pending"     // asked, not answered yet (in a gating attempt)
	Unwitnessed = "unwitnessed" // no answer within the bounded wait
)

// Check statuses.
const (
	Pass    = "pass"
	Fail    = "fail"
	Skipped = "skipped"
)

// Note is the body of one site's note on one commit.
type Note struct {
	Attempts []Attempt `toml:"attempt"`
}

// Attempt is one try at a commit by one site.
type Attempt struct {
	Site         string    `toml:"site"`
	Commit       string    `toml:"commit"`
	Result       Result    `toml:"result"`
	Started      time.Time `toml:"started"`
	Finished     time.Time `toml:"finished"`
	AgentVersion string    `toml:"agent_version,omitempty"`
	Host         string    `toml:"host,omitempty"`
	// Txn is the device transaction the attempt settled; one transaction is
	// one attempt even when a restarted agent settles it again.
	Txn    string       `toml:"txn,omitempty"`
	Reason string       `toml:"reason,omitempty"`
	Errors []string     `toml:"errors,omitempty"` // "file:line:col: message"
	Plan   *PlanSummary `toml:"plan,omitempty"`
	Checks []Check      `toml:"check,omitempty"`
	// Status is a witnessed attempt's verdict (Healthy or Regressed).
	Status string `toml:"status,omitempty"`
	// Witnesses are the far ends asked to witness a change: pending in a
	// gating attempt, their verdicts in the settled one.
	Witnesses []Witness `toml:"witness,omitempty"`
}

// Witness is one far end's part in a witnessed gate.
type Witness struct {
	Site     string `toml:"site"`
	Link     string `toml:"link"`
	Status   string `toml:"status"` // pending | healthy | regressed | unwitnessed
	Evidence string `toml:"evidence,omitempty"`
}

// PlanSummary counts a plan's operations and keeps a few of its lines.
type PlanSummary struct {
	Adds    int      `toml:"adds"`
	Sets    int      `toml:"sets"`
	Removes int      `toml:"removes"`
	Moves   int      `toml:"moves"`
	Lines   []string `toml:"lines,omitempty"`
}

// Check is one health check's verdict and evidence.
type Check struct {
	Name     string `toml:"name"`
	Kind     string `toml:"kind"`
	Target   string `toml:"target,omitempty"`
	Status   string `toml:"status"`             // pass | fail | skipped
	Baseline string `toml:"baseline,omitempty"` // status before the change
	MustPass bool   `toml:"must_pass"`
	Evidence string `toml:"evidence,omitempty"`
}

// MaxPlanLines bounds PlanSummary.Lines in a marshalled note.
const MaxPlanLines = 20

// Header is the human summary line at the top of a marshalled note, from
// its last attempt, e.g. "tether: applied at home (2026-11-22T10:00:00Z)".
func (n *Note) Header() string {
	if len(n.Attempts) == 0 {
		return "tether: no attempts"
	}
	a := n.Attempts[len(n.Attempts)-1]
	h := fmt.Sprintf("tether: %s at %s (%s)", a.Result, a.Site, a.Finished.UTC().Format(time.RFC3339))
	if a.Reason != "" {
		h += ": " + firstLine(a.Reason)
	}
	// A gating attempt announces a try in flight; it is not a try of its own.
	tries := 0
	for _, at := range n.Attempts {
		if at.Result != Gating {
			tries++
		}
	}
	if tries > 1 {
		h += fmt.Sprintf(" [%d attempts]", tries)
	}
	return h
}

// Marshal renders the note as TOML under a one-line comment header.
// Credentials in URLs are stripped from every string, times are rendered in
// UTC, and the plan's line list is capped at MaxPlanLines.
func Marshal(n *Note) ([]byte, error) {
	c := n.sanitized()
	var buf bytes.Buffer
	buf.WriteString("# " + c.Header() + "\n\n")
	enc := toml.NewEncoder(&buf)
	enc.Indent = ""
	if err := enc.Encode(c); err != nil {
		return nil, fmt.Errorf("encode note: %w", err)
	}
	return buf.Bytes(), nil
}

// Parse reads a note written by Marshal. Unknown keys are an error, so a
// note written by something else is not silently half-read.
func Parse(b []byte) (*Note, error) {
	var n Note
	md, err := toml.Decode(string(b), &n)
	if err != nil {
		return nil, fmt.Errorf("parse note: %w", err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return nil, fmt.Errorf("parse note: unknown key %s", und[0])
	}
	if len(n.Attempts) == 0 {
		return nil, fmt.Errorf("parse note: no [[attempt]] tables")
	}
	return &n, nil
}

// Append adds an attempt, keeping the earlier ones.
func (n *Note) Append(a Attempt) { n.Attempts = append(n.Attempts, a) }

// Merge returns the union of two notes' attempts: identical attempts appear
// once, the rest are ordered by start time (stable, so equal times keep
// a's order first). Used when two writers raced on the same ref.
func Merge(a, b *Note) *Note {
	out := &Note{}
	seen := map[string]bool{}
	for _, src := range []*Note{a, b} {
		if src == nil {
			continue
		}
		for _, at := range src.Attempts {
			k := at.key()
			if seen[k] {
				continue
			}
			seen[k] = true
			out.Attempts = append(out.Attempts, at)
		}
	}
	slices.SortStableFunc(out.Attempts, func(x, y Attempt) int { return x.Started.Compare(y.Started) })
	return out
}

// key identifies an attempt for de-duplication: its marshalled form.
func (a Attempt) key() string {
	var buf bytes.Buffer
	_ = toml.NewEncoder(&buf).Encode(a.sanitized())
	return buf.String()
}

func (n *Note) sanitized() *Note {
	c := &Note{Attempts: make([]Attempt, len(n.Attempts))}
	for i, a := range n.Attempts {
		c.Attempts[i] = a.sanitized()
	}
	return c
}

func (a Attempt) sanitized() Attempt {
	a.Started = a.Started.UTC()
	a.Finished = a.Finished.UTC()
	a.Reason = secret.Redact(a.Reason)
	a.Errors = redactAll(a.Errors)
	if a.Plan != nil {
		p := *a.Plan
		if len(p.Lines) > MaxPlanLines {
			p.Lines = append(p.Lines[:MaxPlanLines:MaxPlanLines], fmt.Sprintf("… %d more", len(p.Lines)-MaxPlanLines))
		}
		p.Lines = redactAll(p.Lines)
		a.Plan = &p
	}
	if a.Checks != nil {
		cs := make([]Check, len(a.Checks))
		for i, c := range a.Checks {
			c.Evidence = secret.Redact(c.Evidence)
			c.Target = secret.Redact(c.Target)
			cs[i] = c
		}
		a.Checks = cs
	}
	if a.Witnesses != nil {
		ws := make([]Witness, len(a.Witnesses))
		for i, w := range a.Witnesses {
			w.Evidence = secret.Redact(w.Evidence)
			ws[i] = w
		}
		a.Witnesses = ws
	}
	return a
}

func redactAll(ss []string) []string {
	if ss == nil {
		return nil
	}
	out := make([]string, len(ss))
	for i, s := range ss {
		out[i] = secret.Redact(s)
	}
	return out
}

func firstLine(s string) string {
	s, _, _ = strings.Cut(strings.TrimSpace(s), "\n")
	return s
}
