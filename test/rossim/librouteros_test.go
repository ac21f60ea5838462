package rossim

import (
	"context"
	"net"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// python3 is Debian's interpreter, whose python3-librouteros package .ci/run
// installs; a pip-installed copy elsewhere is not what CI runs.
const python3 = "/usr/bin/python3"

// TestLibrouterosConformance runs testdata/conformance.py — a client that
// shares no code with go-routeros — against a fresh simulator.
func TestLibrouterosConformance(t *testing.T) {
	if _, err := os.Stat(python3); err != nil {
		t.Skipf("%s absent: cannot run the librouteros conformance script", python3)
	}
	if out, err := exec.Command(python3, "-c", "import librouteros").CombinedOutput(); err != nil {
		t.Skipf("python3-librouteros not installed (apt-get install python3-librouteros): %s", strings.TrimSpace(string(out)))
	}
	s, err := New(Config{Logf: t.Logf})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start("127.0.0.1:0"); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	host, port, _ := net.SplitHostPort(s.Addr())
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, python3, "testdata/conformance.py", host, port, "admin", "")
	cmd.Env = append(os.Environ(), "PYTHONDONTWRITEBYTECODE=1")
	out, err := cmd.CombinedOutput()
	t.Logf("conformance.py:\n%s", out)
	if err != nil {
		t.Fatalf("librouteros found differences (%v)", err)
	}
	if !strings.Contains("\n"+string(out), "\nok ") {
		t.Fatal("the script ran no check")
	}
}
