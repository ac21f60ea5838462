package gitsource_test

import (
	"bufio"
	"context"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/tether-net/tether/policy"
	"github.com/tether-net/tether/test/rossim"
)

// clockTicks is the kernel's USER_HZ: /proc/PID/stat counts CPU time in it.
// It is 100 on every Linux architecture Go supports.
const clockTicks = 100

// procStatus reads VmRSS, VmHWM (peak RSS) and RssAnon (RSS less the
// mapped binary) of pid in MB.
func procStatus(b *testing.B, pid int) (rss, hwm, anon float64) {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		b.Fatalf("agent process: %v", err)
	}
	for _, l := range strings.Split(string(st), "\n") {
		f := strings.Fields(l)
		if len(f) < 2 {
			continue
		}
		kb, _ := strconv.Atoi(f[1])
		switch f[0] {
		case "VmRSS:":
			rss = float64(kb) / 1024
		case "VmHWM:":
			hwm = float64(kb) / 1024
		case "RssAnon:":
			anon = float64(kb) / 1024
		}
	}
	return rss, hwm, anon
}

// procCPU is the user+system CPU time pid has used.
func procCPU(b *testing.B, pid int) time.Duration {
	st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		b.Fatalf("agent process: %v", err)
	}
	// Fields after the command name, which is in parentheses and may hold
	// spaces: state is field 3, utime 14, stime 15.
	f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+2:]))
	ut, _ := strconv.ParseInt(f[11], 10, 64)
	sys, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(ut+sys) * time.Second / clockTicks
}

// metric sums the samples of a Prometheus metric (all label sets) in the
// agent's /metrics text; -1 when it is absent.
func metric(b *testing.B, url, name string) float64 {
	resp, err := http.Get(url)
	if err != nil {
		return -1
	}
	defer resp.Body.Close()
	sum, seen := 0.0, false
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		l := sc.Text()
		rest, ok := strings.CutPrefix(l, name)
		if !ok || !strings.Contains(name, "{") && rest != "" && rest[0] != ' ' && rest[0] != '{' {
			continue
		}
		f := strings.Fields(l)
		v, err := strconv.ParseFloat(f[len(f)-1], 64)
		if err == nil {
			sum, seen = sum+v, true
		}
	}
	if !seen {
		return -1
	}
	return sum
}

func freePort(b *testing.B) string {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	defer l.Close()
	return l.Addr().String()
}

// routerOSSite turns site s0000 of largeNetwork into a RouterOS router, the
// device the agent under measurement manages.
const routerOSSite = `platform = "routeros"
routeros_version = "7.22.3"
asn = 64512
router_id = "10.0.0.1"

[[interface]]
name = "ether1"
role = "wan"

[[wireguard]]
name = "wg0"
listen_port = 51820
public_key = "hOGK4v4TBnWUCGEriU1Bg2Fbrxh77Mk0dGhMWbL2XDo="
`

// idleWindow is how long the idle agent is watched: a minute of polls,
// long enough for the runtime to have returned the apply's garbage.
const idleWindow = time.Minute

// BenchmarkAgentProcessIdle starts the real tether binary on a local
// 1,000-site repo (file://, as a repo next to the agent is watched), as
// the agent of a RouterOS site whose router is the simulator, waits for
// the first apply, and then measures the idle agent as the OS sees it:
// VmRSS, VmHWM and RssAnon from /proc at the end of idleWindow, and CPU
// time per idle poll over it (the poll interval is 1s here so the window
// holds many polls; drift checks run on their own, longer, interval and
// are not in the window; the witness looks of the first 15 minutes after
// a new head are). heapInuse-MB is the Go heap the agent's metrics report.
func BenchmarkAgentProcessIdle(b *testing.B) {
	if testing.Short() {
		b.Skip("builds and runs the agent binary")
	}
	root := b.TempDir()
	bin := filepath.Join(root, "tether")
	build := exec.Command("go", "build", "-trimpath", "-ldflags", "-s -w", "-o", bin, "./agent/cmd/tether") // as make build
	build.Dir = filepath.Join("..", "..")
	if out, err := build.CombinedOutput(); err != nil {
		b.Fatalf("build tether: %v\n%s", err, out)
	}

	work := filepath.Join(root, "work")
	largeNetwork(b, filepath.Join(work, "net"), 1000)
	if err := os.WriteFile(filepath.Join(work, "net", "sites", "s0000.toml"), []byte(routerOSSite), 0o644); err != nil {
		b.Fatal(err)
	}
	git(b, root, nil, "init", "-q", "-b", "main", work)
	git(b, work, nil, "add", "-A")
	git(b, work, nil, "commit", "-qm", "network")
	remote := filepath.Join(root, "remote.git")
	git(b, root, nil, "clone", "-q", "--bare", work, remote)

	// The far ends of the site's four tunnels answer, so the first commit
	// is applied and kept, and the agent idles on a running commit.
	n, problems := policy.Load(os.DirFS(filepath.Join(work, "net")), ".")
	if problems.HasErrors() {
		b.Fatalf("bench network: %v", problems.Errors())
	}
	var world rossim.World
	for _, p := range n.WireGuardPeers("s0000") {
		far := rossim.FarEnd{Name: p.Name, PublicKey: p.PublicKey.String(), AcceptAnyKey: true,
			DialsIn: !p.Dials(), TransitAddress: p.RemoteAddress.String()}
		if p.Dials() {
			far.EndpointAddress, far.EndpointPort = p.Endpoint.Host, int(p.Endpoint.Port)
		}
		world.FarEnds = append(world.FarEnds, far)
	}
	sim, err := rossim.New(rossim.Config{Version: "7.22.3", World: world})
	if err != nil {
		b.Fatal(err)
	}
	if err := sim.Start("127.0.0.1:0"); err != nil {
		b.Fatal(err)
	}
	defer sim.Close()

	pw := filepath.Join(root, "password")
	if err := os.WriteFile(pw, nil, 0o600); err != nil {
		b.Fatal(err)
	}
	metricsAddr := freePort(b)
	cfg := filepath.Join(root, "agent.toml")
	if err := os.WriteFile(cfg, fmt.Appendf(nil, `repo = %q
branch = "main"
path = "net"
site = "s0000"
state_dir = %q
poll_interval = "1s"
[log]
format = "json"
level = "info"
[metrics]
listen = %q
[routeros]
address = %q
username = "admin"
password_file = %q
tls = false
`, "file://"+remote, filepath.Join(root, "state"), metricsAddr, sim.Addr(), pw), 0o600); err != nil {
		b.Fatal(err)
	}

	logf, err := os.Create(filepath.Join(root, "agent.log"))
	if err != nil {
		b.Fatal(err)
	}
	defer logf.Close()
	cmd := exec.Command(bin, "run", "--config", cfg)
	cmd.Stdout, cmd.Stderr = logf, logf
	if e := os.Getenv("BENCH_AGENT_ENV"); e != "" {
		cmd.Env = append(os.Environ(), strings.Fields(e)...)
	}
	if err := cmd.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	}()
	pid := cmd.Process.Pid
	url := "http://" + metricsAddr + "/metrics"
	const (
		applied   = `tether_outcomes_total{result="applied"`
		polls     = "tether_git_fetch_duration_seconds_count"
		allocated = "go_memstats_alloc_bytes_total"
	)
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	for metric(b, url, applied) < 1 {
		if ctx.Err() != nil {
			log, _ := os.ReadFile(logf.Name())
			b.Fatalf("the agent did not apply the first commit in 3 minutes:\n%s", log)
		}
		if metric(b, url, "tether_outcomes_total") > 0 {
			log, _ := os.ReadFile(logf.Name())
			b.Fatalf("the first commit was not applied:\n%s", log)
		}
		time.Sleep(200 * time.Millisecond)
	}
	// Let the apply's garbage go: idle is what follows.
	time.Sleep(5 * time.Second)
	b.ResetTimer()
	for range b.N {
		p0, c0, a0 := metric(b, url, polls), procCPU(b, pid), metric(b, url, allocated)
		time.Sleep(idleWindow)
		p1, c1, a1 := metric(b, url, polls), procCPU(b, pid), metric(b, url, allocated)
		if p1-p0 < idleWindow.Seconds()/4 {
			b.Fatalf("only %v polls in %s at a 1s poll interval", p1-p0, idleWindow)
		}
		b.ReportMetric(float64((c1-c0).Microseconds())/1000/(p1-p0), "CPU-ms/poll")
		b.ReportMetric((a1-a0)/1024/(p1-p0), "allocKB/poll")
	}
	b.StopTimer()
	rss, hwm, anon := procStatus(b, pid)
	b.ReportMetric(rss, "RSS-MB")
	b.ReportMetric(hwm, "peakRSS-MB")
	b.ReportMetric(anon, "anonRSS-MB")
	b.ReportMetric(metric(b, url, "go_memstats_heap_inuse_bytes")/(1<<20), "heapInuse-MB")
}
