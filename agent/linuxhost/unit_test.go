package linuxhost

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/tether-net/tether/policy"
	linux "github.com/tether-net/tether/render/linux"
)

// fakeRunner succeeds at everything except `ip link show` (no interface
// exists) and records what ran. It lets the file logic run without root.
type fakeRunner struct {
	mu   sync.Mutex
	cmds []string
}

func (f *fakeRunner) Run(ctx context.Context, name string, args ...string) ([]byte, []byte, int, error) {
	f.mu.Lock()
	f.cmds = append(f.cmds, name+" "+strings.Join(args, " "))
	f.mu.Unlock()
	if name == "ip" && slices.Contains(args, "show") {
		return nil, []byte("Device does not exist"), 1, nil
	}
	if name == "birdc" {
		return []byte("BIRD 2.0.12 ready.\nReading configuration\nReconfigured\n"), nil, 0, nil
	}
	return nil, nil, 0, nil
}

type fakeServices struct{}

func (fakeServices) Control(context.Context, string, string) error { return nil }
func (fakeServices) Active(context.Context, string) (bool, error)  { return false, nil }

const handWritten = "[Interface]\nPrivateKey = aGFuZC13cml0dGVuLWtleS1ub3QtcmVhbC0xMjM0NTY3OA==\n"

func TestPlanApplySettleFiles(t *testing.T) {
	root := t.TempDir()
	files := []File{
		{Path: "/etc/wireguard/wg0.conf", Mode: 0o600, Content: []byte("[Interface]\nListenPort = 1\n"), Check: []string{"wg-quick", "strip", "{}"}, Activate: Action{Kind: linux.ActWGSyncconf, Target: "wg0"}},
		{Path: "/etc/bird/bird.conf", Mode: 0o644, Content: []byte("router id 1.1.1.1;\n"), Activate: Action{Kind: linux.ActBirdConfigure, Target: "/run/bird/bird.ctl"}},
	}
	// A hand-written wg0.conf with a key is being adopted.
	if err := os.MkdirAll(filepath.Join(root, "etc/wireguard"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "etc/wireguard/wg0.conf"), []byte(handWritten), 0o600); err != nil {
		t.Fatal(err)
	}
	fr := &fakeRunner{}
	d := New(Options{Root: root, StateDir: filepath.Join(root, "state"), Runner: fr, Services: fakeServices{},
		DeadMan: DeadManSystemd, // systemd-run through the fake runner: nothing is started
		Render:  func(*policy.Network, string, RenderOptions) ([]File, error) { return files, nil }})
	ctx := context.Background()
	p, err := d.Plan(ctx, nil, "s")
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, c := range p.Changes {
		lines = append(lines, Line(c))
	}
	want := "~ /etc/wireguard/wg0.conf (interface not up → wg-quick up)|+ /etc/bird/bird.conf (→ birdc configure)"
	if got := strings.Join(lines, "|"); got != want {
		t.Errorf("plan:\n%s\nwant\n%s", got, want)
	}
	if strings.Contains(string(p.Undo), "aGFuZC13") || strings.Contains(string(p.Do), "aGFuZC13") {
		t.Fatal("a private key leaked into the plan")
	}
	if err := d.Apply(ctx, p, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(filepath.Join(root, "etc/wireguard/wg0.conf"))
	if err != nil || info.Mode().Perm() != 0o600 {
		t.Fatalf("wg0.conf: %v %v", info, err)
	}
	// The files are in place, but wg0 never came up (the fake runner has no
	// interfaces): the re-plan brings it up again rather than trusting the
	// file.
	p2, err := d.Plan(ctx, nil, "s")
	if err != nil || len(p2.Changes) != 1 || Line(p2.Changes[0]) != "activate /etc/wireguard/wg0.conf (runtime: wg0 does not exist → wg-quick up)" {
		t.Fatalf("re-plan: %+v %v", p2, err)
	}
	if err := d.Settle(ctx, p, false); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(filepath.Join(root, "etc/wireguard/wg0.conf"))
	if string(b) != handWritten {
		t.Errorf("wg0.conf not restored: %q", b)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/bird/bird.conf")); !os.IsNotExist(err) {
		t.Errorf("bird.conf not removed: %v", err)
	}
	if err := d.Settle(ctx, p, false); err != nil {
		t.Errorf("second settle: %v", err)
	}
	var deadman bool
	for _, c := range fr.cmds {
		deadman = deadman || strings.HasPrefix(c, "systemd-run --unit=tether-deadman-"+p.TxnID)
	}
	if !deadman {
		t.Errorf("no dead-man armed: %q", fr.cmds)
	}
}

func TestRemovedFileIsDeleted(t *testing.T) {
	root := t.TempDir()
	files := []File{{Path: "/etc/radvd.conf", Mode: 0o644, Content: []byte("x\n"), Activate: Action{Kind: linux.ActServiceReload, Target: "radvd.service"}}}
	d := New(Options{Root: root, StateDir: filepath.Join(root, "state"), Runner: &fakeRunner{}, Services: fakeServices{}, DeadMan: DeadManSystemd,
		Render: func(*policy.Network, string, RenderOptions) ([]File, error) { return files, nil }})
	ctx := context.Background()
	p, _ := d.Plan(ctx, nil, "s")
	if err := d.Apply(ctx, p, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	_ = d.Settle(ctx, p, true)
	files = nil
	p, err := d.Plan(ctx, nil, "s")
	if err != nil || len(p.Changes) != 1 || Line(p.Changes[0]) != "- /etc/radvd.conf (→ stop radvd.service)" {
		t.Fatalf("plan: %+v %v", p, err)
	}
	if err := d.Apply(ctx, p, time.Now().Add(time.Minute)); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "etc/radvd.conf")); !os.IsNotExist(err) {
		t.Errorf("radvd.conf kept: %v", err)
	}
}

func TestParsers(t *testing.T) {
	peers, err := parseWGDump([]byte("PRIV\tPUB\t51820\toff\nK1\t(none)\t1.2.3.4:5\t10.0.0.2/32\t1700000000\t100\t200\t25\nK2\t(none)\t(none)\t(none)\t0\t0\t0\toff\n"))
	if err != nil || !peers["K1"].present || peers["K1"].handshake.Unix() != 1700000000 || peers["K1"].rx != 100 || !peers["K2"].handshake.IsZero() {
		t.Errorf("wg dump: %+v %v", peers, err)
	}
	bp, ok := ParseBirdProtocol(`BIRD 2.0.12 ready.
Name       Proto      Table      State  Since         Info
bgp_relay  BGP        ---        up     10:00:01.000  Established   
  BGP state:          Established
    Neighbor address: fd00::1
  Channel ipv6
    State:          UP
    Routes:         1 imported, 2 exported, 1 preferred
`)
	if !ok || bp.BGPState != "Established" || bp.Imported != 1 || bp.Exported != 2 || bp.Since != "10:00:01.000" {
		t.Errorf("bird: %+v %v", bp, ok)
	}
	tables := nftTables([]byte("table inet tether {}\ndelete table inet tether\ntable inet tether {\n}\ntable nat {\n}\n"))
	if len(tables) != 2 || tables[0] != [2]string{"inet", "tether"} || tables[1] != [2]string{"ip", "nat"} {
		t.Errorf("nft tables: %v", tables)
	}
	if k := sysctlKeys([]byte("# c\nnet.ipv4.ip_forward = 1\n-net/ipv6/conf/all/forwarding=1\n")); strings.Join(k, ",") != "net.ipv4.ip_forward,net.ipv6.conf.all.forwarding" {
		t.Errorf("sysctl keys: %v", k)
	}
}
