package sdnotify

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// listen opens a real unixgram socket like systemd's notify socket.
func listen(t *testing.T, name string) *net.UnixConn {
	t.Helper()
	c, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: name, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	return c
}

func recv(t *testing.T, c *net.UnixConn) string {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 4096)
	n, _, err := c.ReadFromUnix(buf)
	if err != nil {
		t.Fatal(err)
	}
	return string(buf[:n])
}

func TestNotifyPathSocket(t *testing.T) {
	path := filepath.Join(t.TempDir(), "notify.sock")
	c := listen(t, path)
	n := New(path)
	if err := n.Ready(); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, c); got != "READY=1" {
		t.Fatalf("got %q", got)
	}
	if err := n.Watchdog(); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, c); got != "WATCHDOG=1" {
		t.Fatalf("got %q", got)
	}
	if err := n.Status("applying 1a2b\nsecond line"); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, c); got != "STATUS=applying 1a2b second line" {
		t.Fatalf("got %q", got)
	}
	if err := n.Notify(Stopping, "STATUS=bye"); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, c); got != "STOPPING=1\nSTATUS=bye" {
		t.Fatalf("got %q", got)
	}
}

func TestNotifyAbstractSocket(t *testing.T) {
	name := fmt.Sprintf("@tether-sdnotify-test-%d-%d", os.Getpid(), time.Now().UnixNano())
	c := listen(t, name)
	t.Setenv("NOTIFY_SOCKET", name)
	if err := FromEnv().Ready(); err != nil {
		t.Fatal(err)
	}
	if got := recv(t, c); got != "READY=1" {
		t.Fatalf("got %q", got)
	}
}

func TestDisabledIsNoop(t *testing.T) {
	t.Setenv("NOTIFY_SOCKET", "")
	n := FromEnv()
	if n.Enabled() {
		t.Fatal("enabled without NOTIFY_SOCKET")
	}
	if err := n.Ready(); err != nil {
		t.Fatal(err)
	}
	var nilN *Notifier
	if err := nilN.Watchdog(); err != nil {
		t.Fatal(err)
	}
}

func TestErrors(t *testing.T) {
	if err := New("relative.sock").Ready(); err == nil {
		t.Error("relative socket path accepted")
	}
	if err := New(filepath.Join(t.TempDir(), "absent.sock")).Ready(); err == nil {
		t.Error("missing socket did not error")
	}
	if err := New("/x").Notify("READY"); err == nil {
		t.Error("non-assignment accepted")
	}
}

func TestWatchdogInterval(t *testing.T) {
	for _, tc := range []struct {
		usec, pid string
		want      time.Duration
		err       error
		anyErr    bool
	}{
		{"", "", 0, ErrNoWatchdog, false},
		{"30000000", "", 30 * time.Second, nil, false},
		{"30000000", "42", 30 * time.Second, nil, false},
		{"30000000", "43", 0, ErrNoWatchdog, false},
		{"0", "", 0, nil, true},
		{"abc", "", 0, nil, true},
		{"1000", "x", 0, nil, true},
	} {
		got, err := watchdogInterval(tc.usec, tc.pid, 42)
		switch {
		case tc.anyErr && err == nil:
			t.Errorf("%q/%q: no error", tc.usec, tc.pid)
		case tc.err != nil && !errors.Is(err, tc.err):
			t.Errorf("%q/%q: err %v, want %v", tc.usec, tc.pid, err, tc.err)
		case !tc.anyErr && tc.err == nil && (err != nil || got != tc.want):
			t.Errorf("%q/%q: %v %v, want %v", tc.usec, tc.pid, got, err, tc.want)
		}
	}
	t.Setenv("WATCHDOG_USEC", "5000000")
	t.Setenv("WATCHDOG_PID", fmt.Sprint(os.Getpid()))
	if d, err := WatchdogInterval(); err != nil || d != 5*time.Second {
		t.Fatalf("%v %v", d, err)
	}
}

// TestJournalStream: the variable counts only for the file it names.
func TestJournalStream(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "stream"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	other, err := os.Create(filepath.Join(t.TempDir(), "other"))
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	var st syscall.Stat_t
	if err := syscall.Fstat(int(f.Fd()), &st); err != nil {
		t.Fatal(err)
	}
	env := fmt.Sprintf("%d:%d", st.Dev, st.Ino)
	for _, c := range []struct {
		env  string
		f    *os.File
		want bool
	}{
		{env, f, true},
		{env, other, false}, // inherited variable, redirected stderr
		{"", f, false},
		{"garbage", f, false},
		{env, nil, false},
	} {
		if got := journalStream(c.env, c.f); got != c.want {
			t.Errorf("journalStream(%q, %v) = %v, want %v", c.env, c.f != nil, got, c.want)
		}
	}
}
