package policy

import (
	"runtime"
	"strings"
	"testing"
)

// TestHostileShapeRefused feeds the loader files whose shape alone makes the
// TOML decoder's memory grow with the square of their size. Each must be
// refused with a syntax problem at the right line, having allocated little:
// the agent decodes every file of every commit it trusts, again after every
// restart, so one such file must not be able to kill it.
func TestHostileShapeRefused(t *testing.T) {
	base := readArchive(t, "testdata/invalid/_base.txtar")
	const n = 10000 // about 40 KB of nesting
	cases := map[string]struct {
		src  string
		line int
		want string
	}{
		"inline tables":    {"# ok\nx = " + strings.Repeat("{a=", n) + "1" + strings.Repeat("}", n) + "\n", 2, "nested more than 16"},
		"arrays of tables": {"x = " + strings.Repeat("[{a=", n/2) + "1" + strings.Repeat("}]", n/2) + "\n", 1, "nested more than 16"},
		"dotted key":       {strings.Repeat("a.", n) + "a = 1\n", 1, "more than 16 dotted parts"},
		"table header":     {"\n\n[" + strings.Repeat("a.", n) + "a]\nb = 1\n", 3, "more than 16 dotted parts"},
		"bidi in comment":  {"name = \"home\" # \u202eevil\n", 1, "U+202E"},
		"bidi in a string": {"name = \"ho\u2066me\"\n", 1, "U+2066"},
	}
	for name, c := range cases {
		t.Run(name, func(t *testing.T) {
			files := map[string]string{}
			for k, v := range base.files {
				files[k] = v
			}
			files["sites/home.toml"] = c.src
			var before, after runtime.MemStats
			runtime.ReadMemStats(&before)
			_, problems := Load(mapFS(files), ".")
			runtime.ReadMemStats(&after)
			var found bool
			for _, p := range problems {
				if p.File == "sites/home.toml" && p.Rule == "syntax" && strings.Contains(p.Message, c.want) {
					found = true
					if p.Line != c.line {
						t.Errorf("reported at line %d, want %d: %s", p.Line, c.line, p)
					}
				}
			}
			if !found {
				t.Fatalf("not refused with %q: %v", c.want, problems)
			}
			// Allocation counts are stable, unlike timings: the decoder needs
			// hundreds of megabytes for these; the scan a few copies of the file.
			if alloc := after.TotalAlloc - before.TotalAlloc; alloc > 16<<20 {
				t.Errorf("refusing it allocated %d MB", alloc>>20)
			}
		})
	}
}

// TestShapeAcceptsOrdinaryTOML guards against the scanner refusing what the
// decoder reads fine: strings and comments full of brackets and dots, floats,
// multi-line strings and arrays, and table headers with quoted keys.
func TestShapeAcceptsOrdinaryTOML(t *testing.T) {
	src := `# a comment with { [ . . . . . . . . . . . . . . . . . . ] and "quotes'
a.b.c = 1.5
"x.y.z.w.v.u.t.s.r.q.p.o.n.m.l.k.j.i" = 'a.b.c.d.e.f.g.h.i.j.k.l.m.n.o.p.q.r.s'
s = """
{{{{{{{{{{{{{{{{{{{{{{ [[[[[[[[[[[[[[[[[[[[[ "" \"""
"""
l = '''it's { [ '''
arr = [
  [1, 2], # nested once
  [3.1, 4.2, 5.3, 6.4, 7.5, 8.6, 9.7, 1.8, 2.9, 3.1, 4.2, 5.3, 6.4, 7.5, 8.6, 9.7, 1.8],
]
[t."quoted.key.with.many.dots.a.b.c.d.e.f.g.h.i.j.k.l.m"]
v = {x = {y = [1, {z = 2}]}}
[[rows]]
v = 1
`
	if line, col, msg := checkShape(src); msg != "" {
		t.Fatalf("refused at %d:%d: %s", line, col, msg)
	}
}
