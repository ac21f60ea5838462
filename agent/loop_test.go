package agent

import (
	"context"
	"crypto/sha1"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"
	"testing/fstest"
	"time"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/tether-net/tether/policy"
)

// fakeRepo is an in-memory linear history of network folders.
type fakeRepo struct {
	commits []plumbing.Hash
	trees   map[plumbing.Hash]fstest.MapFS
	untrust map[plumbing.Hash]bool
	seen    int
}

func (r *fakeRepo) push(files map[string]string) plumbing.Hash {
	fsys := fstest.MapFS{}
	for k, v := range files {
		fsys[k] = &fstest.MapFile{Data: []byte(v)}
	}
	h := plumbing.Hash(sha1.Sum([]byte(fmt.Sprint(len(r.commits), files))))
	r.commits = append(r.commits, h)
	r.trees[h] = fsys
	return h
}

func (r *fakeRepo) Check(context.Context) (bool, plumbing.Hash, error) {
	if len(r.commits) == 0 {
		return false, plumbing.ZeroHash, nil
	}
	changed := r.seen != len(r.commits)
	r.seen = len(r.commits)
	return changed, r.commits[len(r.commits)-1], nil
}

func (r *fakeRepo) Verify(_ context.Context, from, to plumbing.Hash) error {
	if r.untrust[to] {
		return errors.New("commit is not signed by an allowed signer")
	}
	return nil
}

func (r *fakeRepo) Tree(_ context.Context, c plumbing.Hash, _ string) (fs.FS, error) {
	t, ok := r.trees[c]
	if !ok {
		return nil, fmt.Errorf("no commit %s", c)
	}
	return t, nil
}

// fakeNotes keeps outcomes per commit and site.
type fakeNotes struct {
	byCommit  map[string][]*Outcome
	published int
	failPush  bool
	results   map[string]string // commit/site -> result recorded by other sites
}

func (n *fakeNotes) Record(_ context.Context, o *Outcome) error {
	n.byCommit[o.Commit] = append(n.byCommit[o.Commit], o)
	return nil
}
func (n *fakeNotes) Publish(context.Context) error {
	if n.failPush {
		return errors.New("remote unreachable")
	}
	n.published++
	return nil
}
func (n *fakeNotes) Result(_ context.Context, commit, site string) (string, error) {
	return n.results[commit+"/"+site], nil
}

// fakeDevice holds one string of "configuration" derived from the model:
// the listen port of the site's first WireGuard interface.
type fakeDevice struct {
	current string
	armed   bool
	applies int
	plans   int // Plan calls, to name transactions
}

func desired(n *policy.Network, site string) string {
	return fmt.Sprint(n.Sites[site].WireGuard[0].ListenPort)
}

func (d *fakeDevice) Plan(_ context.Context, n *policy.Network, site string) (*Plan, error) {
	want := desired(n, site)
	d.plans++
	p := &Plan{Site: site, Digest: want, TxnID: fmt.Sprintf("fake%03d", d.plans)}
	if want != d.current {
		p.Changes = []Change{{Op: "set", Where: "/interface/wireguard", What: "wg0", Detail: "listen-port: " + d.current + " → " + want}}
		p.Do, _ = json.Marshal(want)
		p.Undo, _ = json.Marshal(d.current)
	}
	return p, nil
}
func (d *fakeDevice) Apply(_ context.Context, p *Plan, _ time.Time) error {
	d.armed = true
	d.applies++
	return json.Unmarshal(p.Do, &d.current)
}
func (d *fakeDevice) Settle(_ context.Context, p *Plan, keep bool) error {
	if !keep {
		if err := json.Unmarshal(p.Undo, &d.current); err != nil {
			return err
		}
	}
	d.armed = false
	return nil
}

// portProber reports the tunnel down while the device listens on 9999.
type portProber struct{ d *fakeDevice }

func (p portProber) Probe(_ context.Context, checks []policy.Check) []CheckResult {
	out := make([]CheckResult, len(checks))
	for i, c := range checks {
		ok := p.d.current != "9999"
		ev := "last handshake 5s ago"
		if !ok {
			ev = "no handshake since the change"
		}
		out[i] = CheckResult{Name: c.Name, Kind: string(c.Kind), OK: ok, Evidence: ev}
	}
	return out
}

const relayKey = "sz6JvcsuN/cltmybD13kzwh4lfBUcvCwUW+KkUg2Al4="
const homeKey = "hOGK4v4TBnWUCGEriU1Bg2Fbrxh77Mk0dGhMWbL2XDo="

func network(port int) map[string]string {
	return map[string]string{
		"network.toml":          "name = \"t\"\n",
		"sites/relay.toml":      "platform = \"linux\"\n[[wireguard]]\nname = \"wg0\"\npublic_key = \"" + relayKey + "\"\n",
		"sites/home.toml":       fmt.Sprintf("platform = \"linux\"\n[[wireguard]]\nname = \"wg0\"\nlisten_port = %d\npublic_key = \"%s\"\n", port, homeKey),
		"links/relay-home.toml": "[a]\nsite = \"relay\"\ninterface = \"wg0\"\naddress = \"fd00::1/64\"\nendpoint = \"192.0.2.1:51820\"\n[b]\nsite = \"home\"\ninterface = \"wg0\"\naddress = \"fd00::2/64\"\n",
	}
}

type harness struct {
	repo  *fakeRepo
	notes *fakeNotes
	dev   *fakeDevice
	clock *autoClock
	agent *Agent
}

func newHarness(t testing.TB) *harness {
	h := &harness{
		repo:  &fakeRepo{trees: map[plumbing.Hash]fstest.MapFS{}, untrust: map[plumbing.Hash]bool{}},
		notes: &fakeNotes{byCommit: map[string][]*Outcome{}, results: map[string]string{}},
		dev:   &fakeDevice{current: "51820"},
		clock: &autoClock{now: time.Unix(1_700_000_000, 0)},
	}
	dir := t.TempDir()
	h.agent = &Agent{Site: "home", Path: ".", Source: h.repo, Notes: h.notes, Device: h.dev, Prober: portProber{h.dev},
		Clock: h.clock, Journal: NewJournal(dir), States: NewStateStore(dir), Version: "test", Host: "h1"}
	return h
}

func (h *harness) sync(t *testing.T) *Outcome {
	t.Helper()
	o, err := h.agent.Sync(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return o
}

func TestLoopAppliesRevertsQuarantinesAndMovesOn(t *testing.T) {
	h := newHarness(t)
	good := h.repo.push(network(51821))
	o := h.sync(t)
	if o == nil || o.Result != ResultApplied || h.dev.current != "51821" || h.dev.armed {
		t.Fatalf("first commit must apply and disarm: %+v dev=%+v", o, h.dev)
	}
	if o := h.sync(t); o != nil {
		t.Fatalf("an unchanged head with no drift does nothing, got %+v", o)
	}
	bad := h.repo.push(network(9999))
	o = h.sync(t)
	if o == nil || o.Result != ResultReverted || h.dev.current != "51821" {
		t.Fatalf("a change that breaks the tunnel must be reverted: %+v dev=%s", o, h.dev.current)
	}
	if !strings.Contains(o.Reason, "gate failed: handshake wg0/relay: no handshake since the change") {
		t.Fatalf("the note must name the failing check and its evidence: %q", o.Reason)
	}
	if len(o.AfterRevert) == 0 || !o.AfterRevert[0].OK {
		t.Fatalf("the note must show health came back after the revert: %+v", o.AfterRevert)
	}
	st, _ := h.agent.States.Load()
	if _, q := st.Quarantined[bad.String()]; !q || st.Running != good.String() {
		t.Fatalf("bad commit must be quarantined and good one still running: %+v", st)
	}
	applies := h.dev.applies
	for i := 0; i < 3; i++ {
		if o := h.sync(t); o != nil {
			t.Fatalf("a quarantined commit must never be retried, got %+v", o)
		}
	}
	if h.dev.applies != applies {
		t.Fatal("quarantined commit was applied again")
	}
	next := h.repo.push(network(51822))
	o = h.sync(t)
	if o == nil || o.Result != ResultApplied || o.Commit != next.String() || h.dev.current != "51822" {
		t.Fatalf("the next good commit must apply: %+v", o)
	}
	if n := len(h.notes.byCommit[bad.String()]); n != 1 {
		t.Fatalf("the bad commit must have exactly one note, got %d", n)
	}
}

func TestLoopRejectsInvalidAndUntrustedCommitsOnce(t *testing.T) {
	h := newHarness(t)
	files := network(51821)
	files["sites/home.toml"] = "platform = \"linux\"\n[[wireguard]]\nname = \"wg0\"\nlisten_port = \"x\n"
	bad := h.repo.push(files)
	o := h.sync(t)
	if o == nil || o.Result != ResultRejected || len(o.Errors) == 0 || !strings.Contains(o.Errors[0], "sites/home.toml:4:") {
		t.Fatalf("an invalid commit must be rejected with file:line errors: %+v", o)
	}
	if h.dev.applies != 0 {
		t.Fatal("a rejected commit must not touch the device")
	}
	if o := h.sync(t); o != nil {
		t.Fatalf("a rejected commit is recorded once, got %+v", o)
	}
	if len(h.notes.byCommit[bad.String()]) != 1 {
		t.Fatal("want exactly one rejected note")
	}
	untrusted := h.repo.push(network(51823))
	h.repo.untrust[untrusted] = true
	o = h.sync(t)
	if o == nil || o.Result != ResultRejected || !strings.Contains(o.Reason, "untrusted commit") || h.dev.applies != 0 {
		t.Fatalf("an untrusted commit must be rejected without rendering: %+v", o)
	}
}

func TestLoopRecoversEveryJournalStep(t *testing.T) {
	for _, step := range []Step{StepPlanned, StepApplying, StepGating, StepKeeping, StepReverting} {
		t.Run(string(step), func(t *testing.T) {
			h := newHarness(t)
			c := h.repo.push(network(51821))
			// Simulate a crash: the transaction got as far as step.
			n, _ := policy.Load(h.repo.trees[c], ".")
			plan, _ := h.dev.Plan(context.Background(), n, "home")
			plan.TxnID = "t1"
			if step != StepPlanned {
				_ = h.dev.Apply(context.Background(), plan, time.Time{})
			}
			if err := h.agent.Journal.Write(&Entry{TxnID: "t1", Site: "home", Commit: c.String(), Step: step, Plan: plan}); err != nil {
				t.Fatal(err)
			}
			o, err := h.agent.Recover(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			if e, _ := h.agent.Journal.Read(); e != nil {
				t.Fatal("journal must be cleared after recovery")
			}
			if h.dev.armed {
				t.Fatal("dead-man must be disarmed after recovery")
			}
			switch step {
			case StepPlanned:
				if o != nil || h.dev.current != "51820" {
					t.Fatalf("nothing was applied, nothing to note: %+v %s", o, h.dev.current)
				}
			case StepKeeping:
				if o == nil || o.Result != ResultApplied || h.dev.current != "51821" {
					t.Fatalf("a passed gate must finish as applied: %+v", o)
				}
			default:
				if o == nil || o.Result != ResultReverted || h.dev.current != "51820" || !strings.Contains(o.Reason, "agent stopped while") {
					t.Fatalf("an interrupted change must be reverted and noted: %+v dev=%s", o, h.dev.current)
				}
			}
		})
	}
}

func TestLoopRepairsDriftAndReportsWhenAsked(t *testing.T) {
	h := newHarness(t)
	h.repo.push(network(51821))
	h.sync(t)
	h.dev.current = "40000" // someone changed it by hand
	o := h.sync(t)
	if o == nil || o.Result != ResultRepaired || h.dev.current != "51821" {
		t.Fatalf("drift must be repaired: %+v dev=%s", o, h.dev.current)
	}
	h.agent.Drift = "report"
	h.dev.current = "40001"
	o = h.sync(t)
	if o == nil || o.Result != ResultDrift || h.dev.current != "40001" || len(o.Changes) != 1 {
		t.Fatalf("report mode must note the drift and leave the device alone: %+v", o)
	}
}

func TestLoopKeepsNotesWhenRemoteIsDown(t *testing.T) {
	h := newHarness(t)
	h.notes.failPush = true
	c := h.repo.push(network(51821))
	o := h.sync(t)
	if o == nil || o.Result != ResultApplied || len(h.notes.byCommit[c.String()]) != 1 {
		t.Fatalf("an unpublished note must still be recorded locally: %+v", o)
	}
}

func TestBaselineUsesThePriorConfigurationsChecks(t *testing.T) {
	h := newHarness(t)
	prev, _ := policy.Load(mapFiles(network(51821)), ".")
	next, _ := policy.Load(mapFiles(network(51821)), ".")
	down := &scriptProber{ok: func(int, string) bool { return false }}
	g := &Gate{Prober: down, Clock: h.clock, Config: gateCfg}
	checks := next.HealthChecks("home")
	if got := h.agent.baseline(context.Background(), g, prev, checks); got[0].OK {
		t.Fatalf("a check that existed and was failing must be excused: %+v", got[0])
	}
	if got := h.agent.baseline(context.Background(), g, nil, checks); !got[0].OK || got[0].Evidence != "new with this change" {
		t.Fatalf("a check the change introduces must be judged: %+v", got[0])
	}
}

func mapFiles(files map[string]string) fstest.MapFS {
	fsys := fstest.MapFS{}
	for k, v := range files {
		fsys[k] = &fstest.MapFile{Data: []byte(v)}
	}
	return fsys
}

// A RouterOS router's own key in the model changes nothing on the router,
// so it must not make its peers demand a fresh handshake; a peer's key does.
func TestTouchedPeersFollowKeyChanges(t *testing.T) {
	files := network(51821)
	files["sites/relay.toml"] = strings.Replace(files["sites/relay.toml"], `platform = "linux"`, "platform = \"routeros\"\nrouteros_version = \"7.22.3\"", 1)
	prev, problems := policy.Load(mapFiles(files), ".")
	if problems.HasErrors() {
		t.Fatal(problems.Err())
	}
	other := "qFHxTiebBi0iXyyKL7dKqLnMEyk/kcv90h4slzS9+lc="
	ownKey := map[string]string{}
	for k, v := range files {
		ownKey[k] = v
	}
	ownKey["sites/relay.toml"] = strings.Replace(files["sites/relay.toml"], relayKey, other, 1)
	next, _ := policy.Load(mapFiles(ownKey), ".")
	if got := touchedPeers(prev, next, "relay"); len(got) != 0 {
		t.Fatalf("the router's own model key changed nothing on the router: %v", got)
	}
	if got := touchedPeers(prev, next, "home"); !got["handshake wg0/relay"] {
		t.Fatalf("home's peer got a new key and must handshake again: %v", got)
	}
}

func TestRolloutWaves(t *testing.T) {
	h := newHarness(t)
	withWaves := func(port int) map[string]string {
		f := network(port)
		f["network.toml"] = "name = \"t\"\n[rollout]\nwaves = [[\"relay\"], [\"home\"]]\n"
		return f
	}
	// A bootstrap brings up both ends of every link together: no wait.
	h.repo.push(withWaves(51821))
	if o := h.sync(t); o == nil || o.Result != ResultApplied {
		t.Fatalf("the first commit is not held back: %+v", o)
	}
	// A change only home's side sees waits for the earlier wave.
	c1 := h.repo.push(withWaves(51823))
	if o := h.sync(t); o != nil || h.dev.applies != 1 {
		t.Fatalf("home (wave 2) must wait for relay (wave 1): %+v", o)
	}
	h.notes.results[c1.String()+"/relay"] = ResultUnchanged
	if o := h.sync(t); o == nil || o.Result != ResultApplied || h.dev.current != "51823" {
		t.Fatalf("once relay noted the commit, home applies it: %+v", o)
	}
	c2 := h.repo.push(withWaves(51822))
	h.notes.results[c2.String()+"/relay"] = ResultReverted
	o := h.sync(t)
	if o == nil || o.Result != ResultRejected || !strings.Contains(o.Reason, "rollout halted: relay (wave 1) reverted") || h.dev.current != "51823" {
		t.Fatalf("a commit reverted in an earlier wave must not roll on: %+v", o)
	}
	if o := h.sync(t); o != nil {
		t.Fatalf("a halted commit is recorded once: %+v", o)
	}
	// A change to both ends of the link must land at both ends together:
	// no wait. A comment on the link is not such a change.
	f := withWaves(51821)
	f["links/relay-home.toml"] = "description = \"v2\"\n" + network(51821)["links/relay-home.toml"]
	h.repo.push(f)
	if o := h.sync(t); o != nil {
		t.Fatalf("a comment changes nothing at the far end; home waits for its wave: %+v", o)
	}
	f["links/relay-home.toml"] = strings.ReplaceAll(f["links/relay-home.toml"], "fd00::", "fd00:1::")
	h.repo.push(f)
	if o := h.sync(t); o == nil || o.Result == ResultRejected {
		t.Fatalf("a two-ended change is not held back by waves: %+v", o)
	}
}
