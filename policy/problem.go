package policy

import (
	"fmt"
	"sort"
	"strings"
)

// Severity says whether a problem blocks a commit.
type Severity string

const (
	SeverityError   Severity = "error"
	SeverityWarning Severity = "warning"
)

// Problem is one finding about a network: where it is, which rule found it,
// and a plain message. Problems are data; callers decide how to print them.
type Problem struct {
	File     string   `json:"file"`
	Line     int      `json:"line,omitempty"`
	Col      int      `json:"col,omitempty"`
	Path     string   `json:"path,omitempty"` // field path inside the file, e.g. wireguard[0].public_key
	Rule     string   `json:"rule"`           // stable ID, e.g. "syntax", "unknown-key", "TL001"
	Severity Severity `json:"severity"`
	Message  string   `json:"message"`
}

func (p Problem) String() string {
	var b strings.Builder
	b.WriteString(p.File)
	if p.Line > 0 {
		fmt.Fprintf(&b, ":%d:%d", p.Line, p.Col)
	}
	b.WriteString(": ")
	if p.Severity == SeverityWarning {
		b.WriteString("warning: ")
	}
	if p.Path != "" {
		b.WriteString(p.Path)
		b.WriteString(": ")
	}
	b.WriteString(p.Message)
	if p.Rule != "" && strings.HasPrefix(p.Rule, "TL") {
		fmt.Fprintf(&b, " [%s]", p.Rule)
	}
	return b.String()
}

// Problems is every finding of one load, sorted by file and position.
type Problems []Problem

// HasErrors reports whether any problem is an error (not a warning).
func (ps Problems) HasErrors() bool {
	for _, p := range ps {
		if p.Severity == SeverityError {
			return true
		}
	}
	return false
}

// Errors and Warnings split the findings by severity.
func (ps Problems) Errors() Problems   { return ps.filter(SeverityError) }
func (ps Problems) Warnings() Problems { return ps.filter(SeverityWarning) }

func (ps Problems) filter(s Severity) Problems {
	var out Problems
	for _, p := range ps {
		if p.Severity == s {
			out = append(out, p)
		}
	}
	return out
}

// Err returns the errors as one error value, or nil when there are none.
func (ps Problems) Err() error {
	errs := ps.Errors()
	if len(errs) == 0 {
		return nil
	}
	return &InvalidError{Problems: errs}
}

func (ps Problems) sort() {
	sort.SliceStable(ps, func(i, j int) bool {
		a, b := ps[i], ps[j]
		if a.File != b.File {
			return fileOrder(a.File) < fileOrder(b.File)
		}
		if a.Line != b.Line {
			return a.Line < b.Line
		}
		return a.Col < b.Col
	})
}

// fileOrder sorts network.toml first, then sites, links, peers.
func fileOrder(f string) string {
	switch {
	case strings.HasSuffix(f, "network.toml"):
		return "0" + f
	case strings.Contains(f, "sites/"):
		return "1" + f
	case strings.Contains(f, "links/"):
		return "2" + f
	default:
		return "3" + f
	}
}

// InvalidError is returned when a network has errors.
type InvalidError struct{ Problems Problems }

func (e *InvalidError) Error() string {
	lines := make([]string, 0, len(e.Problems)+1)
	lines = append(lines, fmt.Sprintf("invalid network: %d error(s)", len(e.Problems)))
	for _, p := range e.Problems {
		lines = append(lines, "  "+p.String())
	}
	return strings.Join(lines, "\n")
}
