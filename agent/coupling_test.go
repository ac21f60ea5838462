package agent

import (
	"context"
	"maps"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-net/tether/agent/notes"
	"github.com/tether-net/tether/policy"
)

// exampleNetwork reads the cgnat-chr-relay example's files.
func exampleNetwork(t *testing.T) map[string]string {
	t.Helper()
	dir := "../repo-example/cgnat-chr-relay"
	out := map[string]string{}
	for _, name := range []string{"network.toml", "sites/relay.toml", "sites/home.toml", "links/relay-home.toml"} {
		b, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		out[name] = string(b)
	}
	return out
}

func edit(t *testing.T, files map[string]string, name, old, new string) map[string]string {
	t.Helper()
	if !strings.Contains(files[name], old) {
		t.Fatalf("%s: %q not found", name, old)
	}
	out := maps.Clone(files)
	out[name] = strings.Replace(files[name], old, new, 1)
	return out
}

func loadFiles(t *testing.T, files map[string]string) *policy.Network {
	t.Helper()
	n, problems := policy.Load(mapFiles(files), ".")
	if problems.HasErrors() {
		t.Fatal(problems.Err())
	}
	return n
}

// Two-endedness follows what a change does at the far end of the link,
// whichever file it is written in.
func TestTwoEndedFromWhatTheChangeDoes(t *testing.T) {
	base := exampleNetwork(t)
	// Interfaces that take their MTU from network.toml, so a default
	// reaches both ends of the link.
	mtuFromDefaults := edit(t, edit(t, base, "sites/relay.toml", "mtu = 1420\n", ""), "sites/home.toml", "mtu = 1420\n", "")
	cases := []struct {
		name        string
		before      map[string]string
		change      func(map[string]string) map[string]string
		relay, home bool // two-ended as seen from each site
	}{
		{"home's ASN in home's own file is the relay's remote AS", base,
			func(f map[string]string) map[string]string {
				return edit(t, f, "sites/home.toml", "asn = 64513", "asn = 64700")
			}, true, true},
		{"the relay's ASN", base,
			func(f map[string]string) map[string]string {
				return edit(t, f, "sites/relay.toml", "asn = 64512", "asn = 64600")
			}, true, true},
		{"network.toml's default MTU reaches both interfaces", mtuFromDefaults,
			func(f map[string]string) map[string]string {
				return edit(t, f, "network.toml", "mtu = 1420", "mtu = 1380")
			}, true, true},
		{"the relay's listen port and the endpoint home dials", base,
			func(f map[string]string) map[string]string {
				f = edit(t, f, "sites/relay.toml", "listen_port = 51820", "listen_port = 51830")
				return edit(t, f, "links/relay-home.toml", `endpoint = "203.0.113.10:51820"`, `endpoint = "203.0.113.10:51830"`)
			}, true, true},
		{"a firewall rule on the link's interface at the relay", base,
			func(f map[string]string) map[string]string {
				return edit(t, f, "sites/relay.toml", `dst_port = "179"`, `dst_port = "179,180"`)
			}, false, true},
		{"the relay's BGP instance, which its connection names", base,
			func(f map[string]string) map[string]string {
				return edit(t, f, "sites/relay.toml", `instance = "chr-vps"`, `instance = "vps"`)
			}, false, true},
		{"home's aggregate route, unrelated to the link", base,
			func(f map[string]string) map[string]string {
				return edit(t, f, "sites/home.toml", "distance = 254", "distance = 253")
			}, false, false},
		{"the link's description, a comment at both ends", base,
			func(f map[string]string) map[string]string {
				return edit(t, f, "links/relay-home.toml", "description = ", "description = \"v2\"\n# ")
			}, false, false},
		// Home's peer takes the new key; the relay router keeps its own.
		{"a RouterOS router's model key", base,
			func(f map[string]string) map[string]string {
				return edit(t, f, "sites/relay.toml", "sz6JvcsuN/cltmybD13kzwh4lfBUcvCwUW+KkUg2Al4=", "qFHxTiebBi0iXyyKL7dKqLnMEyk/kcv90h4slzS9+lc=")
			}, true, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			prev, next := loadFiles(t, tc.before), loadFiles(t, tc.change(tc.before))
			for site, want := range map[string]bool{"relay": tc.relay, "home": tc.home} {
				if got := twoEndedLinks(prev, next, site)["relay-home"]; got != want {
					t.Errorf("%s: relay-home two-ended = %v, want %v", site, got, want)
				}
			}
		})
	}
	// Nothing running yet: a bootstrap brings up both ends together.
	if got := twoEndedLinks(nil, loadFiles(t, base), "home"); !got["relay-home"] {
		t.Errorf("bootstrap: %v", got)
	}
}

// A revert by the device's dead-man after a passed gate is retried at the
// next poll: the far end must not read it as the site giving up on the
// commit (and reject it for good), nor an earlier wave as a halt.
func TestDeadmanFiredRevertIsNotSettled(t *testing.T) {
	at := func(r notes.Result, reason string) notes.Attempt { return notes.Attempt{Result: r, Reason: reason} }
	cases := []struct {
		attempts []notes.Attempt
		want     string
	}{
		{nil, ""},
		{[]notes.Attempt{at(notes.Reverted, "gate failed: bgp home: session home not established")}, ResultReverted},
		{[]notes.Attempt{at(notes.Reverted, DeadmanFiredReason)}, ""},
		{[]notes.Attempt{at(notes.Reverted, DeadmanFiredReason), at(notes.Applied, "")}, ResultApplied},
		{[]notes.Attempt{at(notes.Rejected, "rollout halted")}, ResultRejected},
	}
	for _, tc := range cases {
		if got := SettledResult(tc.attempts); got != tc.want {
			t.Errorf("%+v: %q, want %q", tc.attempts, got, tc.want)
		}
	}
	// The reason really is what deadmanFired records.
	h := newHarness(t)
	o := &Outcome{Site: "home", Commit: "c"}
	if _, err := h.agent.deadmanFired(context.Background(), &State{Quarantined: map[string]Quarantine{}}, &Entry{}, o, nil); err != nil {
		t.Fatal(err)
	}
	if got := SettledResult([]notes.Attempt{ToAttempt(o)}); got != "" || len(h.notes.byCommit["c"]) != 1 {
		t.Errorf("deadmanFired's note reads as settled (%q): %+v", got, o)
	}
}
