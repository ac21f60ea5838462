package packaging

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"runtime"
	"slices"
	"strings"
	"testing"

	"github.com/BurntSushi/toml"

	"github.com/tether-net/tether/agent/config"
)

// need returns the path of a tool. Missing, the test is skipped on a
// developer machine, but fails under CI (CI=true): .ci/run must install it.
func need(t *testing.T, tool, pkg string) string {
	t.Helper()
	p, err := exec.LookPath(tool)
	if err != nil {
		if os.Getenv("CI") != "" {
			t.Fatalf("%s not found: .ci/run must apt-get install %s", tool, pkg)
		}
		t.Skipf("%s not found (apt-get install %s); skipped outside CI", tool, pkg)
	}
	return p
}

func needRoot(t *testing.T, why string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("-short (make unit): needs root: %s", why)
	}
	if os.Geteuid() != 0 {
		t.Skipf("needs root: %s", why)
	}
}

func runCmd(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// buildTether builds the agent for this machine into dir.
func buildTether(t *testing.T, dir string) string {
	t.Helper()
	bin := filepath.Join(dir, "tether")
	runCmd(t, []string{"CGO_ENABLED=0"}, goTool(t), "build", "-o", bin, "../agent/cmd/tether")
	return bin
}

func goTool(t *testing.T) string {
	if p := filepath.Join(runtime.GOROOT(), "bin", "go"); fileExists(p) {
		return p
	}
	return need(t, "go", "golang")
}

func fileExists(p string) bool { _, err := os.Stat(p); return err == nil }

// --- agent.toml.example ---------------------------------------------------

// uncomment turns the example into the config it documents: every
// "# key = value" line and every "[section]" line, nothing else.
func uncomment(text string) string {
	assign := regexp.MustCompile(`^# ([a-z_]+ = .*)$`)
	var b strings.Builder
	for _, line := range strings.Split(text, "\n") {
		switch {
		case strings.HasPrefix(line, "["):
			b.WriteString(line + "\n")
		case assign.MatchString(line):
			v := assign.FindStringSubmatch(line)[1]
			// Trailing comments after a string value stay valid TOML.
			b.WriteString(v + "\n")
		}
	}
	return b.String()
}

// tomlKeys lists every dotted key a struct decodes, following nested
// structs (the [sections]).
func tomlKeys(typ reflect.Type, prefix string) []string {
	var keys []string
	for i := range typ.NumField() {
		f := typ.Field(i)
		tag := strings.Split(f.Tag.Get("toml"), ",")[0]
		if tag == "" || tag == "-" {
			continue
		}
		ft := f.Type
		if ft.Kind() == reflect.Struct && ft != reflect.TypeOf(config.Duration{}) {
			keys = append(keys, tomlKeys(ft, prefix+tag+".")...)
			continue
		}
		keys = append(keys, prefix+tag)
	}
	return keys
}

func TestAgentConfigExampleCoversConfig(t *testing.T) {
	raw, err := os.ReadFile("agent.toml.example")
	if err != nil {
		t.Fatal(err)
	}
	doc := uncomment(string(raw))
	// The example must parse with the agent's own strict loader: no key
	// the agent does not know, no value it refuses.
	full, err := config.Parse("agent.toml.example", []byte(doc))
	if err != nil {
		t.Fatalf("uncommented example does not load:\n%v\n---\n%s", err, doc)
	}
	var m map[string]any
	md, err := toml.Decode(doc, &m)
	if err != nil {
		t.Fatal(err)
	}
	have := map[string]bool{}
	for _, k := range md.Keys() {
		have[k.String()] = true
	}
	for _, k := range tomlKeys(reflect.TypeOf(config.Config{}), "") {
		if !have[k] {
			t.Errorf("agent.toml.example does not document %s", k)
		}
	}
	// Where the example states a default, it must be the default the
	// loader applies: parse a minimal config and compare field by field.
	min, err := config.Parse("min.toml", []byte("repo = \"/srv/net\"\nsite = \"home\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		key       string
		got, want any
	}{
		{"branch", full.Branch, min.Branch},
		{"path", full.Path, min.Path},
		{"state_dir", full.StateDir, min.StateDir},
		{"poll_interval", full.PollInterval, min.PollInterval},
		{"drift_interval", full.DriftInterval, min.DriftInterval},
		{"git.notes_author", full.Git.NotesAuthor, min.Git.NotesAuthor},
		{"git.require_signatures", full.Git.RequireSignatures, min.Git.RequireSignatures},
		{"git.signed_history", full.Git.SignedHistory, min.Git.SignedHistory},
		{"routeros.username", full.RouterOS.Username, min.RouterOS.Username},
		{"routeros.tls", *full.RouterOS.TLS, *min.RouterOS.TLS},
		{"routeros.timeout", full.RouterOS.Timeout, min.RouterOS.Timeout},
		{"routeros.insecure_skip_verify", full.RouterOS.InsecureSkipVerify, min.RouterOS.InsecureSkipVerify},
		{"linux.root", full.Linux.Root, min.Linux.Root},
		{"linux.key_dir", full.Linux.KeyDir, min.Linux.KeyDir},
		{"linux.bird_socket", full.Linux.BirdSocket, min.Linux.BirdSocket},
		{"log.level", full.Log.Level, min.Log.Level},
		{"log.format", full.Log.Format, min.Log.Format},
		{"metrics.listen (off by default)", "", min.Metrics.Listen},
		{"webhook.listen (off by default)", "", min.Webhook.Listen},
		{"notify.format", full.Notify.Format, min.Notify.Format},
		{"notify.results", full.Notify.Results, min.Notify.Results},
		{"notify.priority", full.Notify.Priority, min.Notify.Priority},
		{"notify.attempts", full.Notify.Attempts, min.Notify.Attempts},
		{"notify.timeout", full.Notify.Timeout, min.Notify.Timeout},
		{"notify.queue_size", full.Notify.QueueSize, min.Notify.QueueSize},
		{"notify.url (off by default)", "", min.Notify.URL},
	} {
		if !reflect.DeepEqual(c.got, c.want) {
			t.Errorf("%s: example says %v, the loader's default is %v", c.key, c.got, c.want)
		}
	}
}

// --- systemd units --------------------------------------------------------

var units = []string{"tether.service", "tether-routeros.service"}

// renderUnits copies the units into dir with ExecStart pointing at a real
// tether binary: systemd-analyze verify checks that the command exists and
// is executable, and /usr/bin/tether is not installed on a build machine.
func renderUnits(t *testing.T, dir, bin string) []string {
	t.Helper()
	var paths []string
	for _, u := range units {
		b, err := os.ReadFile(u)
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Contains(b, []byte("ExecStart=/usr/bin/tether run --config /etc/tether/agent.toml\n")) {
			t.Fatalf("%s: ExecStart is not /usr/bin/tether run --config /etc/tether/agent.toml", u)
		}
		p := filepath.Join(dir, u)
		if err := os.WriteFile(p, bytes.ReplaceAll(b, []byte("/usr/bin/tether"), []byte(bin)), 0o644); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

func TestUnitsVerify(t *testing.T) {
	analyze := need(t, "systemd-analyze", "systemd")
	dir := t.TempDir()
	paths := renderUnits(t, dir, buildTether(t, dir))
	cmd := exec.Command(analyze, append([]string{"verify"}, paths...)...)
	out, err := cmd.CombinedOutput()
	// verify exits 0 on warnings such as unknown keys, so any line about
	// our units is a failure too. Lines about other units of the host (a
	// container without some target) are not ours to judge.
	var ours []string
	for _, l := range strings.Split(string(out), "\n") {
		if strings.Contains(l, "tether") {
			ours = append(ours, l)
		}
	}
	if err != nil || len(ours) > 0 {
		t.Fatalf("systemd-analyze verify: %v\n%s", err, out)
	}
	// The exposure score guards the sandbox against a careless edit. The
	// Linux unit needs root, the network and /proc/sys, so it scores
	// higher; the RouterOS companion unit has nothing to keep.
	// --offline and --threshold exist since systemd 250; the threshold is
	// on a 0-100 scale, ten times the "exposure level" printed.
	for i, limit := range []int{50, 20} {
		out, err := exec.Command(analyze, "security", "--offline=yes", fmt.Sprintf("--threshold=%d", limit), paths[i]).CombinedOutput()
		if err != nil {
			t.Errorf("systemd-analyze security %s: exposure above %.1f: %v\n%s", units[i], float64(limit)/10, err, lastLines(string(out), 3))
		}
	}
}

func lastLines(s string, n int) string {
	l := strings.Split(strings.TrimSpace(s), "\n")
	return strings.Join(l[max(0, len(l)-n):], "\n")
}

// directives reads Key=Value lines of a unit (later lines win, empty
// values kept) — enough for asserting the settings this package promises.
func directives(t *testing.T, unit string) map[string]string {
	t.Helper()
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	d := map[string]string{}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, "="); ok && !strings.HasPrefix(l, "#") {
			d[k] = v
		}
	}
	return d
}

func TestUnitPromises(t *testing.T) {
	for _, u := range units {
		d := directives(t, u)
		for k, want := range map[string]string{
			"Type": "notify", "Restart": "on-failure", "ProtectSystem": "strict", "ProtectHome": "yes",
			"PrivateTmp": "yes", "NoNewPrivileges": "yes", "StateDirectory": "tether",
		} {
			if d[k] != want {
				t.Errorf("%s: %s=%q, want %q", u, k, d[k], want)
			}
		}
		if d["WatchdogSec"] == "" || d["RestartSec"] == "" {
			t.Errorf("%s: needs WatchdogSec and RestartSec", u)
		}
	}
	linux := directives(t, "tether.service")
	if got := strings.Fields(linux["CapabilityBoundingSet"]); !slices.Equal(got, []string{"CAP_NET_ADMIN", "CAP_NET_RAW", "CAP_DAC_OVERRIDE"}) {
		t.Errorf("tether.service capabilities: %v", got)
	}
	for _, p := range []string{"/etc/wireguard", "/etc/bird", "/etc/nftables.d", "/etc/sysctl.d", "/etc/keepalived", "/etc/systemd/network", "/etc/systemd/system", "/etc/tether/addr"} {
		if !strings.Contains(linux["ReadWritePaths"], "-"+p+" ") {
			t.Errorf("tether.service: ReadWritePaths lacks %s", p)
		}
	}
	ros := directives(t, "tether-routeros.service")
	if ros["User"] != "tether" || ros["CapabilityBoundingSet"] != "" || ros["AmbientCapabilities"] != "" {
		t.Errorf("tether-routeros.service must run as tether with no capabilities: %v", ros)
	}
}

func TestTmpfiles(t *testing.T) {
	tmpfiles := need(t, "systemd-tmpfiles", "systemd")
	root := t.TempDir()
	// With --root, users and groups are resolved from the root's own files.
	must(t, os.MkdirAll(filepath.Join(root, "etc"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "etc/passwd"), []byte("root:x:0:0::/root:/bin/sh\ntether:x:998:998::/var/lib/tether:/usr/sbin/nologin\n"), 0o644))
	must(t, os.WriteFile(filepath.Join(root, "etc/group"), []byte("root:x:0:\ntether:x:998:\n"), 0o644))
	conf, err := filepath.Abs("tmpfiles.d/tether.conf")
	must(t, err)
	runCmd(t, nil, tmpfiles, "--root="+root, "--create", conf)
	for p, want := range map[string]os.FileMode{
		"etc/tether": 0o750, "etc/wireguard": 0o700, "etc/nftables.d": 0o755,
		"etc/keepalived": 0o755, "etc/systemd/network": 0o755, "run/wireguard": 0o755,
	} {
		st, err := os.Stat(filepath.Join(root, p))
		if err != nil {
			t.Errorf("%s not created: %v", p, err)
			continue
		}
		if st.Mode().Perm() != want {
			t.Errorf("%s: mode %o, want %o", p, st.Mode().Perm(), want)
		}
	}
}

func must(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// --- maintainer scripts -----------------------------------------------------

// TestMaintainerScripts runs postinst/prerm/postrm against stub commands
// that record their arguments, so the host-mode branches (adduser,
// systemctl, deluser) are exercised without changing this machine.
func TestMaintainerScripts(t *testing.T) {
	sh := need(t, "sh", "dash")
	stubs := t.TempDir()
	logf := filepath.Join(stubs, "calls.log")
	stub := func(name, body string) {
		must(t, os.WriteFile(filepath.Join(stubs, name), []byte("#!/bin/sh\necho \""+name+" $*\" >>"+logf+"\n"+body+"\n"), 0o755))
	}
	// getent says "no such user" until adduser "creates" it.
	stub("getent", `[ -f `+stubs+`/user ] && exit 0; exit 2`)
	stub("adduser", `touch `+stubs+`/user`)
	stub("deluser", "")
	stub("delgroup", "")
	stub("systemd-tmpfiles", "")
	stub("systemctl", "")
	// Only the stubs and the shell's own utilities: nothing else on PATH.
	env := []string{"PATH=" + stubs + ":/usr/bin:/bin", "DPKG_ROOT="}
	calls := func() string {
		b, _ := os.ReadFile(logf)
		os.Remove(logf)
		return string(b)
	}

	runCmd(t, env, sh, "deb/postinst", "configure")
	got := calls()
	if !strings.Contains(got, "adduser --system --group --quiet --home /var/lib/tether --no-create-home --gecos tether GitOps agent tether") ||
		!strings.Contains(got, "systemd-tmpfiles --create tether.conf") {
		t.Errorf("first configure:\n%s", got)
	}
	runCmd(t, env, sh, "deb/postinst", "configure", "1.0.0")
	if got := calls(); strings.Contains(got, "adduser") {
		t.Errorf("upgrade re-created the user:\n%s", got)
	}

	// Chrootless install into another root: nothing on the host.
	root := t.TempDir()
	rootEnv := []string{"PATH=" + stubs + ":/usr/bin:/bin", "DPKG_ROOT=" + root}
	runCmd(t, rootEnv, sh, "deb/postinst", "configure")
	runCmd(t, rootEnv, sh, "deb/prerm", "remove")
	must(t, os.MkdirAll(filepath.Join(root, "var/lib/tether/keys"), 0o700))
	must(t, os.WriteFile(filepath.Join(root, "var/lib/tether/keys/wg0.key"), []byte("k\n"), 0o600))
	must(t, os.MkdirAll(filepath.Join(root, "var/lib/tether/repo.git/objects"), 0o700))
	must(t, os.WriteFile(filepath.Join(root, "var/lib/tether/state.json"), nil, 0o600))
	must(t, os.MkdirAll(filepath.Join(root, "etc/systemd/system/multi-user.target.wants"), 0o755))
	must(t, os.WriteFile(filepath.Join(root, "etc/systemd/system/multi-user.target.wants/tether.service"), nil, 0o644))
	must(t, os.MkdirAll(filepath.Join(root, "etc/wireguard"), 0o700))
	runCmd(t, rootEnv, sh, "deb/postrm", "purge")
	if got := calls(); got != "" {
		t.Errorf("DPKG_ROOT mode touched the host:\n%s", got)
	}
	if fileExists(filepath.Join(root, "var/lib/tether/repo.git")) || fileExists(filepath.Join(root, "var/lib/tether/state.json")) ||
		fileExists(filepath.Join(root, "etc/systemd/system/multi-user.target.wants/tether.service")) {
		t.Error("purge left state or the enablement link")
	}
	// wg-quick files load the keys in PostUp: purging must not cut tunnels.
	if !fileExists(filepath.Join(root, "var/lib/tether/keys/wg0.key")) {
		t.Error("purge removed the WireGuard private keys")
	}
	if !fileExists(filepath.Join(root, "etc/wireguard")) {
		t.Error("purge removed rendered network config")
	}
	if out, err := exec.Command(sh, "deb/postinst", "bogus").CombinedOutput(); err == nil {
		t.Errorf("postinst accepted an unknown action: %s", out)
	}
}

// --- .deb -------------------------------------------------------------------

func buildDeb(t *testing.T, version, arch string) string {
	t.Helper()
	need(t, "dpkg-deb", "dpkg")
	out := t.TempDir()
	goDir := filepath.Dir(goTool(t))
	res := runCmd(t, []string{"OUT=" + out, "PATH=" + goDir + ":" + os.Getenv("PATH")}, "bash", "build-deb.sh", version, arch)
	lines := strings.Split(strings.TrimSpace(res), "\n")
	deb := lines[len(lines)-1]
	if !fileExists(deb) {
		t.Fatalf("build-deb.sh printed %q, not a file:\n%s", deb, res)
	}
	return deb
}

func TestDebInstallRemove(t *testing.T) {
	if testing.Short() {
		t.Skip("builds and installs a package")
	}
	dpkg := need(t, "dpkg", "dpkg")
	needRoot(t, "dpkg --root installs files as root:root")
	deb := buildDeb(t, "v1.2.3-4-gabcdef0", "amd64")
	if runtime.GOARCH != "amd64" {
		t.Skip("installs the amd64 package and runs it; this machine is " + runtime.GOARCH)
	}
	if filepath.Base(deb) != "tether_1.2.3-4-gabcdef0_amd64.deb" {
		t.Errorf("package file %s", filepath.Base(deb))
	}
	info := runCmd(t, nil, "dpkg-deb", "-f", deb, "Package", "Version", "Architecture", "Depends")
	for _, want := range []string{"Package: tether", "Version: 1.2.3-4-gabcdef0", "Architecture: amd64", "Depends: adduser"} {
		if !strings.Contains(info, want) {
			t.Errorf("control lacks %q:\n%s", want, info)
		}
	}
	contents := runCmd(t, nil, "dpkg-deb", "-c", deb)
	for _, want := range []string{
		"-rwxr-xr-x root/root", "./usr/bin/tether",
		"./lib/systemd/system/tether.service", "./lib/systemd/system/tether-routeros.service",
		"./usr/lib/tmpfiles.d/tether.conf", "./etc/tether/agent.toml.example",
		"./usr/share/doc/tether/examples/routeros-user.rsc", "./usr/share/doc/tether/copyright",
		"./usr/share/bash-completion/completions/tether", "./usr/share/zsh/vendor-completions/_tether",
	} {
		if !strings.Contains(contents, want) {
			t.Errorf("package lacks %s:\n%s", want, contents)
		}
	}

	// A throwaway dpkg root: its own admin dir (root/var/lib/dpkg), so the
	// host's package database is never touched. Maintainer scripts would
	// normally run chrooted into the root, which holds no shell; with
	// --force-script-chrootless they run here with DPKG_ROOT set, and the
	// scripts skip adduser/systemctl in that mode (TestMaintainerScripts
	// covers the host-mode branches with stubs). --force-depends: adduser
	// is not "installed" in the empty root.
	root := t.TempDir()
	for _, d := range []string{"var/lib/dpkg/info", "var/lib/dpkg/updates", "var/lib/dpkg/triggers"} {
		must(t, os.MkdirAll(filepath.Join(root, d), 0o755))
	}
	must(t, os.WriteFile(filepath.Join(root, "var/lib/dpkg/status"), nil, 0o644))
	must(t, os.WriteFile(filepath.Join(root, "var/lib/dpkg/available"), nil, 0o644))
	hostStatus, _ := os.ReadFile("/var/lib/dpkg/status")
	flags := []string{"--root=" + root, "--force-script-chrootless", "--force-depends", "--log=/dev/null"}

	runCmd(t, nil, dpkg, append(flags, "-i", deb)...)
	if out := runCmd(t, nil, filepath.Join(root, "usr/bin/tether"), "version"); out != "tether v1.2.3-4-gabcdef0\n" {
		t.Errorf("installed tether version: %q", out)
	}
	status := runCmd(t, nil, dpkg, "--root="+root, "-s", "tether")
	if !strings.Contains(status, "Status: install ok installed") {
		t.Errorf("dpkg -s:\n%s", status)
	}
	// The installed units verify with the installed binary.
	if analyze, err := exec.LookPath("systemd-analyze"); err == nil {
		dir := t.TempDir()
		paths := renderUnits2(t, filepath.Join(root, "lib/systemd/system"), dir, filepath.Join(root, "usr/bin/tether"))
		if out, err := exec.Command(analyze, append([]string{"verify"}, paths...)...).CombinedOutput(); err != nil || len(out) > 0 {
			t.Errorf("installed units: %v\n%s", err, out)
		}
	}
	// A state directory as the agent leaves it, to see purge remove it.
	must(t, os.MkdirAll(filepath.Join(root, "var/lib/tether/repo.git"), 0o700))

	runCmd(t, nil, dpkg, append(flags, "-r", "tether")...)
	if fileExists(filepath.Join(root, "usr/bin/tether")) || !fileExists(filepath.Join(root, "etc/tether/agent.toml.example")) {
		t.Error("remove: the binary must go, the conffile stay")
	}
	runCmd(t, nil, dpkg, append(flags, "-P", "tether")...)
	for _, p := range []string{"etc/tether", "var/lib/tether", "lib/systemd/system/tether.service", "usr/lib/tmpfiles.d/tether.conf"} {
		if fileExists(filepath.Join(root, p)) {
			t.Errorf("purge left %s", p)
		}
	}
	if st := runCmd(t, nil, dpkg, "--root="+root, "-l"); strings.Contains(st, "tether") {
		t.Errorf("still known to dpkg after purge:\n%s", st)
	}
	if after, _ := os.ReadFile("/var/lib/dpkg/status"); !bytes.Equal(hostStatus, after) {
		t.Error("the host's dpkg status changed")
	}
}

// renderUnits2 is renderUnits for units in another directory.
func renderUnits2(t *testing.T, from, dir, bin string) []string {
	t.Helper()
	var paths []string
	for _, u := range units {
		b, err := os.ReadFile(filepath.Join(from, u))
		must(t, err)
		p := filepath.Join(dir, u)
		must(t, os.WriteFile(p, bytes.ReplaceAll(b, []byte("/usr/bin/tether"), []byte(bin)), 0o644))
		paths = append(paths, p)
	}
	return paths
}

func TestDebArm64(t *testing.T) {
	if testing.Short() {
		t.Skip("cross-compiles a package")
	}
	deb := buildDeb(t, "0.9.0", "arm64")
	if !strings.HasSuffix(deb, "tether_0.9.0_arm64.deb") {
		t.Errorf("package file %s", deb)
	}
	dir := t.TempDir()
	runCmd(t, nil, "dpkg-deb", "-x", deb, dir)
	f, err := elf.Open(filepath.Join(dir, "usr/bin/tether"))
	must(t, err)
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 {
		t.Errorf("binary is %v, want aarch64", f.Machine)
	}
	// CGO_ENABLED=0: a static binary has no interpreter.
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP {
			t.Error("binary is dynamically linked")
		}
	}
	// Completion scripts were generated by a host build.
	b, err := os.ReadFile(filepath.Join(dir, "usr/share/bash-completion/completions/tether"))
	if err != nil || !bytes.Contains(b, []byte("complete -o default -F _tether tether")) {
		t.Errorf("bash completion: %v %q", err, b)
	}
	if arch := runCmd(t, nil, "dpkg-deb", "-f", deb, "Architecture"); strings.TrimSpace(arch) != "arm64" {
		t.Errorf("control: %q", arch)
	}
}

func TestBuildDebUsage(t *testing.T) {
	for _, args := range [][]string{{}, {"1.0"}, {"1.0", "mips"}} {
		cmd := exec.Command("bash", append([]string{"build-deb.sh"}, args...)...)
		out, err := cmd.CombinedOutput()
		if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 2 {
			t.Errorf("build-deb.sh %v: %v %s", args, err, out)
		}
	}
}

// --- RouterOS user script -----------------------------------------------------

// TestRouterOSUserPolicies checks the group's policies against the policy
// names RouterOS itself completes (shared/routeros-schema), and that the
// script grants exactly api,read,write,test.
func TestRouterOSUserPolicies(t *testing.T) {
	b, err := os.ReadFile("routeros-user.rsc")
	must(t, err)
	m := regexp.MustCompile(`(?m)^\s*:local policies "([^"]*)"`).FindSubmatch(b)
	if m == nil {
		t.Fatal("no :local policies in routeros-user.rsc")
	}
	granted := strings.Split(string(m[1]), ",")
	if !slices.Equal(granted, []string{"api", "read", "write", "test"}) {
		t.Errorf("policies %v", granted)
	}
	schema := filepath.Join("..", "..", "shared", "routeros-schema", "7.22.3", "deep-inspect.json")
	raw, err := os.ReadFile(schema)
	if err != nil {
		t.Skipf("RouterOS schema not beside the repo: %v", err)
	}
	var doc struct {
		User struct {
			Group struct {
				Add struct {
					Policy struct {
						Completion map[string]any `json:"_completion"`
					} `json:"policy"`
				} `json:"add"`
			} `json:"group"`
		} `json:"user"`
	}
	must(t, json.Unmarshal(raw, &doc))
	known := doc.User.Group.Add.Policy.Completion
	if len(known) == 0 {
		t.Fatal("schema has no /user/group add policy completions")
	}
	for _, p := range granted {
		if _, ok := known[p]; !ok {
			t.Errorf("policy %q is not a RouterOS 7.22.3 group policy", p)
		}
	}
	for _, p := range []string{"sensitive", "policy", "password", "reboot", "ssh", "winbox", "web", "rest-api", "ftp", "telnet", "local", "sniff", "romon"} {
		if _, ok := known[p]; !ok {
			t.Errorf("docs name policy %q that RouterOS 7.22.3 does not have", p)
		}
	}
}
