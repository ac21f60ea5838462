package linuxhost

import (
	"context"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/tether-net/tether/policy"
	"github.com/tether-net/tether/render/linux"
)

// recordingServices reports one unit running and records every control.
type recordingServices struct {
	mu      sync.Mutex
	running string
	calls   []string
}

func (r *recordingServices) Control(_ context.Context, verb, unit string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, verb+" "+unit)
	return nil
}

func (r *recordingServices) Active(_ context.Context, unit string) (bool, error) {
	return unit == r.running, nil
}

// TestSSHDDropInNeverStopsSSH: the sshd drop-in ([management.ssh]) reloads
// a running ssh.service when it is written, changed or removed, and never
// stops or starts it: dropping the section must not take the operator's
// way in down, and a host without a running sshd is left alone.
func TestSSHDDropInNeverStopsSSH(t *testing.T) {
	ctx := context.Background()
	for _, running := range []bool{true, false} {
		root := t.TempDir()
		svc := &recordingServices{}
		if running {
			svc.running = "ssh.service"
		}
		files := []File{{Path: "/etc/ssh/sshd_config.d/00-tether.conf", Mode: 0o644, Content: []byte("PasswordAuthentication no\n"),
			Activate: Action{Kind: linux.ActServiceConfig, Target: "ssh.service"}}}
		d := New(Options{Root: root, StateDir: filepath.Join(root, "state"), Runner: &fakeRunner{}, Services: svc, DeadMan: DeadManSystemd,
			Render: func(*policy.Network, string, RenderOptions) ([]File, error) { return files, nil }})
		step := func(what string) {
			t.Helper()
			p, err := d.Plan(ctx, nil, "s")
			if err != nil {
				t.Fatalf("%s: plan: %v", what, err)
			}
			if err := d.Apply(ctx, p, time.Now().Add(time.Minute)); err != nil {
				t.Fatalf("%s: apply: %v", what, err)
			}
			if err := d.Settle(ctx, p, true); err != nil {
				t.Fatalf("%s: settle: %v", what, err)
			}
		}
		step("write")
		files[0].Content = []byte("PasswordAuthentication no\nMaxAuthTries 3\n")
		step("change")
		files = nil
		step("remove")
		want := []string{"reload ssh.service", "reload ssh.service", "reload ssh.service"}
		if !running {
			want = nil
		}
		if !slices.Equal(svc.calls, want) {
			t.Errorf("running=%v: service calls %q, want %q", running, svc.calls, want)
		}
	}
}
