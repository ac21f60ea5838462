package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/tether-net/tether/policy"
)

func init() {
	register(&command{
		name:    "graph",
		summary: "draw the network: sites, links, eBGP sessions, external peers (Mermaid or DOT)",
		usage:   "[--format mermaid|dot] [--rev REV] [--dir DIR] [REPO-or-DIR]",
		help: `Prints the network as a Mermaid flowchart (renders in GitHub and GitLab
Markdown) or a Graphviz DOT graph (dot -Tsvg):

  - every site with its platform and RouterOS version, its ASN and the
    prefixes it routes on into its tunnels (declared routed_prefixes and
    what its links' allowed addresses and BGP imports carry)
  - every link: the WireGuard interfaces at each end and, for an eBGP
    session, both ASNs and what each end exports
  - every external peer (phone, laptop, server, provider) and the site
    interface it connects to, or the mesh it belongs to

The argument is a network folder, or a Git repository (working tree or bare)
read at --rev (default HEAD) with the network in --dir. Default: ".".`,
		run: runGraph,
	})
}

func runGraph(ctx context.Context, env *cliEnv, args []string) int {
	c := commands["graph"]
	fs := newFlags(c, env)
	format := fs.String("format", "mermaid", "mermaid or dot")
	rev := fs.String("rev", "HEAD", "with a Git repository: the revision to draw")
	dir := fs.String("dir", ".", "with a Git repository: the network folder inside it")
	if code, ok := parseFlags(fs, env, args); !ok {
		return code
	}
	if fs.NArg() > 1 || (*format != "mermaid" && *format != "dot") {
		fs.Usage()
		return 2
	}
	path := "."
	if fs.NArg() == 1 {
		path = fs.Arg(0)
	}
	n, problems, where, err := loadForGraph(ctx, path, *rev, *dir)
	if err != nil {
		fmt.Fprintf(env.stderr, "tether graph: %v\n", err)
		return 1
	}
	if problems.HasErrors() {
		for _, p := range problems.Errors() {
			fmt.Fprintf(env.stderr, "%s\n", filepath.Join(where, p.String()))
		}
		fmt.Fprintf(env.stderr, "tether graph: %s is not valid; run tether validate\n", where)
		return 1
	}
	g := buildGraph(n)
	if *format == "dot" {
		g.writeDOT(env.stdout)
	} else {
		g.writeMermaid(env.stdout)
	}
	return 0
}

// loadForGraph loads a network folder on disk, or the network of a Git
// revision; where names it for messages.
func loadForGraph(ctx context.Context, path, rev, dir string) (*policy.Network, policy.Problems, string, error) {
	if isPlainDir(path) {
		fsys, err := openConfigDir(path)
		if err != nil {
			return nil, nil, path, err
		}
		n, problems := policy.Load(fsys, ".")
		return n, problems, path, nil
	}
	repo, err := openRepo(path)
	if err != nil {
		return nil, nil, path, err
	}
	h, err := repo.ResolveRevision(plumbing.Revision(rev))
	if err != nil {
		return nil, nil, path, fmt.Errorf("resolve %s: %w", rev, err)
	}
	n, problems, err := loadAt(ctx, repo, *h, dir)
	if err == nil && n == nil {
		err = fmt.Errorf("no network folder %q at %s", dir, h.String()[:12])
	}
	return n, problems, fmt.Sprintf("%s@%s:%s", path, h.String()[:12], dir), err
}

// netGraph is the network as nodes and edges, whatever the drawing syntax.
type netGraph struct {
	Name  string
	Nodes []graphNode
	Edges []graphEdge
}

type graphNode struct {
	ID    string // unique, [A-Za-z0-9_]
	Kind  string // site, peer or mesh
	Lines []string
}

type graphEdge struct {
	From, To string // node IDs
	Kind     string // link (site to site), peer (peer to site) or mesh (member to mesh)
	Lines    []string
}

func graphID(kind, name string) string {
	var b strings.Builder
	b.WriteString(kind)
	b.WriteByte('_')
	for _, r := range name {
		if r < 128 && (r == '_' || r >= '0' && r <= '9' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z') {
			b.WriteRune(r)
		} else {
			fmt.Fprintf(&b, "_%x_", r)
		}
	}
	return b.String()
}

func buildGraph(n *policy.Network) netGraph {
	g := netGraph{Name: n.Name}
	for _, name := range n.SiteNames() {
		s := n.Sites[name]
		lines := []string{name}
		plat := s.Platform
		if s.Platform == "routeros" {
			plat = "RouterOS " + s.RouterOSVersion
		}
		lines = append(lines, plat)
		if s.ASN != 0 {
			lines = append(lines, fmt.Sprintf("AS%d", s.ASN))
		}
		// Declared and inferred, as the WAN-trap check sees them.
		if routed := n.RoutedPrefixes(name); len(routed) > 0 {
			lines = append(lines, "routed: "+joinStrings(routed))
		}
		g.Nodes = append(g.Nodes, graphNode{ID: graphID("site", name), Kind: "site", Lines: lines})
	}
	for _, name := range n.LinkNames() {
		k := n.Links[name]
		lines := []string{fmt.Sprintf("%s: WireGuard %s %s - %s %s", name, k.A.Site, k.A.Interface, k.B.Site, k.B.Interface)}
		if k.BGP != nil {
			var asA, asB uint32
			for _, bs := range n.BGPSessions(k.A.Site) {
				if bs.Link != nil && bs.Link.Name == name {
					asA, asB = bs.LocalASN, bs.RemoteASN
				}
			}
			lines = append(lines, fmt.Sprintf("eBGP AS%d - AS%d", asA, asB))
			for _, end := range []struct {
				site string
				bgp  policy.BGPEnd
			}{{k.A.Site, k.BGP.A}, {k.B.Site, k.BGP.B}} {
				exp := joinStrings(end.bgp.Export)
				if end.bgp.DefaultOriginate && !strings.Contains(exp, "/0") {
					exp = strings.TrimPrefix(exp+", default", ", ")
				}
				if exp == "" {
					exp = "nothing"
				}
				lines = append(lines, fmt.Sprintf("%s exports %s", end.site, exp))
			}
		}
		g.Edges = append(g.Edges, graphEdge{From: graphID("site", k.A.Site), To: graphID("site", k.B.Site), Kind: "link", Lines: lines})
	}
	meshes := map[string]bool{}
	for _, name := range n.PeerNames() {
		p := n.Peers[name]
		lines := []string{name}
		if p.Kind != "" {
			lines = append(lines, p.Kind)
		}
		if len(p.Addresses) > 0 {
			lines = append(lines, joinStrings(p.Addresses))
		}
		id := graphID("peer", name)
		g.Nodes = append(g.Nodes, graphNode{ID: id, Kind: "peer", Lines: lines})
		if p.Site != "" {
			via := p.Interface
			if !p.Endpoint.IsZero() {
				via += ", site dials " + p.Endpoint.String()
			}
			g.Edges = append(g.Edges, graphEdge{From: id, To: graphID("site", p.Site), Kind: "peer", Lines: []string{via}})
		}
		if p.Mesh != nil && p.Mesh.Name != "" {
			mid := graphID("mesh", p.Mesh.Name)
			if !meshes[p.Mesh.Name] {
				meshes[p.Mesh.Name] = true
				g.Nodes = append(g.Nodes, graphNode{ID: mid, Kind: "mesh", Lines: []string{"mesh " + p.Mesh.Name}})
			}
			g.Edges = append(g.Edges, graphEdge{From: id, To: mid, Kind: "mesh", Lines: []string{p.Mesh.Interface}})
		}
	}
	return g
}

func joinStrings[T fmt.Stringer](vs []T) string {
	out := make([]string, len(vs))
	for i, v := range vs {
		out[i] = v.String()
	}
	return strings.Join(out, ", ")
}

// mermaidText makes a label safe inside a quoted Mermaid label: quotes are
// entity codes, lines are joined with <br/>.
func mermaidText(lines []string) string {
	esc := make([]string, len(lines))
	for i, l := range lines {
		l = strings.ReplaceAll(l, "#", "#35;")
		l = strings.ReplaceAll(l, `"`, "#quot;")
		l = strings.ReplaceAll(l, "<", "#lt;")
		l = strings.ReplaceAll(l, ">", "#gt;")
		esc[i] = l
	}
	return strings.Join(esc, "<br/>")
}

func (g netGraph) writeMermaid(w io.Writer) {
	fmt.Fprintf(w, "---\ntitle: %s\n---\nflowchart LR\n", mermaidText([]string{g.Name}))
	for _, nd := range g.Nodes {
		open, close := `["`, `"]`
		switch nd.Kind {
		case "peer":
			open, close = `(["`, `"])`
		case "mesh":
			open, close = `(("`, `"))`
		}
		fmt.Fprintf(w, "  %s%s%s%s\n", nd.ID, open, mermaidText(nd.Lines), close)
	}
	for _, e := range g.Edges {
		arrow := "<-->"
		if e.Kind != "link" {
			arrow = "-.-"
		}
		fmt.Fprintf(w, "  %s %s|\"%s\"| %s\n", e.From, arrow, mermaidText(e.Lines), e.To)
	}
}

func dotText(lines []string) string {
	esc := make([]string, len(lines))
	for i, l := range lines {
		esc[i] = strings.NewReplacer(`\`, `\\`, `"`, `\"`).Replace(l)
	}
	return `"` + strings.Join(esc, `\n`) + `"`
}

func (g netGraph) writeDOT(w io.Writer) {
	fmt.Fprintf(w, "graph %s {\n  label=%s;\n  rankdir=LR;\n  node [fontname=\"sans-serif\"];\n  edge [fontname=\"sans-serif\", fontsize=10];\n",
		dotText([]string{g.Name}), dotText([]string{g.Name}))
	for _, nd := range g.Nodes {
		shape := "box"
		switch nd.Kind {
		case "peer":
			shape = "ellipse"
		case "mesh":
			shape = "doublecircle"
		}
		fmt.Fprintf(w, "  %s [shape=%s, label=%s];\n", nd.ID, shape, dotText(nd.Lines))
	}
	for _, e := range g.Edges {
		style := "solid"
		if e.Kind != "link" {
			style = "dashed"
		}
		fmt.Fprintf(w, "  %s -- %s [style=%s, label=%s];\n", e.From, e.To, style, dotText(e.Lines))
	}
	fmt.Fprintln(w, "}")
}
