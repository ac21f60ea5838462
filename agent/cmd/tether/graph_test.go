package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// mermaidFlowchart is the structure of a Mermaid flowchart as far as
// `tether graph` writes it: node declarations and labelled edges.
type mermaidFlowchart struct {
	title string
	nodes map[string]string // id -> label, <br/> turned into newlines
	edges []mermaidEdge
}

type mermaidEdge struct{ from, arrow, label, to string }

var (
	mermaidNode = regexp.MustCompile(`^  ([A-Za-z0-9_]+)(\["|\(\["|\(\(")([^"]*)("\]|"\]\)|"\)\))$`)
	mermaidLink = regexp.MustCompile(`^  ([A-Za-z0-9_]+) (<-->|-\.-)\|"([^"]*)"\| ([A-Za-z0-9_]+)$`)
)

// parseMermaid reads the flowchart strictly: every line must be the
// front matter, the header, a node or an edge, brackets must pair, and an
// edge may only join declared nodes.
func parseMermaid(t *testing.T, src string) mermaidFlowchart {
	t.Helper()
	lines := strings.Split(strings.TrimSuffix(src, "\n"), "\n")
	if len(lines) < 4 || lines[0] != "---" || !strings.HasPrefix(lines[1], "title: ") || lines[2] != "---" || lines[3] != "flowchart LR" {
		t.Fatalf("no front matter and flowchart header:\n%s", src)
	}
	fc := mermaidFlowchart{title: strings.TrimPrefix(lines[1], "title: "), nodes: map[string]string{}}
	pairs := map[string]string{`["`: `"]`, `(["`: `"])`, `(("`: `"))`}
	for i, l := range lines[4:] {
		if m := mermaidNode.FindStringSubmatch(l); m != nil {
			if pairs[m[2]] != m[4] {
				t.Errorf("line %d: brackets %s ... %s do not pair", i+5, m[2], m[4])
			}
			if _, dup := fc.nodes[m[1]]; dup {
				t.Errorf("line %d: node %s declared twice", i+5, m[1])
			}
			fc.nodes[m[1]] = strings.ReplaceAll(m[3], "<br/>", "\n")
			continue
		}
		if m := mermaidLink.FindStringSubmatch(l); m != nil {
			fc.edges = append(fc.edges, mermaidEdge{m[1], m[2], strings.ReplaceAll(m[3], "<br/>", "\n"), m[4]})
			continue
		}
		t.Errorf("line %d is not a node or an edge: %q", i+5, l)
	}
	for _, e := range fc.edges {
		if _, ok := fc.nodes[e.from]; !ok {
			t.Errorf("edge from undeclared %s", e.from)
		}
		if _, ok := fc.nodes[e.to]; !ok {
			t.Errorf("edge to undeclared %s", e.to)
		}
	}
	return fc
}

func TestGraphMermaidBGPRelay(t *testing.T) {
	out, stderr, code := run(t, "graph", "../../../repo-example/linux-bgp-relay")
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	fc := parseMermaid(t, out)
	if fc.title != "linux-bgp-relay" {
		t.Errorf("title %q", fc.title)
	}
	want := map[string]string{
		"site_home":  "home\nRouterOS 7.22.3\nAS64513",
		"site_relay": "relay\nlinux\nAS64512\nrouted: 2001:db8:300::/48",
	}
	if len(fc.nodes) != len(want) {
		t.Errorf("nodes %v, want %v", fc.nodes, want)
	}
	for id, label := range want {
		if fc.nodes[id] != label {
			t.Errorf("node %s = %q, want %q", id, fc.nodes[id], label)
		}
	}
	wantEdge := mermaidEdge{"site_relay", "<-->", "relay-home: WireGuard relay wg-home - home wg-vps\neBGP AS64512 - AS64513\n" +
		"relay exports ::/0\nhome exports 2001:db8:300::/48", "site_home"}
	if !slices.Equal(fc.edges, []mermaidEdge{wantEdge}) {
		t.Errorf("edges %+v, want %+v", fc.edges, wantEdge)
	}
}

// External peers hang off the site interface they use, mesh servers off
// their mesh; every example network draws as a well-formed flowchart.
func TestGraphMermaidPeersAndEveryExample(t *testing.T) {
	out, _, code := run(t, "graph", "--format", "mermaid", "../../../repo-example/road-warrior-s2s")
	if code != 0 {
		t.Fatalf("exit %d", code)
	}
	fc := parseMermaid(t, out)
	var peers []string
	for _, e := range fc.edges {
		if e.arrow == "-.-" {
			peers = append(peers, e.from+" "+e.label+" "+e.to)
		}
	}
	want := []string{"peer_laptop_2d_thinkpad wg-remote site_site_2d_a", "peer_phone_2d_pixel_2d_9 wg-remote site_site_2d_a",
		"peer_tablet_2d_ipad wg-remote site_site_2d_a"}
	if !slices.Equal(peers, want) {
		t.Errorf("peer edges %v, want %v", peers, want)
	}
	if got := fc.nodes["peer_phone_2d_pixel_2d_9"]; got != "phone-pixel-9\nphone\n10.200.200.2/32" {
		t.Errorf("phone node %q", got)
	}

	dirs, _ := filepath.Glob("../../../repo-example/*/network.toml")
	if len(dirs) == 0 {
		t.Fatal("no examples")
	}
	for _, d := range dirs {
		out, stderr, code := run(t, "graph", filepath.Dir(d))
		if code != 0 {
			t.Errorf("%s: exit %d: %s", d, code, stderr)
			continue
		}
		fc := parseMermaid(t, out)
		sites, _ := filepath.Glob(filepath.Join(filepath.Dir(d), "sites", "*.toml"))
		n := 0
		for id := range fc.nodes {
			if strings.HasPrefix(id, "site_") {
				n++
			}
		}
		if n != len(sites) {
			t.Errorf("%s: %d site nodes, %d site files", d, n, len(sites))
		}
	}
}

func TestGraphDOTRendersWithGraphviz(t *testing.T) {
	dot, err := exec.LookPath("dot")
	if err != nil {
		t.Skip("Graphviz dot not installed; the DOT output is not checked")
	}
	dirs, _ := filepath.Glob("../../../repo-example/*/network.toml")
	for _, d := range dirs {
		out, stderr, code := run(t, "graph", "--format", "dot", filepath.Dir(d))
		if code != 0 {
			t.Fatalf("%s: exit %d: %s", d, code, stderr)
		}
		cmd := exec.Command(dot, "-Tsvg")
		cmd.Stdin = strings.NewReader(out)
		var svg, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &svg, &errb
		if err := cmd.Run(); err != nil || errb.Len() > 0 {
			t.Errorf("%s: dot: %v %s\n%s", d, err, errb.String(), out)
			continue
		}
		// Every site is drawn: its name is a text of the SVG.
		sites, _ := filepath.Glob(filepath.Join(filepath.Dir(d), "sites", "*.toml"))
		for _, s := range sites {
			name := strings.TrimSuffix(filepath.Base(s), ".toml")
			// Graphviz writes "-" as an entity.
			if !strings.Contains(svg.String(), ">"+strings.ReplaceAll(name, "-", "&#45;")+"</text>") {
				t.Errorf("%s: the SVG has no text %q", d, name)
			}
		}
	}
}

// A Git repository is drawn at a revision; an invalid network is refused
// with its errors.
func TestGraphFromGitRevision(t *testing.T) {
	f := newDiffRepo(t)
	out, stderr, code := run(t, "graph", "--rev", f.commits["init"], f.dir)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if fc := parseMermaid(t, out); !strings.Contains(fc.nodes["site_home"], "AS64513") {
		t.Errorf("home %q", fc.nodes["site_home"])
	}
	plain := t.TempDir()
	if err := os.CopyFS(plain, os.DirFS("../../../repo-example/linux-bgp-relay")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(plain, "network.toml"), []byte("name = [\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, stderr, code := run(t, "graph", "--format", "dot", plain); code != 1 || !strings.Contains(stderr, "network.toml:") {
		t.Errorf("plain folder with a broken network.toml: exit %d, %q", code, stderr)
	}
}
