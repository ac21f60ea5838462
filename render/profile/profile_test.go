package profile

import (
	"bytes"
	"errors"
	"flag"
	"image/png"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"testing/fstest"

	"github.com/tether-net/tether/policy"
	"rsc.io/qr"
)

var update = flag.Bool("update", false, "rewrite the golden files")

type example struct {
	name string
	fsys fs.FS
	dir  string
}

// examples are the shipped examples plus render/linux's seed fixtures.
func examples(t testing.TB) []example {
	var out []example
	for _, src := range []struct{ prefix, root string }{{"", "../../repo-example"}, {"fixture-", "../linux/testdata/networks"}} {
		fsys := os.DirFS(src.root)
		entries, err := fs.ReadDir(fsys, ".")
		if err != nil {
			continue
		}
		for _, e := range entries {
			if _, err := fs.Stat(fsys, e.Name()+"/network.toml"); e.IsDir() && err == nil {
				out = append(out, example{src.prefix + e.Name(), fsys, e.Name()})
			}
		}
	}
	return out
}

func load(t testing.TB, ex example) *policy.Network {
	n, probs := policy.Load(ex.fsys, ex.dir)
	if probs.HasErrors() {
		t.Fatalf("%s: %v", ex.name, probs)
	}
	return n
}

type rendered struct {
	ex, peer string
	f        File
}

func all(t *testing.T) []rendered {
	var out []rendered
	for _, ex := range examples(t) {
		n := load(t, ex)
		for _, name := range n.PeerNames() {
			p, err := Peer(n, name)
			if errors.Is(err, ErrNoProfile) {
				continue
			}
			if err != nil {
				t.Fatalf("%s/%s: %v", ex.name, name, err)
			}
			for _, f := range p.Files {
				out = append(out, rendered{ex.name, name, f})
			}
		}
	}
	return out
}

func TestGolden(t *testing.T) {
	files := all(t)
	if len(files) == 0 {
		t.Fatal("no external peers in any example")
	}
	for _, r := range files {
		p := filepath.Join("testdata", "golden", r.ex, r.peer, r.f.Name)
		if *update {
			os.MkdirAll(filepath.Dir(p), 0o755)
			if err := os.WriteFile(p, r.f.Text, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		want, err := os.ReadFile(p)
		if err != nil {
			t.Errorf("%s: %v (run go test -update)", p, err)
			continue
		}
		if !bytes.Equal(want, r.f.Text) {
			t.Errorf("%s differs from golden (run go test -update):\n%s", p, r.f.Text)
		}
	}
}

func TestNoPrivateKey(t *testing.T) {
	for _, r := range all(t) {
		for _, line := range strings.Split(string(r.f.Text), "\n") {
			if strings.HasPrefix(strings.TrimSpace(line), "PrivateKey") {
				t.Errorf("%s/%s: %q", r.ex, r.peer, line)
			}
		}
		if !bytes.Contains(r.f.Text, []byte(PrivateKeyPlaceholder)) {
			t.Errorf("%s/%s: no private key placeholder", r.ex, r.peer)
		}
	}
}

func fixture(t *testing.T, name string) *policy.Network {
	return load(t, example{name, os.DirFS("../linux/testdata/networks"), name})
}

func TestTunnels(t *testing.T) {
	n := fixture(t, "bgp-relay")
	get := func(peer string) string {
		p, err := Peer(n, peer)
		if err != nil {
			t.Fatal(err)
		}
		return string(p.Files[0].Text)
	}
	for peer, want := range map[string][]string{
		"phone":  {"AllowedIPs = 0.0.0.0/0, ::/0", "DNS = 1.1.1.1, 2606:4700:4700::1111", "Endpoint = vps.example.net:51821", "PersistentKeepalive = 25"},
		"laptop": {"AllowedIPs = 10.66.0.0/24, fd66::/64, 2001:db8:200::/48", "MTU = 1380"},
		"tablet": {"AllowedIPs = 10.66.0.0/24, fd66::/64", "Address = 10.66.0.4/32", "MTU = 1420"},
	} {
		text := get(peer)
		for _, w := range want {
			if !strings.Contains(text, w+"\n") {
				t.Errorf("%s: missing %q in\n%s", peer, w, text)
			}
		}
	}
	m := fixture(t, "ula-mesh")
	p, err := Peer(m, "srv-a1")
	if err != nil {
		t.Fatal(err)
	}
	text := string(p.Files[0].Text)
	for _, w := range []string{"Address = fd20::1/128", "ListenPort = 58000", "MTU = 1340", "AllowedIPs = fd20::2/128", "Endpoint = [fd10:0:0:a::5678]:58000", "AllowedIPs = fd20::3/128", "Endpoint = [fd10:0:0:b::1234]:58000"} {
		if !strings.Contains(text, w+"\n") {
			t.Errorf("srv-a1 mesh: missing %q in\n%s", w, text)
		}
	}
	if strings.Count(text, "[Peer]") != 2 {
		t.Errorf("srv-a1 mesh has %d peers, want the 2 other members", strings.Count(text, "[Peer]"))
	}
}

var endpointHost = regexp.MustCompile(`(?m)^Endpoint = ([A-Za-z][A-Za-z0-9.-]*):([0-9]+)$`)

// TestWGQuick substitutes a generated key for the placeholder, then has
// wg-quick strip the profile and wg setconf load it on a wireguard-go
// device in a private network and mount namespace.
func TestWGQuick(t *testing.T) {
	if testing.Short() {
		t.Skip("-short (make unit): needs root and namespaces")
	}
	for _, tool := range []string{"wg", "wg-quick", "wireguard-go", "unshare"} {
		if _, err := exec.LookPath(tool); err != nil || os.Geteuid() != 0 {
			if os.Getenv("CI") == "true" {
				t.Fatalf("CI=true but %s or root is missing", tool)
			}
			t.Skipf("%s or root missing; the profiles are checked with the real wg-quick when present", tool)
		}
	}
	key, err := exec.Command("wg", "genkey").Output()
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range all(t) {
		text := bytes.Replace(r.f.Text, []byte(PrivateKeyPlaceholder), []byte("PrivateKey = "+strings.TrimSpace(string(key))), 1)
		text = endpointHost.ReplaceAll(text, []byte("Endpoint = 192.0.2.1:$2"))
		dir := t.TempDir()
		p := filepath.Join(dir, r.f.Interface+".conf")
		if err := os.WriteFile(p, text, 0o600); err != nil {
			t.Fatal(err)
		}
		stripped, err := exec.Command("wg-quick", "strip", p).CombinedOutput()
		if err != nil {
			t.Errorf("%s/%s: wg-quick strip: %v\n%s", r.ex, r.peer, err, stripped)
			continue
		}
		sp := filepath.Join(dir, "stripped.conf")
		os.WriteFile(sp, stripped, 0o600)
		dev := "tqp" + string(rune('a'+i%26))
		script := "mount -t tmpfs none /var/run && mkdir /var/run/wireguard && wireguard-go " + dev + " 2>/dev/null && wg setconf " + dev + " " + sp
		if out, err := exec.Command("unshare", "-m", "-n", "-p", "-f", "sh", "-c", script).CombinedOutput(); err != nil {
			t.Errorf("%s/%s: wg setconf: %v\n%s", r.ex, r.peer, err, out)
		}
	}
}

func TestQR(t *testing.T) {
	text := "[Interface]\nAddress = 10.66.0.3/32\n"
	term, err := QR(text)
	if err != nil {
		t.Fatal(err)
	}
	c, _ := qr.Encode(text, qr.M)
	lines := strings.Split(strings.TrimSuffix(term, "\n"), "\n")
	if len(lines) != (c.Size+4+1)/2 {
		t.Errorf("terminal QR has %d lines for %d modules", len(lines), c.Size)
	}
	for _, l := range lines {
		if n := len([]rune(l)); n != c.Size+4 {
			t.Fatalf("line width %d, want %d", n, c.Size+4)
		}
	}
	again, _ := QR(text)
	if again != term {
		t.Error("QR is not deterministic")
	}
	b, err := QRPNG(text, 300)
	if err != nil {
		t.Fatal(err)
	}
	img, err := png.Decode(bytes.NewReader(b))
	if err != nil {
		t.Fatal(err)
	}
	modules := c.Size + 8
	scale := 300 / modules
	if img.Bounds().Dx() != modules*scale {
		t.Fatalf("png is %d px, want %d", img.Bounds().Dx(), modules*scale)
	}
	for y := 0; y < c.Size; y++ {
		for x := 0; x < c.Size; x++ {
			r, _, _, _ := img.At((x+4)*scale+scale/2, (y+4)*scale+scale/2).RGBA()
			if (r == 0) != c.Black(x, y) {
				t.Fatalf("module %d,%d differs", x, y)
			}
		}
	}
	if _, err := QR(strings.Repeat("x", 5000)); err == nil {
		t.Error("a text too long for a QR code did not fail")
	}
}

// TestExitProfiles: a split-tunnel device with an exit gets its normal
// profile plus an exit-mode one (same address, every family it has an
// address in, nothing else); a full-tunnel device with an exit gets one
// profile, limited to its families the same way.
func TestExitProfiles(t *testing.T) {
	fsys := fstest.MapFS{
		"network.toml": {Data: []byte("name = \"exit\"\n")},
		"sites/hub.toml": {Data: []byte("platform = \"routeros\"\nrouteros_version = \"7.22.3\"\n" +
			"[[wireguard]]\nname = \"wg-hub\"\npublic_key = \"u7hqMS1VO8RjHVVeBwRFG4LUOopnNnZQWPEAl6ASP0I=\"\n" +
			"endpoint = \"hub.example.net:51820\"\naddresses = [\"10.5.0.1/24\", \"fd05::1/64\"]\n")},
		"peers/gw.toml": {Data: []byte("public_key = \"Zil68x6Gj+Ew0vzea2lVWcVl+VPGxlrdLPBGyIvl5lE=\"\nsite = \"hub\"\ninterface = \"wg-hub\"\naddresses = [\"10.5.0.2/32\"]\n")},
		"peers/laptop.toml": {Data: []byte("public_key = \"9m7LekbmMIFBUqlMloBvfpBAC4KwDM3MTIrOf3WIc3c=\"\nsite = \"hub\"\ninterface = \"wg-hub\"\n" +
			"addresses = [\"10.5.0.3/32\", \"fd05::3/128\"]\nexit = \"gw\"\n[profile]\nroutes = [\"10.5.0.0/24\"]\n")},
		"peers/phone.toml": {Data: []byte("public_key = \"6eW+gSYjGD1Y0RWdD1hhPdfOT/W99Z4U8tSMp2N1ADs=\"\nsite = \"hub\"\ninterface = \"wg-hub\"\n" +
			"addresses = [\"10.5.0.4/32\"]\nexit = \"gw\"\n[profile]\ntunnel = \"full\"\n")},
	}
	n := load(t, example{"exit", fsys, "."})
	laptop, err := Peer(n, "laptop")
	if err != nil {
		t.Fatal(err)
	}
	if len(laptop.Files) != 2 {
		t.Fatalf("laptop has %d profiles, want normal and exit mode", len(laptop.Files))
	}
	normal, exit := string(laptop.Files[0].Text), string(laptop.Files[1].Text)
	if laptop.Files[0].Name != "wg-hub.conf" || laptop.Files[1].Name != "wg-hub-exit.conf" {
		t.Errorf("profile names %s, %s", laptop.Files[0].Name, laptop.Files[1].Name)
	}
	for _, w := range []string{"AllowedIPs = 10.5.0.0/24\n", "Address = 10.5.0.3/32, fd05::3/128\n"} {
		if !strings.Contains(normal, w) {
			t.Errorf("laptop normal profile lacks %q:\n%s", w, normal)
		}
	}
	for _, w := range []string{"AllowedIPs = 0.0.0.0/0, ::/0\n", "Address = 10.5.0.3/32, fd05::3/128\n", "everything leaves through gw"} {
		if !strings.Contains(exit, w) {
			t.Errorf("laptop exit profile lacks %q:\n%s", w, exit)
		}
	}
	phone, err := Peer(n, "phone")
	if err != nil {
		t.Fatal(err)
	}
	if len(phone.Files) != 1 || !strings.Contains(string(phone.Files[0].Text), "AllowedIPs = 0.0.0.0/0\n") {
		t.Errorf("phone (IPv4 only, full tunnel via gw) want one profile with AllowedIPs = 0.0.0.0/0, got %d:\n%s", len(phone.Files), phone.Files[0].Text)
	}
	if got := exitInterfaceName("a-very-long-site-name"); len(got) > 15 {
		t.Errorf("exit interface name %q is longer than Linux's 15 characters", got)
	}
}
