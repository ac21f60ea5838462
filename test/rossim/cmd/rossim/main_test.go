package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/go-routeros/routeros/v3"
)

// TestRunStandalone serves with a scenario and a state file, changes the
// configuration through the real client, and checks it was saved on exit.
func TestRunStandalone(t *testing.T) {
	state := filepath.Join(t.TempDir(), "router.json")
	ctx, cancel := context.WithCancel(context.Background())
	addrC := make(chan string, 1)
	errC := make(chan error, 1)
	go func() {
		errC <- run(ctx, []string{"--listen", "127.0.0.1:0", "--version", "7.18", "--password", "pw",
			"--scenario", "../../testdata/relay.toml", "--state", state}, func(a string) { addrC <- a })
	}()
	var addr string
	select {
	case addr = <-addrC:
	case err := <-errC:
		t.Fatal(err)
	case <-time.After(5 * time.Second):
		t.Fatal("not ready")
	}
	nc, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	nc.SetDeadline(time.Now().Add(5 * time.Second))
	c, _ := routeros.NewClient(nc)
	if err := c.Login("admin", "pw"); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Run("/system/identity/set", "=name=standalone"); err != nil {
		t.Fatal(err)
	}
	r, err := c.Run("/system/resource/print")
	if err != nil || r.Re[0].Map["version"] != "7.18 (stable)" {
		t.Fatalf("resource %v %v", r, err)
	}
	c.Close()
	cancel()
	if err := <-errC; err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(state)
	if err != nil || !strings.Contains(string(b), `"name": "standalone"`) {
		t.Fatalf("state file: %v\n%.300s", err, b)
	}
}

// TestDataplaneFlags: bad --dataplane and --link-names fail before anything
// is touched.
func TestDataplaneFlags(t *testing.T) {
	for _, args := range [][]string{
		{"--dataplane", "bsd"},
		{"--link-names", "ether1=eth0"},
		{"--dataplane", "linux", "--link-names", "ether1"},
	} {
		if err := run(t.Context(), append([]string{"--listen", "127.0.0.1:0"}, args...), nil); err == nil {
			t.Errorf("%v: accepted", args)
		}
	}
}
