// Command benchtable reads `go test -bench` output on stdin and prints the
// table of issue 15 (speed and memory): each row's figure before the work,
// its target, and what the benchmarks measured now. `make bench` runs it;
// a row whose benchmark did not run says so.
package main

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"regexp"
	"strconv"
	"strings"
)

// results holds, per benchmark (without its -GOMAXPROCS suffix), the value
// of each reported unit.
type results map[string]map[string]float64

var procSuffix = regexp.MustCompile(`-\d+$`)

func parse(r io.Reader) (results, error) {
	res := results{}
	sc := bufio.NewScanner(r)
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := procSuffix.ReplaceAllString(f[0], "")
		units := map[string]float64{}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				break
			}
			units[f[i+1]] = v
		}
		res[name] = units
	}
	return res, sc.Err()
}

// get returns a benchmark's unit and whether it was measured.
func (r results) get(bench, unit string) (float64, bool) {
	v, ok := r[bench][unit]
	return v, ok
}

type row struct {
	what, before, target string
	now                  func(r results) (string, bool)
}

const notRun = "not measured (benchmark did not run)"

var rows = []row{
	{"wrong key on a one-ended change: apply → reverted (default gate settings)", "120 s (the gate deadline)", "≤ 20 s",
		func(r results) (string, bool) {
			v, ok := r.get("BenchmarkOutageWrongKeyOneEnded", "outage-sim-s")
			return fmt.Sprintf("%.1f s (simulated)", v), ok
		}},
	{"a change with no must-pass checks", "waits the stable window, 10 s", "kept at once",
		func(r results) (string, bool) {
			v, ok := r.get("BenchmarkGateNothingToJudge", "gate-sim-s")
			return fmt.Sprintf("kept after %.1f s (one probe round)", v), ok
		}},
	{"RouterOS probe round, 4 unanswered pings of 100 ms", "one after another: the sum", "≈ the slowest probe",
		func(r results) (string, bool) {
			one, ok1 := r.get("BenchmarkProbeRound/sessions=1", "ns/op")
			four, ok4 := r.get("BenchmarkProbeRound/sessions=4", "ns/op")
			return fmt.Sprintf("%.0f ms (serial: %.0f ms)", four/1e6, one/1e6), ok1 && ok4
		}},
	{"idle poll, 1,000-site repo (the loop's own work)", "~2 CPU-s, ~1 GB allocated per poll", "≤ 50 ms CPU",
		func(r results) (string, bool) {
			ns, ok := r.get("BenchmarkIdlePoll1000Sites", "ns/op")
			by, _ := r.get("BenchmarkIdlePoll1000Sites", "B/op")
			al, _ := r.get("BenchmarkIdlePoll1000Sites", "allocs/op")
			return fmt.Sprintf("%.3f ms, %.1f KB in %.0f allocations per poll", ns/1e6, by/1024, al), ok
		}},
	{"idle poll, the tether process on a 1,000-site repo", "(not measured)", "≤ 50 ms CPU",
		func(r results) (string, bool) {
			v, ok := r.get("BenchmarkAgentProcessIdle", "CPU-ms/poll")
			kb, _ := r.get("BenchmarkAgentProcessIdle", "allocKB/poll")
			return fmt.Sprintf("%.1f ms CPU, %.0f KB allocated per poll", v, kb), ok
		}},
	{"agent RSS idle, 1,000-site repo (the tether process)", "65 MB", "≤ 40 MB",
		func(r results) (string, bool) {
			rss, ok := r.get("BenchmarkAgentProcessIdle", "RSS-MB")
			hwm, _ := r.get("BenchmarkAgentProcessIdle", "peakRSS-MB")
			heap, _ := r.get("BenchmarkAgentProcessIdle", "heapInuse-MB")
			return fmt.Sprintf("%.1f MB (peak %.1f MB, Go heap in use %.1f MB)", rss, hwm, heap), ok
		}},
	{"RSS, 10,000-commit repo with notes: after the clone / 100 / 200 commits", "131 MB / 221 MB after 4 note pushes, growing", "≤ 64 MB, flat",
		func(r results) (string, bool) {
			clone, ok := r.get("BenchmarkHistoryMemory", "rssMB-clone")
			mid, _ := r.get("BenchmarkHistoryMemory", "rssMB-100")
			after, _ := r.get("BenchmarkHistoryMemory", "RSS-MB")
			return fmt.Sprintf("%.1f / %.1f / %.1f MB (test process)", clone, mid, after), ok
		}},
	{"a note push on that history (new commit fetched, note recorded and pushed)", "1.3–2 s", "O(new notes)",
		func(r results) (string, bool) {
			big, ok1 := r.get("BenchmarkNotePushByHistory/commits=10000", "ns/op")
			bigB, _ := r.get("BenchmarkNotePushByHistory/commits=10000", "B/op")
			small, ok2 := r.get("BenchmarkNotePushByHistory/commits=1000", "ns/op")
			smallB, _ := r.get("BenchmarkNotePushByHistory/commits=1000", "B/op")
			return fmt.Sprintf("%.0f ms, %.1f MB allocated (on 1,000 commits: %.0f ms, %.1f MB)", big/1e6, bigB/(1<<20), small/1e6, smallB/(1<<20)), ok1 && ok2
		}},
	{"loading a 1,000-site network through git vs from a directory", "4–5× (1.67 s vs 0.33 s)", "≤ 1.5×",
		func(r results) (string, bool) {
			dir, ok1 := r.get("BenchmarkLoadNetwork/dir", "ns/op")
			git, ok2 := r.get("BenchmarkLoadNetwork/git", "ns/op")
			return fmt.Sprintf("%.2f× (%.0f ms vs %.0f ms)", git/dir, git/1e6, dir/1e6), ok1 && ok2
		}},
}

func main() {
	res, err := parse(os.Stdin)
	if err != nil {
		fmt.Fprintln(os.Stderr, "benchtable:", err)
		os.Exit(1)
	}
	fmt.Println("| what | before (issue 15) | target | now |")
	fmt.Println("|---|---|---|---|")
	for _, r := range rows {
		now, ok := r.now(res)
		if !ok {
			now = notRun
		}
		fmt.Printf("| %s | %s | %s | %s |\n", r.what, r.before, r.target, now)
	}
}
