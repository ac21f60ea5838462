package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"slices"
	"sort"
	"strings"

	"github.com/go-git/go-git/v5"
	"github.com/go-git/go-git/v5/plumbing"
	"github.com/go-git/go-git/v5/plumbing/object"

	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/agent/gitsource"
	"github.com/tether-net/tether/policy"
	"github.com/tether-net/tether/render/linux"
	"github.com/tether-net/tether/render/routeros"
)

func init() {
	register(&command{
		name:    "diff",
		summary: "show what a commit range changes on every site, from the model alone",
		usage:   "[--from REV] [--to REV] [--dir DIR] [--format text|markdown|json] [REPO]",
		help: `Renders the network at two commits and prints what the range changes,
without touching any device:

  - per site (with its rollout wave): the RouterOS items added, changed
    (attribute by attribute) and removed, matched by the identity the agent
    uses, and a unified diff of every Linux file
  - which links change at both ends (the agents coordinate those through
    the gate) and which at one end only
  - public keys that changed (key rotations)
  - lint findings present at --to but not at --from

--to defaults to HEAD, --from to --to's first parent (a root commit is
compared with an empty network). REPO is a Git working tree or bare
repository (default "."); --dir is the network folder inside it. Markdown
suits a merge-request comment. Exits 1 when --to does not validate.`,
		run: runDiff,
	})
}

func runDiff(ctx context.Context, env *cliEnv, args []string) int {
	c := commands["diff"]
	fs := newFlags(c, env)
	from := fs.String("from", "", "base revision (default: --to's first parent)")
	to := fs.String("to", "HEAD", "revision to review")
	dir := fs.String("dir", ".", "network folder inside the repository")
	format := fs.String("format", "text", "text, markdown or json")
	if code, ok := parseFlags(fs, env, args); !ok {
		return code
	}
	if fs.NArg() > 1 {
		fs.Usage()
		return 2
	}
	switch *format {
	case "text", "markdown", "json":
	default:
		fmt.Fprintln(env.stderr, "tether diff: --format must be text, markdown or json")
		return 2
	}
	repoPath := "."
	if fs.NArg() == 1 {
		repoPath = fs.Arg(0)
	}
	rep, err := diffRepo(ctx, repoPath, *from, *to, *dir)
	if err != nil {
		fmt.Fprintf(env.stderr, "tether diff: %v\n", err)
		return 1
	}
	switch *format {
	case "json":
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(rep); err != nil {
			fmt.Fprintf(env.stderr, "tether diff: %v\n", err)
			return 1
		}
	case "markdown":
		rep.writeMarkdown(env.stdout)
	default:
		rep.writeText(env.stdout)
	}
	if rep.Invalid {
		fmt.Fprintf(env.stderr, "tether diff: the network at %s does not validate\n", rep.To)
		return 1
	}
	return 0
}

// changeReport is the network-wide effect of a commit range.
type changeReport struct {
	Network   string          `json:"network"`
	From      string          `json:"from"` // "" when compared with an empty network
	To        string          `json:"to"`
	Invalid   bool            `json:"invalid,omitempty"` // --to does not validate: only findings are reported
	Sites     []siteChange    `json:"sites"`
	Unchanged []string        `json:"unchanged"`
	Links     []linkChange    `json:"links"`
	Keys      []keyChange     `json:"key_rotations"`
	Findings  policy.Problems `json:"new_findings"`
	Waves     [][]string      `json:"waves,omitempty"`
}

type siteChange struct {
	Site     string       `json:"site"`
	Platform string       `json:"platform"`
	Version  string       `json:"routeros_version,omitempty"`
	Wave     int          `json:"wave,omitempty"` // 1-based; 0: in no wave
	Status   string       `json:"status"`         // added, removed or changed
	Items    []itemChange `json:"items,omitempty"`
	Files    []fileChange `json:"files,omitempty"`
	Error    string       `json:"error,omitempty"` // rendering --to failed
}

type itemChange struct {
	Op    string       `json:"op"` // add, set or remove
	Path  string       `json:"path"`
	ID    string       `json:"id,omitempty"`
	Attrs []attrChange `json:"attrs"`
}

type attrChange struct {
	Name string  `json:"name"`
	From *string `json:"from,omitempty"`
	To   *string `json:"to,omitempty"`
}

type fileChange struct {
	Path string `json:"path"`
	Op   string `json:"op"` // add, change or remove
	Diff string `json:"diff"`
}

type linkChange struct {
	Link string   `json:"link"`
	Ends []string `json:"ends"` // the sites whose end of the link changes
	Both bool     `json:"both_ends"`
}

type keyChange struct {
	Owner string `json:"owner"` // "site relay wg-home" or "peer phone"
	From  string `json:"from,omitempty"`
	To    string `json:"to,omitempty"`
}

// diffRepo loads the network at both revisions of the repository at path.
func diffRepo(ctx context.Context, path, fromRev, toRev, dir string) (*changeReport, error) {
	repo, err := openRepo(path)
	if err != nil {
		return nil, err
	}
	toH, err := repo.ResolveRevision(plumbing.Revision(toRev))
	if err != nil {
		return nil, fmt.Errorf("resolve --to %s: %w", toRev, err)
	}
	var fromH *plumbing.Hash
	if fromRev != "" {
		if fromH, err = repo.ResolveRevision(plumbing.Revision(fromRev)); err != nil {
			return nil, fmt.Errorf("resolve --from %s: %w", fromRev, err)
		}
	} else {
		c, err := repo.CommitObject(*toH)
		if err != nil {
			return nil, fmt.Errorf("load %s: %w", toH, err)
		}
		if len(c.ParentHashes) > 0 {
			fromH = &c.ParentHashes[0]
		}
	}
	next, nextProblems, err := loadAt(ctx, repo, *toH, dir)
	if err != nil {
		return nil, err
	}
	if next == nil {
		return nil, fmt.Errorf("no network folder %q at %s", dir, toH.String()[:12])
	}
	var prev *policy.Network
	var prevProblems policy.Problems
	from := ""
	if fromH != nil {
		from = fromH.String()
		if prev, prevProblems, err = loadAt(ctx, repo, *fromH, dir); err != nil {
			return nil, err
		}
		if prevProblems.HasErrors() {
			// An invalid base renders nothing; compare with an empty network
			// but still subtract its findings.
			prev = nil
		}
	}
	return compareNetworks(prev, next, prevProblems, nextProblems, from, toH.String()), nil
}

// openRepo opens a bare repository, a working tree or a folder inside one
// (`git worktree` checkouts included). go-git's DetectDotGit alone walks
// up past a bare repository, so the path itself is tried first.
func openRepo(path string) (*git.Repository, error) {
	repo, err := git.PlainOpenWithOptions(path, &git.PlainOpenOptions{EnableDotGitCommonDir: true})
	if errors.Is(err, git.ErrRepositoryNotExists) {
		repo, err = git.PlainOpenWithOptions(path, &git.PlainOpenOptions{DetectDotGit: true, EnableDotGitCommonDir: true})
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", path, err)
	}
	return repo, nil
}

// loadAt loads the network folder dir of commit; a missing folder is a nil
// network (the network is new in the range).
func loadAt(ctx context.Context, repo *git.Repository, commit plumbing.Hash, dir string) (*policy.Network, policy.Problems, error) {
	fsys, err := gitsource.TreeFS(ctx, repo.Storer, commit, dir)
	if errors.Is(err, object.ErrDirectoryNotFound) {
		return nil, nil, nil
	}
	if err != nil {
		return nil, nil, err
	}
	if _, err := fs.Stat(fsys, "network.toml"); errors.Is(err, fs.ErrNotExist) {
		return nil, nil, nil
	}
	n, problems := policy.Load(fsys, ".")
	return n, problems, nil
}

// compareNetworks is the model-only diff; prev is nil for an empty base.
func compareNetworks(prev, next *policy.Network, prevProblems, nextProblems policy.Problems, from, to string) *changeReport {
	rep := &changeReport{Network: next.Name, From: from, To: to, Waves: next.Rollout.Waves,
		Sites: []siteChange{}, Unchanged: []string{}, Links: []linkChange{}, Keys: []keyChange{}}
	rep.Findings = newFindings(prevProblems, nextProblems)
	if nextProblems.HasErrors() {
		rep.Invalid = true
		return rep
	}
	if prev == nil {
		prev = &policy.Network{}
	}
	names := map[string]bool{}
	for s := range prev.Sites {
		names[s] = true
	}
	for s := range next.Sites {
		names[s] = true
	}
	for _, name := range slices.Sorted(maps.Keys(names)) {
		sc := compareSite(prev, next, name)
		if sc.Status == "" {
			rep.Unchanged = append(rep.Unchanged, name)
			continue
		}
		rep.Sites = append(rep.Sites, sc)
	}
	rep.Links = changedLinks(prev, next)
	rep.Keys = rotatedKeys(prev, next)
	return rep
}

func compareSite(prev, next *policy.Network, name string) siteChange {
	ps, ns := prev.Sites[name], next.Sites[name]
	sc := siteChange{Site: name}
	cur := ns
	switch {
	case ps == nil:
		sc.Status = "added"
	case ns == nil:
		sc.Status, cur = "removed", ps
	}
	sc.Platform = cur.Platform
	if cur.Platform == "routeros" {
		sc.Version = cur.RouterOSVersion
	}
	for i, w := range next.Rollout.Waves {
		if slices.Contains(w, name) {
			sc.Wave = i + 1
		}
	}
	oldItems, oldFiles, _ := renderForDiff(prev, name)
	newItems, newFiles, err := renderForDiff(next, name)
	if err != nil {
		sc.Error = err.Error()
	}
	sc.Items = diffItems(oldItems, newItems)
	sc.Files = diffFiles(oldFiles, newFiles)
	if sc.Status == "" && (len(sc.Items) > 0 || len(sc.Files) > 0 || sc.Error != "" ||
		ps.Platform != ns.Platform || ps.RouterOSVersion != ns.RouterOSVersion) {
		sc.Status = "changed"
	}
	return sc
}

// renderForDiff renders site of n, if n has it: RouterOS items or Linux
// files, whichever the platform makes.
func renderForDiff(n *policy.Network, site string) ([]routeros.Item, []linux.File, error) {
	s := n.Sites[site]
	if s == nil {
		return nil, nil, nil
	}
	if s.Platform == "routeros" {
		cfg, err := routeros.Render(n, site)
		if err != nil {
			return nil, nil, err
		}
		return cfg.Items, nil, nil
	}
	cfg, err := linux.Render(n, site, linux.Options{})
	if err != nil {
		return nil, nil, err
	}
	return nil, cfg.Files, nil
}

// itemKey is how the agent matches a rendered item with the router's: menu
// path and identity (singletons by path). An identity repeated within a
// path is told apart by its order.
func itemKeys(items []routeros.Item) ([]string, map[string]routeros.Item) {
	byKey := map[string]routeros.Item{}
	var keys []string
	seen := map[string]int{}
	for _, it := range items {
		k := it.Path + "\x00" + it.ID
		seen[k]++
		if seen[k] > 1 {
			k = fmt.Sprintf("%s\x00#%d", k, seen[k])
		}
		byKey[k] = it
		keys = append(keys, k)
	}
	return keys, byKey
}

// placeAttr shows an ordered item's anchor as an attribute, so a move
// reads like any other change.
const placeAttr = "place-before"

func itemAttrs(it routeros.Item) []routeros.Attr {
	attrs := slices.Clone(it.Attrs)
	if it.Anchor != "" {
		attrs = append(attrs, routeros.Attr{Name: placeAttr, Value: it.Anchor})
	}
	return attrs
}

func diffItems(old, cur []routeros.Item) []itemChange {
	oldKeys, oldBy := itemKeys(old)
	curKeys, curBy := itemKeys(cur)
	var out []itemChange
	for _, k := range curKeys {
		n := curBy[k]
		o, had := oldBy[k]
		if !had {
			ch := itemChange{Op: "add", Path: n.Path, ID: n.ID}
			for _, a := range itemAttrs(n) {
				ch.Attrs = append(ch.Attrs, attrChange{Name: a.Name, To: ptr(a.Value)})
			}
			out = append(out, ch)
			continue
		}
		if attrs := diffAttrs(itemAttrs(o), itemAttrs(n)); len(attrs) > 0 {
			out = append(out, itemChange{Op: "set", Path: n.Path, ID: n.ID, Attrs: attrs})
		}
	}
	for _, k := range oldKeys {
		if _, kept := curBy[k]; kept {
			continue
		}
		o := oldBy[k]
		ch := itemChange{Op: "remove", Path: o.Path, ID: o.ID}
		for _, a := range itemAttrs(o) {
			ch.Attrs = append(ch.Attrs, attrChange{Name: a.Name, From: ptr(a.Value)})
		}
		out = append(out, ch)
	}
	return out
}

func diffAttrs(old, cur []routeros.Attr) []attrChange {
	was := map[string]string{}
	for _, a := range old {
		was[a.Name] = a.Value
	}
	var out []attrChange
	for _, a := range cur {
		v, ok := was[a.Name]
		delete(was, a.Name)
		switch {
		case !ok:
			out = append(out, attrChange{Name: a.Name, To: ptr(a.Value)})
		case v != a.Value:
			out = append(out, attrChange{Name: a.Name, From: ptr(v), To: ptr(a.Value)})
		}
	}
	for _, a := range old {
		if v, gone := was[a.Name]; gone {
			out = append(out, attrChange{Name: a.Name, From: ptr(v)})
		}
	}
	return out
}

func ptr(s string) *string { return &s }

func diffFiles(old, cur []linux.File) []fileChange {
	was := map[string]linux.File{}
	for _, f := range old {
		was[f.Path] = f
	}
	var out []fileChange
	for _, f := range cur {
		o, had := was[f.Path]
		delete(was, f.Path)
		switch {
		case !had:
			out = append(out, fileChange{Path: f.Path, Op: "add", Diff: unifiedDiff(f.Path, nil, f.Content)})
		case string(o.Content) != string(f.Content):
			out = append(out, fileChange{Path: f.Path, Op: "change", Diff: unifiedDiff(f.Path, o.Content, f.Content)})
		case o.Mode != f.Mode:
			out = append(out, fileChange{Path: f.Path, Op: "change", Diff: fmt.Sprintf("mode %04o -> %04o\n", o.Mode.Perm(), f.Mode.Perm())})
		}
	}
	for _, f := range old {
		if _, gone := was[f.Path]; gone {
			out = append(out, fileChange{Path: f.Path, Op: "remove", Diff: unifiedDiff(f.Path, f.Content, nil)})
		}
	}
	return out
}

// changedLinks reports every link one of whose ends the range changes,
// judged the way the agent judges it (agent.TwoEndedLinks: a site's entry
// for a link means the far end's view of it changed).
func changedLinks(prev, next *policy.Network) []linkChange {
	changedEnd := map[string][]string{} // link -> sites whose end changes
	for _, site := range next.SiteNames() {
		for link := range agent.TwoEndedLinks(prev, next, site) {
			k := next.Links[link]
			var far string
			if k.A.Site == site {
				far = k.B.Site
			} else {
				far = k.A.Site
			}
			changedEnd[link] = append(changedEnd[link], far)
		}
	}
	out := []linkChange{}
	for _, link := range slices.Sorted(maps.Keys(changedEnd)) {
		ends := changedEnd[link]
		sort.Strings(ends)
		out = append(out, linkChange{Link: link, Ends: ends, Both: len(ends) == 2})
	}
	for name, k := range prev.Links {
		if next.Links[name] == nil {
			out = append(out, linkChange{Link: name, Ends: []string{k.A.Site, k.B.Site}, Both: true})
		}
	}
	slices.SortFunc(out, func(a, b linkChange) int { return strings.Compare(a.Link, b.Link) })
	return out
}

// rotatedKeys lists every public key of a site interface or a peer that
// the range sets, changes or drops.
func rotatedKeys(prev, next *policy.Network) []keyChange {
	keys := func(n *policy.Network) map[string]string {
		m := map[string]string{}
		for _, s := range n.Sites {
			for _, w := range s.WireGuard {
				if !w.PublicKey.IsZero() {
					m["site "+s.Name+" "+w.Name] = w.PublicKey.String()
				}
			}
		}
		for _, p := range n.Peers {
			if !p.PublicKey.IsZero() {
				m["peer "+p.Name] = p.PublicKey.String()
			}
		}
		return m
	}
	was, now := keys(prev), keys(next)
	owners := map[string]bool{}
	for o := range was {
		owners[o] = true
	}
	for o := range now {
		owners[o] = true
	}
	out := []keyChange{}
	for _, o := range slices.Sorted(maps.Keys(owners)) {
		if was[o] != now[o] {
			out = append(out, keyChange{Owner: o, From: was[o], To: now[o]})
		}
	}
	return out
}

// newFindings is what --to finds and --from did not. Positions are left
// out of the comparison: an edit above a finding moves it without making
// it new.
func newFindings(old, cur policy.Problems) policy.Problems {
	key := func(p policy.Problem) string {
		return strings.Join([]string{p.File, p.Path, p.Rule, string(p.Severity), p.Message}, "\x00")
	}
	seen := map[string]int{}
	for _, p := range old {
		seen[key(p)]++
	}
	out := policy.Problems{}
	for _, p := range cur {
		if seen[key(p)] > 0 {
			seen[key(p)]--
			continue
		}
		out = append(out, p)
	}
	return out
}

// ---- output ----

func shortRev(rev string) string {
	if rev == "" {
		return "(empty)"
	}
	if len(rev) > 12 {
		return rev[:12]
	}
	return rev
}

func shortKey(k string) string {
	if k == "" {
		return "(none)"
	}
	if len(k) > 10 {
		return k[:10] + "…"
	}
	return k
}

func attrText(name, v string) string {
	if v == "" {
		return name
	}
	if strings.ContainsAny(v, " \t\"") {
		return fmt.Sprintf("%s=%q", name, v)
	}
	return name + "=" + v
}

// itemLines is one RouterOS change in the "+ ~ -" style of a plan.
func (ch itemChange) line() string {
	var parts []string
	switch ch.Op {
	case "add":
		for _, a := range ch.Attrs {
			parts = append(parts, attrText(a.Name, *a.To))
		}
		return fmt.Sprintf("+ %s %s", ch.Path, strings.Join(parts, " "))
	case "remove":
		id := ch.ID
		if id == "" {
			id = "(settings)"
		}
		return fmt.Sprintf("- %s %s", ch.Path, id)
	}
	for _, a := range ch.Attrs {
		switch {
		case a.From == nil:
			parts = append(parts, "+"+attrText(a.Name, *a.To))
		case a.To == nil:
			parts = append(parts, "-"+attrText(a.Name, *a.From))
		default:
			parts = append(parts, fmt.Sprintf("%s: %s -> %s", a.Name, orDash(*a.From), orDash(*a.To)))
		}
	}
	id := ch.ID
	if id == "" {
		id = "(settings)"
	}
	return fmt.Sprintf("~ %s %s: %s", ch.Path, id, strings.Join(parts, ", "))
}

func orDash(s string) string {
	if s == "" {
		return `""`
	}
	return s
}

func (sc siteChange) heading() string {
	plat := sc.Platform
	if sc.Version != "" {
		plat += " " + sc.Version
	}
	wave := "no wave"
	if sc.Wave > 0 {
		wave = fmt.Sprintf("wave %d", sc.Wave)
	}
	return fmt.Sprintf("%s (%s, %s): %s", sc.Site, plat, wave, sc.Status)
}

// body is the site's changes as diff-style lines.
func (sc siteChange) body() string {
	var b strings.Builder
	if sc.Error != "" {
		fmt.Fprintf(&b, "! render failed: %s\n", sc.Error)
	}
	for _, ch := range sc.Items {
		b.WriteString(ch.line())
		b.WriteByte('\n')
	}
	for _, f := range sc.Files {
		b.WriteString(f.Diff)
	}
	return b.String()
}

func (l linkChange) text() string {
	if l.Both {
		return fmt.Sprintf("%s: changes at both ends (%s); the agents coordinate it", l.Link, strings.Join(l.Ends, ", "))
	}
	return fmt.Sprintf("%s: changes at %s only", l.Link, strings.Join(l.Ends, ", "))
}

func (k keyChange) text() string {
	return fmt.Sprintf("%s: %s -> %s", k.Owner, shortKey(k.From), shortKey(k.To))
}

func (r *changeReport) writeText(w io.Writer) {
	fmt.Fprintf(w, "network %s: %s..%s\n", r.Network, shortRev(r.From), shortRev(r.To))
	if r.Invalid {
		fmt.Fprintln(w, "\nthe network does not validate at --to; nothing rendered")
	}
	for _, sc := range r.Sites {
		fmt.Fprintf(w, "\n%s\n", sc.heading())
		for _, l := range strings.SplitAfter(strings.TrimSuffix(sc.body(), "\n"), "\n") {
			fmt.Fprintf(w, "  %s", strings.TrimSuffix(l, "\n")+"\n")
		}
	}
	if len(r.Unchanged) > 0 {
		fmt.Fprintf(w, "\nunchanged: %s\n", strings.Join(r.Unchanged, ", "))
	}
	section := func(title string, lines []string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(w, "\n%s\n", title)
		for _, l := range lines {
			fmt.Fprintf(w, "  %s\n", l)
		}
	}
	section("links", mapSlice(r.Links, linkChange.text))
	section("key rotations", mapSlice(r.Keys, keyChange.text))
	section("new lint findings", mapSlice(r.Findings, policy.Problem.String))
	section("rollout", waveLines(r.Waves))
}

func (r *changeReport) writeMarkdown(w io.Writer) {
	fmt.Fprintf(w, "### tether diff: `%s` `%s..%s`\n", r.Network, shortRev(r.From), shortRev(r.To))
	if r.Invalid {
		fmt.Fprintln(w, "\n**The network does not validate at this revision; nothing was rendered.**")
	}
	if len(r.Sites) == 0 && !r.Invalid {
		fmt.Fprintln(w, "\nNo site changes.")
	}
	for _, sc := range r.Sites {
		fmt.Fprintf(w, "\n#### %s\n\n```diff\n%s```\n", sc.heading(), sc.body())
	}
	if len(r.Unchanged) > 0 {
		fmt.Fprintf(w, "\nUnchanged: %s\n", strings.Join(r.Unchanged, ", "))
	}
	section := func(title string, lines []string) {
		if len(lines) == 0 {
			return
		}
		fmt.Fprintf(w, "\n**%s**\n\n", title)
		for _, l := range lines {
			fmt.Fprintf(w, "- `%s`\n", strings.ReplaceAll(l, "`", "'"))
		}
	}
	section("Links", mapSlice(r.Links, linkChange.text))
	section("Key rotations", mapSlice(r.Keys, keyChange.text))
	section("New lint findings", mapSlice(r.Findings, policy.Problem.String))
	section("Rollout", waveLines(r.Waves))
}

func mapSlice[T any](in []T, f func(T) string) []string {
	var out []string
	for _, v := range in {
		out = append(out, f(v))
	}
	return out
}

func waveLines(waves [][]string) []string {
	var out []string
	for i, w := range waves {
		out = append(out, fmt.Sprintf("wave %d: %s", i+1, strings.Join(w, ", ")))
	}
	return out
}

// ---- unified diff of rendered files ----

// diffContext is the number of unchanged lines shown around a change.
const diffContext = 3

// lineOp is one line of an edit script: ' ' kept, '-' removed, '+' added.
type lineOp struct {
	kind byte
	text string
}

// unifiedDiff is the unified diff of a file's two versions (nil: absent).
func unifiedDiff(path string, old, cur []byte) string {
	a, b := splitLines(old), splitLines(cur)
	ops := editScript(a, b)
	var out strings.Builder
	oldName, newName := "a"+path, "b"+path
	if old == nil {
		oldName = "/dev/null"
	}
	if cur == nil {
		newName = "/dev/null"
	}
	fmt.Fprintf(&out, "--- %s\n+++ %s\n", oldName, newName)
	// aAt[i], bAt[i]: lines of a and b consumed before ops[i].
	aAt, bAt := make([]int, len(ops)+1), make([]int, len(ops)+1)
	for i, op := range ops {
		aAt[i+1], bAt[i+1] = aAt[i], bAt[i]
		if op.kind != '+' {
			aAt[i+1]++
		}
		if op.kind != '-' {
			bAt[i+1]++
		}
	}
	for i := 0; i < len(ops); {
		if ops[i].kind == ' ' {
			i++
			continue
		}
		start := max(0, i-diffContext)
		end := i // one past the last change of the hunk
		for j := i; j < len(ops); j++ {
			if ops[j].kind != ' ' {
				end = j + 1
			} else if j-end >= 2*diffContext {
				break
			}
		}
		stop := min(len(ops), end+diffContext)
		aN, bN := aAt[stop]-aAt[start], bAt[stop]-bAt[start]
		aS, bS := aAt[start]+1, bAt[start]+1
		if aN == 0 {
			aS--
		}
		if bN == 0 {
			bS--
		}
		fmt.Fprintf(&out, "@@ -%d,%d +%d,%d @@\n", aS, aN, bS, bN)
		for _, op := range ops[start:stop] {
			out.WriteByte(op.kind)
			out.WriteString(op.text)
			out.WriteByte('\n')
		}
		i = stop
	}
	return out.String()
}

func splitLines(b []byte) []string {
	if len(b) == 0 {
		return nil
	}
	return strings.Split(strings.TrimSuffix(string(b), "\n"), "\n")
}

// editScript is a shortest line edit script from a to b: the common head
// and tail are kept and the middle is aligned by longest common
// subsequence. Rendered files are a few hundred lines; past maxLCSCells
// the middle is shown as replaced whole rather than aligned.
func editScript(a, b []string) []lineOp {
	const maxLCSCells = 4 << 20
	var head, tail []lineOp
	for len(a) > 0 && len(b) > 0 && a[0] == b[0] {
		head = append(head, lineOp{' ', a[0]})
		a, b = a[1:], b[1:]
	}
	for len(a) > 0 && len(b) > 0 && a[len(a)-1] == b[len(b)-1] {
		tail = append([]lineOp{{' ', a[len(a)-1]}}, tail...)
		a, b = a[:len(a)-1], b[:len(b)-1]
	}
	var mid []lineOp
	if (len(a)+1)*(len(b)+1) > maxLCSCells {
		for _, l := range a {
			mid = append(mid, lineOp{'-', l})
		}
		for _, l := range b {
			mid = append(mid, lineOp{'+', l})
		}
	} else {
		// lcs[i][j] is the LCS length of a[i:] and b[j:].
		w := len(b) + 1
		lcs := make([]int, (len(a)+1)*w)
		for i := len(a) - 1; i >= 0; i-- {
			for j := len(b) - 1; j >= 0; j-- {
				if a[i] == b[j] {
					lcs[i*w+j] = lcs[(i+1)*w+j+1] + 1
				} else {
					lcs[i*w+j] = max(lcs[(i+1)*w+j], lcs[i*w+j+1])
				}
			}
		}
		i, j := 0, 0
		for i < len(a) || j < len(b) {
			switch {
			case i < len(a) && j < len(b) && a[i] == b[j]:
				mid = append(mid, lineOp{' ', a[i]})
				i, j = i+1, j+1
			case j == len(b) || (i < len(a) && lcs[(i+1)*w+j] >= lcs[i*w+j+1]):
				// Removals before additions, as diff(1) prints them.
				mid = append(mid, lineOp{'-', a[i]})
				i++
			default:
				mid = append(mid, lineOp{'+', b[j]})
				j++
			}
		}
	}
	return append(append(head, mid...), tail...)
}
