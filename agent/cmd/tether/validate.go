package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tether-net/tether/policy"
	"github.com/tether-net/tether/render/linux"
	"github.com/tether-net/tether/render/routeros"
)

func init() {
	register(&command{
		name:    "validate",
		summary: "check network folders: schema, references and lint rules",
		usage:   "[--format text|json] [-v] DIR...",
		help: `Validates one or more network folders (each holding network.toml, sites/,
links/ and peers/). Prints a one-line summary per valid network and every
problem with file:line:col otherwise. Exits 0 when every network is valid
(warnings allowed), 1 when any has errors, 2 on usage errors.

-v adds what each network contains: sites, interfaces, links, sessions, peers.`,
		run: runValidate,
	})
}

type validateResult struct {
	Dir      string          `json:"dir"`
	Name     string          `json:"name,omitempty"`
	Valid    bool            `json:"valid"`
	Summary  *networkSummary `json:"summary,omitempty"`
	Problems policy.Problems `json:"problems"`
}

func runValidate(ctx context.Context, env *cliEnv, args []string) int {
	c := commands["validate"]
	fs := newFlags(c, env)
	format := fs.String("format", "text", "output format: text or json")
	verbose := fs.Bool("v", false, "describe what each network contains")
	if code, ok := parseFlags(fs, env, args); !ok {
		return code
	}
	if fs.NArg() == 0 {
		fs.Usage()
		return 2
	}
	if *format != "text" && *format != "json" {
		fmt.Fprintf(env.stderr, "tether validate: --format must be text or json\n")
		return 2
	}
	var results []validateResult
	failed := false
	for _, dir := range fs.Args() {
		r := validateDir(dir)
		if !r.Valid {
			failed = true
		}
		results = append(results, r)
	}
	if *format == "json" {
		enc := json.NewEncoder(env.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(map[string]any{"networks": results}); err != nil {
			fmt.Fprintf(env.stderr, "tether validate: %v\n", err)
			return 1
		}
	} else {
		for _, r := range results {
			printResult(env, r, *verbose)
		}
	}
	if failed {
		return 1
	}
	return 0
}

func validateDir(dir string) validateResult {
	r := validateResult{Dir: dir, Problems: policy.Problems{}}
	if st, err := os.Stat(dir); err != nil || !st.IsDir() {
		r.Problems = append(r.Problems, policy.Problem{File: dir, Rule: "io", Severity: policy.SeverityError, Message: "not a directory"})
		return r
	}
	fsys, err := openConfigDir(dir)
	if err != nil {
		r.Problems = append(r.Problems, policy.Problem{File: dir, Rule: "io", Severity: policy.SeverityError, Message: err.Error()})
		return r
	}
	n, problems := policy.Load(fsys, ".")
	for i := range problems {
		problems[i].File = filepath.Join(dir, problems[i].File)
	}
	if problems == nil {
		problems = policy.Problems{}
	}
	r.Name = n.Name
	if !problems.HasErrors() {
		problems = append(problems, renderProblems(dir, n)...)
	}
	r.Problems = problems
	r.Valid = !problems.HasErrors()
	if r.Valid {
		r.Summary = summarize(n)
	}
	return r
}

// renderProblems renders every site and reports what the renderers warn
// about (or fail on) as problems of the site's file, so validate shows
// everything `tether render` and the agent would.
func renderProblems(dir string, n *policy.Network) policy.Problems {
	var out policy.Problems
	for _, name := range n.SiteNames() {
		s := n.Sites[name]
		var warnings []string
		var err error
		if s.Platform == "routeros" {
			var cfg *routeros.Config
			if cfg, err = routeros.Render(n, name); err == nil {
				warnings = cfg.Warnings
			}
		} else {
			var cfg *linux.Config
			if cfg, err = linux.Render(n, name, linux.Options{}); err == nil {
				warnings = cfg.Warnings
			}
		}
		file := filepath.Join(dir, s.File)
		if err != nil {
			out = append(out, policy.Problem{File: file, Rule: "render", Severity: policy.SeverityError, Message: err.Error()})
		}
		for _, w := range warnings {
			out = append(out, policy.Problem{File: file, Rule: "render", Severity: policy.SeverityWarning, Message: w})
		}
	}
	return out
}

func printResult(env *cliEnv, r validateResult, verbose bool) {
	for _, p := range r.Problems {
		fmt.Fprintln(env.stdout, p.String())
	}
	if !r.Valid {
		fmt.Fprintf(env.stdout, "%s: invalid: %d error(s), %d warning(s)\n", r.Dir, len(r.Problems.Errors()), len(r.Problems.Warnings()))
		return
	}
	s := r.Summary
	fmt.Fprintf(env.stdout, "%s: ok: network %q, %s, %s, %s, %s%s\n", r.Dir, r.Name,
		plural(len(s.Sites), "site"), plural(s.LinkCount, "link"), plural(s.SessionCount, "BGP session"), plural(s.PeerCount, "external peer"),
		warnSuffix(len(r.Problems.Warnings())))
	if verbose {
		for _, site := range s.Sites {
			fmt.Fprintf(env.stdout, "  site %-10s %s\n", site.Name, site.Describe)
		}
		for _, l := range s.Links {
			fmt.Fprintf(env.stdout, "  link %-10s %s\n", l.Name, l.Describe)
		}
		for _, p := range s.Peers {
			fmt.Fprintf(env.stdout, "  peer %-10s %s\n", p.Name, p.Describe)
		}
	}
}

func warnSuffix(n int) string {
	if n == 0 {
		return ""
	}
	return ", " + plural(n, "warning")
}

func plural(n int, what string) string {
	if n == 1 {
		return "1 " + what
	}
	return fmt.Sprintf("%d %ss", n, what)
}

type networkSummary struct {
	Sites        []summaryRow `json:"sites"`
	Links        []summaryRow `json:"links"`
	Peers        []summaryRow `json:"peers"`
	LinkCount    int          `json:"link_count"`
	SessionCount int          `json:"bgp_session_count"`
	PeerCount    int          `json:"peer_count"`
}

type summaryRow struct {
	Name     string `json:"name"`
	Describe string `json:"describe"`
}

func summarize(n *policy.Network) *networkSummary {
	s := &networkSummary{LinkCount: len(n.Links), PeerCount: len(n.Peers)}
	for _, name := range n.SiteNames() {
		site := n.Sites[name]
		platform := site.Platform
		if platform == "routeros" {
			platform = "RouterOS " + site.RouterOSVersion
		}
		var parts []string
		parts = append(parts, platform)
		var wgs []string
		for _, w := range site.WireGuard {
			peers := 0
			for _, p := range n.WireGuardPeers(name) {
				if p.Interface == w.Name {
					peers++
				}
			}
			wgs = append(wgs, fmt.Sprintf("%s(%s)", w.Name, plural(peers, "peer")))
		}
		if len(wgs) > 0 {
			parts = append(parts, "wireguard "+strings.Join(wgs, " "))
		}
		if k := len(site.Firewall); k > 0 {
			parts = append(parts, plural(k, "firewall rule"))
		}
		if k := len(site.Routes); k > 0 {
			parts = append(parts, plural(k, "route"))
		}
		if k := len(site.RouterAdverts); k > 0 {
			parts = append(parts, plural(k, "RA interface"))
		}
		if k := len(site.NDPProxy); k > 0 {
			parts = append(parts, plural(k, "NDP proxy rule"))
		}
		if k := len(site.VRRP); k > 0 {
			parts = append(parts, plural(k, "VRRP instance"))
		}
		if k := len(site.RoutingRules); k > 0 {
			parts = append(parts, plural(k, "routing rule"))
		}
		s.Sites = append(s.Sites, summaryRow{Name: name, Describe: strings.Join(parts, ", ")})
	}
	for _, name := range n.LinkNames() {
		k := n.Links[name]
		d := fmt.Sprintf("%s:%s <-> %s:%s", k.A.Site, k.A.Interface, k.B.Site, k.B.Interface)
		if k.BGP != nil {
			s.SessionCount++
			d += fmt.Sprintf(", eBGP %s", strings.Join(k.BGP.AFI, "+"))
		}
		s.Links = append(s.Links, summaryRow{Name: name, Describe: d})
	}
	for _, name := range n.PeerNames() {
		p := n.Peers[name]
		d := p.Kind
		if p.Site != "" {
			d += fmt.Sprintf(" on %s:%s", p.Site, p.Interface)
		}
		if p.Mesh != nil {
			d += " in mesh " + p.Mesh.Name
		}
		if p.Profile != nil {
			d += ", " + p.Profile.Tunnel + "-tunnel profile"
		}
		s.Peers = append(s.Peers, summaryRow{Name: name, Describe: d})
	}
	return s
}
