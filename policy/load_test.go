package policy

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"testing/fstest"
)

// archive is a minimal txtar: a comment header, then "-- name --" sections.
type archive struct {
	comment string
	files   map[string]string
	order   []string
}

func parseArchive(src string) archive {
	a := archive{files: map[string]string{}}
	cur := ""
	var b strings.Builder
	flush := func() {
		if cur == "" {
			a.comment = b.String()
		} else {
			a.files[cur] = b.String()
			a.order = append(a.order, cur)
		}
		b.Reset()
	}
	for _, line := range strings.SplitAfter(src, "\n") {
		t := strings.TrimRight(line, "\n")
		if strings.HasPrefix(t, "-- ") && strings.HasSuffix(t, " --") && len(t) > 6 {
			flush()
			cur = strings.TrimSpace(t[3 : len(t)-3])
			continue
		}
		b.WriteString(line)
	}
	flush()
	return a
}

func readArchive(t *testing.T, path string) archive {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return parseArchive(string(data))
}

func mapFS(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for name, content := range files {
		fsys[name] = &fstest.MapFile{Data: []byte(content)}
	}
	return fsys
}

func TestBaseNetworkIsValid(t *testing.T) {
	base := readArchive(t, "testdata/invalid/_base.txtar")
	_, problems := Load(mapFS(base.files), ".")
	if len(problems) != 0 {
		t.Fatalf("base network must load without problems, got:\n%s", problemsText(problems))
	}
}

// TestInvalidInputs loads every broken network in testdata/invalid (the
// base network with a case's files replaced) and checks that each expected
// problem is reported at its position with its message.
func TestInvalidInputs(t *testing.T) {
	base := readArchive(t, "testdata/invalid/_base.txtar")
	cases, err := filepath.Glob("testdata/invalid/[0-9]*.txtar")
	if err != nil || len(cases) < 25 {
		t.Fatalf("want at least 25 invalid cases, found %d (%v)", len(cases), err)
	}
	for _, path := range cases {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txtar"), func(t *testing.T) {
			c := readArchive(t, path)
			files := map[string]string{}
			for k, v := range base.files {
				files[k] = v
			}
			for k, v := range c.files {
				files[k] = v
			}
			_, problems := Load(mapFS(files), ".")
			if !problems.HasErrors() {
				t.Fatalf("expected errors, got none; problems:\n%s", problemsText(problems))
			}
			wants := 0
			for _, line := range strings.Split(c.comment, "\n") {
				want, ok := strings.CutPrefix(line, "want: ")
				if !ok {
					continue
				}
				wants++
				if !hasProblem(problems, want) {
					t.Errorf("missing problem %q; got:\n%s", want, problemsText(problems))
				}
			}
			if wants == 0 {
				t.Fatal("case has no want: lines")
			}
		})
	}
}

// hasProblem matches "file:line:col: text" (line and col optional) against
// the problems: the position must be equal and the text contained.
func hasProblem(ps Problems, want string) bool {
	file, rest, _ := strings.Cut(want, ":")
	line, col := 0, 0
	parts := strings.SplitN(rest, ":", 3)
	if len(parts) == 3 {
		if l, err := strconv.Atoi(parts[0]); err == nil {
			line = l
			col, _ = strconv.Atoi(parts[1])
			rest = parts[2]
		}
	}
	text := strings.TrimSpace(rest)
	rule := ""
	if i := strings.LastIndex(text, " [TL"); i >= 0 && strings.HasSuffix(text, "]") {
		text, rule = text[:i], text[i+2:len(text)-1]
	}
	for _, p := range ps {
		if p.File != file || (line != 0 && (p.Line != line || p.Col != col)) || (rule != "" && p.Rule != rule) {
			continue
		}
		if strings.Contains(p.String(), text) {
			return true
		}
	}
	return false
}

func problemsText(ps Problems) string {
	var b strings.Builder
	for _, p := range ps {
		b.WriteString("  " + p.String() + "\n")
	}
	return b.String()
}

// TestExamplesValidate: every network in repo-example must load cleanly.
func TestExamplesValidate(t *testing.T) {
	dirs, _ := filepath.Glob("../repo-example/*/network.toml")
	if len(dirs) == 0 {
		t.Fatal("no examples found")
	}
	for _, f := range dirs {
		dir := filepath.Dir(f)
		t.Run(filepath.Base(dir), func(t *testing.T) {
			n, problems := Load(os.DirFS(dir), ".")
			if problems.HasErrors() {
				t.Fatalf("example has errors:\n%s", problemsText(problems))
			}
			if len(n.Sites) == 0 {
				t.Fatal("example has no sites")
			}
			for _, w := range problems.Warnings() {
				t.Logf("warning: %s", w)
			}
		})
	}
}

// TestLintCases loads the base network with each lint case applied and
// checks the expected findings ("want:") and absent rules ("none: TLxxx").
func TestLintCases(t *testing.T) {
	base := readArchive(t, "testdata/invalid/_base.txtar")
	cases, _ := filepath.Glob("testdata/lint/*.txtar")
	if len(cases) == 0 {
		t.Fatal("no lint cases")
	}
	for _, path := range cases {
		t.Run(strings.TrimSuffix(filepath.Base(path), ".txtar"), func(t *testing.T) {
			c := readArchive(t, path)
			files := map[string]string{}
			for k, v := range base.files {
				files[k] = v
			}
			for k, v := range c.files {
				files[k] = v
			}
			_, problems := Load(mapFS(files), ".")
			for _, line := range strings.Split(c.comment, "\n") {
				if want, ok := strings.CutPrefix(line, "want: "); ok && !hasProblem(problems, want) {
					t.Errorf("missing %q; got:\n%s", want, problemsText(problems))
				}
				if rule, ok := strings.CutPrefix(line, "none: "); ok {
					for _, p := range problems {
						if p.Rule == rule {
							t.Errorf("unexpected %s: %s", rule, p)
						}
					}
				}
			}
			for _, p := range problems.Errors() {
				if !strings.HasPrefix(p.Rule, "TL") {
					t.Errorf("lint case has a non-lint error: %s", p)
				}
			}
		})
	}
}

// TestLintRulesDocumented: every rule has a unique ID, a name, a summary and
// exactly one check, and docs/config.md lists it in its table and explains it
// under its own heading.
func TestLintRulesDocumented(t *testing.T) {
	doc, err := os.ReadFile("../docs/config.md")
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for _, r := range LintRules {
		if seen[r.ID] || r.Name == "" || r.Summary == "" {
			t.Errorf("lint rule %s duplicated or without name or summary", r.ID)
		}
		seen[r.ID] = true
		if (r.site == nil) == (r.link == nil) {
			t.Errorf("lint rule %s must have exactly one check (site or link)", r.ID)
		}
		for _, want := range []string{"| " + r.ID + " | " + r.Name + " |", "### " + r.ID + " " + r.Name} {
			if !strings.Contains(string(doc), want) {
				t.Errorf("docs/config.md lacks %q", want)
			}
		}
	}
}
