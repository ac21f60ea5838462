package linux

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"
)

// The tests below feed every rendered file to the real tool that will
// validate it on the host, and one deliberately broken file each, so a
// check that accepts everything would be caught too.

// needTools skips (or, under CI=true, fails) when a tool or root is missing.
func needTools(t *testing.T, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short (make unit): the real tools run in namespaces in make test")
	}
	var missing []string
	for _, tool := range tools {
		if _, err := exec.LookPath(tool); err != nil {
			missing = append(missing, tool)
		}
	}
	if os.Geteuid() != 0 {
		missing = append(missing, "root (for network namespaces)")
	}
	if len(missing) == 0 {
		return
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("CI=true but missing: %s", strings.Join(missing, ", "))
	}
	t.Skipf("missing %s; install it (or run as root) to check rendered files with the real tool", strings.Join(missing, ", "))
}

func run(t *testing.T, timeout time.Duration, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatalf("%s: %v", name, err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case <-done:
	case <-time.After(timeout):
		cmd.Process.Kill()
		<-done
		t.Fatalf("%s %v did not finish in %s:\n%s", name, args, timeout, out.String())
	}
	return out.String(), cmd.ProcessState.ExitCode()
}

// renderedFiles renders every Linux site of every example with the key
// directory in dir and returns them by kind.
type renderedFile struct {
	label string
	file  File
	ifs   []string // interfaces the file refers to (for netns checks)
}

func allRendered(t *testing.T, keyDir string) map[string][]renderedFile {
	out := map[string][]renderedFile{}
	for _, ex := range examples(t) {
		n := load(t, ex)
		for _, site := range linuxSites(n) {
			cfg, err := Render(n, site, Options{KeyDir: keyDir})
			if err != nil {
				t.Fatal(err)
			}
			var ifs []string
			s := n.Sites[site]
			for _, i := range s.Interfaces {
				ifs = append(ifs, i.Name)
			}
			for _, f := range cfg.Files {
				kind := f.Activate.Kind
				if len(f.Check) > 0 {
					kind = f.Check[0]
				} else if strings.HasSuffix(f.Path, "ndppd.conf") {
					kind = "ndppd"
				}
				out[kind] = append(out[kind], renderedFile{label: ex.name + "/" + site + ":" + f.Path, file: f, ifs: ifs})
			}
		}
	}
	return out
}

func writeTemp(t *testing.T, name string, content []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, content, 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestToolBird(t *testing.T) {
	needTools(t, "bird")
	files := allRendered(t, "")["bird"]
	if len(files) == 0 {
		t.Fatal("no bird.conf rendered by any example")
	}
	for _, f := range files {
		p := writeTemp(t, "bird.conf", f.file.Content)
		if out, rc := run(t, 10*time.Second, "bird", "-p", "-c", p); rc != 0 {
			t.Errorf("%s: bird -p rejects it (rc %d):\n%s\n%s", f.label, rc, out, f.file.Content)
		}
	}
	p := writeTemp(t, "bad.conf", []byte("protocol bgp x { neighbor as; }\n"))
	if _, rc := run(t, 10*time.Second, "bird", "-p", "-c", p); rc == 0 {
		t.Error("bird -p accepted a broken file")
	}
}

// nft -c needs CAP_NET_ADMIN but changes nothing; it still runs in a
// throwaway network namespace so the host ruleset is never at risk.
func TestToolNft(t *testing.T) {
	needTools(t, "nft", "unshare")
	files := allRendered(t, "")["nft"]
	if len(files) == 0 {
		t.Fatal("no nftables file rendered")
	}
	for _, f := range files {
		p := writeTemp(t, "tether.nft", f.file.Content)
		if out, rc := run(t, 10*time.Second, "unshare", "-n", "nft", "-c", "-f", p); rc != 0 {
			t.Errorf("%s: nft -c rejects it (rc %d):\n%s\n%s", f.label, rc, out, f.file.Content)
		}
		// Applying twice proves the create/delete/recreate idiom replaces
		// the table instead of failing on the second run.
		script := fmt.Sprintf("nft -f %s && nft -f %s && nft list table inet tether >/dev/null", p, p)
		if out, rc := run(t, 10*time.Second, "unshare", "-n", "sh", "-c", script); rc != 0 {
			t.Errorf("%s: applying twice fails (rc %d):\n%s", f.label, rc, out)
		}
	}
	p := writeTemp(t, "bad.nft", []byte("table inet tether {\n\tchain input {\n\t\tudp dport accept\n\t}\n}\n"))
	if _, rc := run(t, 10*time.Second, "unshare", "-n", "nft", "-c", "-f", p); rc == 0 {
		t.Error("nft -c accepted a broken file")
	}
}

func TestToolRadvd(t *testing.T) {
	needTools(t, "radvd")
	files := allRendered(t, "")["radvd"]
	if len(files) == 0 {
		t.Fatal("no radvd.conf rendered")
	}
	for _, f := range files {
		p := writeTemp(t, "radvd.conf", f.file.Content)
		if out, rc := run(t, 10*time.Second, "radvd", "--configtest", "-C", p); rc != 0 {
			t.Errorf("%s: radvd --configtest rejects it (rc %d):\n%s\n%s", f.label, rc, out, f.file.Content)
		}
	}
	p := writeTemp(t, "bad.conf", []byte("interface eth1 {\n\tAdvSendAdvert maybe;\n};\n"))
	if _, rc := run(t, 10*time.Second, "radvd", "--configtest", "-C", p); rc == 0 {
		t.Error("radvd accepted a broken file")
	}
}

// vethScript creates each interface as one end of a veth pair: this kernel
// has no dummy module, and keepalived and ndppd refuse unknown interfaces.
func vethScript(ifs []string) string {
	var b strings.Builder
	b.WriteString("ip link set lo up; ")
	for i, name := range ifs {
		if name == "lo" {
			continue
		}
		fmt.Fprintf(&b, "ip link add %s type veth peer name tp%d && ip link set %s up && ip link set tp%d up; ", name, i, name, i)
	}
	return b.String()
}

// keepalived -t exits non-zero for warnings too (a missing interface, a
// one-member sync group), so it runs in a netns with the interfaces present.
func TestToolKeepalived(t *testing.T) {
	needTools(t, "keepalived", "unshare", "ip")
	files := allRendered(t, "")["keepalived"]
	if len(files) == 0 {
		t.Fatal("no keepalived.conf rendered")
	}
	for _, f := range files {
		p := writeTemp(t, "keepalived.conf", f.file.Content)
		script := vethScript(f.ifs) + "keepalived -t -f " + p
		if out, rc := run(t, 20*time.Second, "unshare", "-n", "sh", "-c", script); rc != 0 {
			t.Errorf("%s: keepalived -t rejects it (rc %d):\n%s\n%s", f.label, rc, out, f.file.Content)
		}
	}
	p := writeTemp(t, "bad.conf", []byte("vrrp_instance x {\n\tinterface eth1\n\tvirtual_router_id 300\n\tvirtual_ipaddress {\n\t\tfe80::1/128\n\t}\n}\n"))
	if _, rc := run(t, 20*time.Second, "unshare", "-n", "sh", "-c", vethScript([]string{"eth1"})+"keepalived -t -f "+p); rc == 0 {
		t.Error("keepalived -t accepted a broken file")
	}
}

// ndppd has no check mode: it is started in a netns that has the proxied
// interfaces; still running after two seconds (timeout's 124) means the
// file loaded, a bad file makes it exit at once.
func TestToolNdppd(t *testing.T) {
	needTools(t, "ndppd", "unshare", "ip", "timeout")
	files := allRendered(t, "")["ndppd"]
	if len(files) == 0 {
		t.Fatal("no ndppd.conf rendered")
	}
	check := func(ifs []string, p string) (string, int) {
		return run(t, 20*time.Second, "unshare", "-n", "sh", "-c", vethScript(ifs)+"timeout 2 ndppd -c "+p)
	}
	for _, f := range files {
		p := writeTemp(t, "ndppd.conf", f.file.Content)
		if out, rc := check(f.ifs, p); rc != 124 {
			t.Errorf("%s: ndppd did not load it (rc %d):\n%s\n%s", f.label, rc, out, f.file.Content)
		}
	}
	p := writeTemp(t, "bad.conf", []byte("proxy eth0 {\n\trule 2001:db8::/64 {\n\t}\n}\n"))
	if _, rc := check([]string{"eth0"}, p); rc == 124 {
		t.Error("ndppd loaded a broken file")
	}
}

var endpointHost = regexp.MustCompile(`(?m)^Endpoint = ([A-Za-z][A-Za-z0-9.-]*):([0-9]+)$`)

// TestToolWireGuard checks each wg-quick file with `wg-quick strip`, then
// brings it up for real with wg-quick and wireguard-go inside a private
// network and mount namespace (a private tmpfs over /var/run, because
// wireguard-go's socket directory is shared by all network namespaces), with the key read from the key directory by PostUp,
// and checks the device kept that key.
// checkedPub is the public key the rendered PostUp compares with.
// privateRunDir gives a shell in a new mount namespace its own empty /var/run
// with the directory wireguard-go puts its control sockets in; it must not
// depend on a directory an earlier run left on the machine.
const privateRunDir = "mount -t tmpfs none /var/run && mkdir /var/run/wireguard"

var checkedPub = regexp.MustCompile(`(?m)(public-key\)" = )[A-Za-z0-9+/]{43}=$`)

func TestToolWireGuard(t *testing.T) {
	needTools(t, "wg", "wg-quick", "wireguard-go", "unshare", "ip")
	keyDir := t.TempDir()
	files := allRendered(t, keyDir)["wg-quick"]
	if len(files) == 0 {
		t.Fatal("no wg-quick file rendered")
	}
	key, rc := run(t, 5*time.Second, "wg", "genkey")
	if rc != 0 {
		t.Fatal("wg genkey failed")
	}
	key = strings.TrimSpace(key)
	pub, _ := runStdin(t, key, "wg", "pubkey")
	for _, f := range files {
		iface := strings.TrimSuffix(filepath.Base(f.file.Path), ".conf")
		if err := os.WriteFile(filepath.Join(keyDir, iface+".key"), []byte(key+"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		dir := t.TempDir()
		p := filepath.Join(dir, iface+".conf")
		// DNS names cannot resolve inside an empty namespace; only the
		// endpoint host changes, to a documentation address.
		content := endpointHost.ReplaceAll(f.file.Content, []byte("Endpoint = 192.0.2.1:$2"))
		// The rendered bring-up checks the key file against the model's
		// public key; this test's key is fresh, so expect its public key.
		content = checkedPub.ReplaceAll(content, []byte("${1}"+strings.TrimSpace(pub)))
		if err := os.WriteFile(p, content, 0o600); err != nil {
			t.Fatal(err)
		}
		if out, rc := run(t, 10*time.Second, "wg-quick", "strip", p); rc != 0 {
			t.Errorf("%s: wg-quick strip rejects it (rc %d):\n%s", f.label, rc, out)
			continue
		}
		script := fmt.Sprintf(`set -e
`+privateRunDir+`
ip link set lo up
export WG_QUICK_USERSPACE_IMPLEMENTATION=wireguard-go WG_HIDE_KEYS=never
wg-quick up %[1]s
wg show %[2]s public-key
wg-quick down %[1]s
`, p, iface)
		out, rc := run(t, 30*time.Second, "unshare", "-m", "-n", "-p", "-f", "sh", "-c", script)
		if rc != 0 {
			t.Errorf("%s: wg-quick up / wg syncconf failed (rc %d):\n%s", f.label, rc, out)
			continue
		}
		c := 0 // lines printed by `wg show public-key`, not the echoed PostUp
		for _, l := range strings.Split(out, "\n") {
			if strings.TrimSpace(l) == strings.TrimSpace(pub) {
				c++
			}
		}
		if c != 1 {
			t.Errorf("%s: the device does not hold the private key from the key directory:\n%s", f.label, out)
		}
	}
	// wg-quick strip checks little (the file name, SaveConfig); a bad name
	// is what it rejects. A bad key is rejected by wg setconf on a device.
	p := writeTemp(t, "name-longer-than-15.conf", []byte("[Interface]\nListenPort = 51820\n"))
	if _, rc := run(t, 10*time.Second, "wg-quick", "strip", p); rc == 0 {
		t.Error("wg-quick strip accepted a broken file name")
	}
	bad := writeTemp(t, "bad.conf", []byte("[Interface]\nListenPort = 51820\nBogusKey = 1\n"))
	script := privateRunDir + " && wireguard-go wgbad && wg setconf wgbad " + bad
	if _, rc := run(t, 20*time.Second, "unshare", "-m", "-n", "-p", "-f", "sh", "-c", script); rc == 0 {
		t.Error("wg setconf accepted a broken file")
	}
}

func runStdin(t *testing.T, in string, name string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Stdin = strings.NewReader(in)
	out, _ := cmd.CombinedOutput()
	return string(out), cmd.ProcessState.ExitCode()
}
