//go:build unix

package linuxdp

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"testing"
	"time"
)

// TestLocalRunner: errors carry stderr, stdout survives a failure, and a
// stopped child is reaped (no zombie left for a PID 1 that does not reap).
func TestLocalRunner(t *testing.T) {
	ctx, cancel := context.WithTimeout(t.Context(), 20*time.Second)
	defer cancel()
	r := Local()
	out, err := r.Run(ctx, "sh", "-c", "echo out; echo oops >&2; exit 3")
	if err == nil || !strings.Contains(err.Error(), "oops") || string(out) != "out\n" {
		t.Errorf("failing command: %q, %v", out, err)
	}
	if out, err := r.Run(ctx, "sh", "-c", "echo ok"); err != nil || string(out) != "ok\n" {
		t.Errorf("command: %q, %v", out, err)
	}
	for _, sig := range []string{"", "trap '' TERM; "} { // polite, and deaf to SIGTERM
		p, err := r.Start(ctx, "sh", "-c", sig+"sleep 60 & wait")
		if err != nil {
			t.Fatal(err)
		}
		pid := p.(*localProc).cmd.Process.Pid
		time.Sleep(300 * time.Millisecond) // let sh set its trap
		start := time.Now()
		if err := p.Stop(); err != nil {
			t.Fatal(err)
		}
		if d := time.Since(start); sig != "" && d < time.Second {
			t.Errorf("%q: Stop took %v; SIGTERM should have been ignored", sig, d)
		}
		if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); !errors.Is(err, os.ErrNotExist) {
			t.Errorf("%q: pid %d still exists after Stop (%v)", sig, pid, err)
		}
		if d := time.Since(start); d > 4*time.Second {
			t.Errorf("%q: Stop took %v", sig, d)
		}
	}
}
