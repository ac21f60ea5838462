package linuxhost

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/tether-net/tether/policy"
	linux "github.com/tether-net/tether/render/linux"
)

// fakeBoot is a service manager's boot links; fail makes one unit refuse.
type fakeBoot struct {
	enabled map[string]bool
	fail    string
	calls   []string
}

func (b *fakeBoot) Enabled(_ context.Context, u string) (bool, error) { return b.enabled[u], nil }
func (b *fakeBoot) SetEnabled(_ context.Context, u string, on bool) error {
	b.calls = append(b.calls, map[bool]string{true: "enable ", false: "disable "}[on]+u)
	if u == b.fail {
		return errors.New("systemctl: unit " + u + " refused")
	}
	b.enabled[u] = on
	return nil
}

// TestBootUnitsFollowTheSite drives a fake service manager through the
// states: a site's units are enabled with the plan (the nft table gets its
// oneshot unit), a unit whose file goes is disabled, a revert restores the
// boot links, an enable that fails reverts the whole apply, and a host
// with everything enabled plans no boot change.
func TestBootUnitsFollowTheSite(t *testing.T) {
	root := t.TempDir()
	files := []File{
		{Path: "/etc/wireguard/wg0.conf", Mode: 0o600, Content: []byte("[Interface]\nListenPort = 1\n"), Activate: Action{Kind: linux.ActWGSyncconf, Target: "wg0"}},
		{Path: "/etc/bird/bird.conf", Mode: 0o644, Content: []byte("router id 1.1.1.1;\n"), Activate: Action{Kind: linux.ActBirdConfigure, Target: "/run/bird/bird.ctl"}},
		{Path: "/etc/nftables.d/tether.nft", Mode: 0o644, Content: []byte("table inet tether {}\n"), Activate: Action{Kind: linux.ActNftApply}},
		{Path: "/etc/radvd.conf", Mode: 0o644, Content: []byte("x\n"), Activate: Action{Kind: linux.ActServiceReload, Target: "radvd.service"}},
	}
	boot := &fakeBoot{enabled: map[string]bool{"bird.service": true}}
	d := New(Options{Root: root, StateDir: filepath.Join(root, "state"), Runner: &fakeRunner{}, Services: fakeServices{}, Boot: boot,
		DeadMan: DeadManSystemd, Render: func(*policy.Network, string, RenderOptions) ([]File, error) { return files, nil }})
	ctx := context.Background()
	boots := func(changes []string) []string {
		var out []string
		for _, c := range changes {
			if strings.HasPrefix(c, "enable ") || strings.HasPrefix(c, "disable ") {
				out = append(out, c)
			}
		}
		return out
	}
	plan := func() ([]string, func(keep bool) error) {
		t.Helper()
		p, err := d.Plan(ctx, nil, "s")
		if err != nil {
			t.Fatal(err)
		}
		var lines []string
		for _, c := range p.Changes {
			lines = append(lines, Line(c))
		}
		if err := d.Apply(ctx, p, time.Now().Add(time.Minute)); err != nil {
			return lines, func(bool) error { return err }
		}
		return lines, func(keep bool) error { return d.Settle(ctx, p, keep) }
	}

	lines, settle := plan()
	if err := settle(true); err != nil {
		t.Fatal(err)
	}
	wantBoot := []string{"enable radvd.service (start at boot)", "enable tether-nft.service (start at boot)", "enable wg-quick@wg0.service (start at boot)"}
	if got := boots(lines); !slices.Equal(got, wantBoot) {
		t.Fatalf("boot lines %q, want %q", got, wantBoot)
	}
	for _, u := range []string{"wg-quick@wg0.service", NftUnit, "radvd.service", "bird.service"} {
		if !boot.enabled[u] {
			t.Errorf("%s not enabled", u)
		}
	}
	if slices.Contains(boot.calls, "enable bird.service") {
		t.Error("an enabled unit was enabled again")
	}
	unit, err := os.ReadFile(filepath.Join(root, nftUnitPath))
	if err != nil || !strings.Contains(string(unit), "ExecStart=/usr/sbin/nft -f /etc/nftables.d/tether.nft") {
		t.Fatalf("nft unit: %v\n%s", err, unit)
	}

	// Nothing to switch on a re-plan.
	if lines, settle := plan(); len(boots(lines)) != 0 {
		t.Fatalf("re-plan switches units: %q", lines)
	} else {
		_ = settle(true)
	}

	// radvd's file goes: its unit is disabled; the revert enables it again.
	files = files[:3]
	boot.calls = nil
	lines, settle = plan()
	if !slices.Contains(lines, "disable radvd.service (no longer started at boot)") || boot.enabled["radvd.service"] {
		t.Fatalf("radvd: %q enabled=%v", lines, boot.enabled["radvd.service"])
	}
	if err := settle(false); err != nil {
		t.Fatal(err)
	}
	if !boot.enabled["radvd.service"] {
		t.Fatal("the revert did not enable radvd again")
	}

	// A unit that refuses to be enabled fails the apply, and the files and
	// the other boot links are put back.
	files = append(files, File{Path: "/etc/keepalived/keepalived.conf", Mode: 0o644, Content: []byte("k\n"), Activate: Action{Kind: linux.ActServiceReload, Target: "keepalived.service"}})
	boot.fail = "keepalived.service"
	_, settle = plan()
	if err := settle(true); err == nil || !strings.Contains(err.Error(), "keepalived.service refused") {
		t.Fatalf("apply with a refusing unit: %v", err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/keepalived/keepalived.conf")); !os.IsNotExist(err) {
		t.Errorf("keepalived.conf kept after the failed apply: %v", err)
	}
	// radvd (disabled by the same plan) is enabled again, keepalived is not.
	if boot.enabled["keepalived.service"] || !boot.enabled["radvd.service"] {
		t.Errorf("boot links after the failed apply: %v", boot.enabled)
	}
}

// TestSystemdBootCommands: the systemd boot manager asks is-enabled and
// switches only the boot links (no --now: what runs is the agent's).
func TestSystemdBootCommands(t *testing.T) {
	fr := &fakeRunner{}
	s := Systemd{Runner: fr}
	ctx := context.Background()
	on, err := s.Enabled(ctx, "wg-quick@wg0.service")
	if err != nil || !on {
		t.Fatalf("is-enabled exit 0 must read as enabled: %v %v", on, err)
	}
	if err := s.SetEnabled(ctx, "wg-quick@wg0.service", true); err != nil {
		t.Fatal(err)
	}
	if err := s.SetEnabled(ctx, "radvd.service", false); err != nil {
		t.Fatal(err)
	}
	want := []string{"systemctl is-enabled --quiet wg-quick@wg0.service", "systemctl enable wg-quick@wg0.service",
		"systemctl is-enabled --quiet radvd.service", "systemctl disable radvd.service"}
	if !slices.Equal(fr.cmds, want) {
		t.Fatalf("commands %q, want %q", fr.cmds, want)
	}
	// A unit that is not enabled (or whose file was never written: an
	// apply that failed before it) is not disabled: systemctl would exit 1
	// and fail the revert. Found by test/systemd TestLinuxReboot.
	nf := &notEnabledRunner{}
	if err := (Systemd{Runner: nf}).SetEnabled(ctx, "tether-nft.service", false); err != nil {
		t.Fatal(err)
	}
	if want := []string{"systemctl is-enabled --quiet tether-nft.service"}; !slices.Equal(nf.cmds, want) {
		t.Fatalf("commands %q, want %q", nf.cmds, want)
	}
}

// notEnabledRunner answers every command with exit 1, as systemctl does for
// a unit that is disabled or does not exist.
type notEnabledRunner struct{ cmds []string }

func (r *notEnabledRunner) Run(_ context.Context, name string, args ...string) ([]byte, []byte, int, error) {
	r.cmds = append(r.cmds, name+" "+strings.Join(args, " "))
	return nil, []byte("Failed to get unit file state for tether-nft.service: No such file or directory"), 1, nil
}
