package linuxhost

import (
	"bufio"
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"slices"
	"strconv"
	"strings"

	linux "github.com/tether-net/tether/render/linux"
	"go.uber.org/zap"
)

// Runtime drift: a file whose bytes match the rendered one can still be
// dead — after a reboot nothing runs, and a hand-made `wg set`, `nft flush`
// or `sysctl -w` changes what runs without touching a file. Plan compares
// what runs with every unchanged rendered file and plans its activation
// again when they differ; the plan line says what differed.

// Reactivation modes of a fileState whose bytes are unchanged.
const (
	reactActivate = "activate" // run the file's activation as if it had changed
	reactRestart  = "restart"  // a WireGuard interface that needs wg-quick down/up
)

// runtimeDrift says how what runs differs from f, a rendered file whose
// bytes are already on disk: "" when it matches. restart asks for
// `wg-quick down/up` where a sync cannot fix it (the interface is down or
// lacks an address wg-quick adds).
func (d *Device) runtimeDrift(ctx context.Context, f File) (diff string, restart bool, err error) {
	switch f.Activate.Kind {
	case linux.ActWGSyncconf, linux.ActWGRestart:
		return d.wgDrift(ctx, f.Activate.Target, f.Content)
	case linux.ActNftApply:
		diff, err = d.nftDrift(ctx, f.Path, f.Content)
	case linux.ActBirdConfigure:
		diff, err = d.birdDrift(ctx, f.Activate.Target, f.Content)
	case linux.ActSysctlApply:
		diff, err = d.sysctlDrift(ctx, f.Content)
	case linux.ActAddrApply:
		diff = d.addrDrift(ctx, f.Activate.Target, f.Content)
	case linux.ActServiceReload, linux.ActServiceRestart:
		up, aerr := d.o.Services.Active(ctx, f.Activate.Target)
		if aerr != nil {
			return "", false, aerr
		}
		if !up {
			diff = f.Activate.Target + " is not running"
		}
	}
	return diff, false, err
}

// wgWant is what a rendered wg-quick file asks of the running interface.
type wgWant struct {
	addrs      []netip.Prefix
	listenPort int
	mtu        int
	publicKey  string // from the PostUp key check, "" when the model has none
	peers      map[string]wgPeerWant
}

type wgPeerWant struct {
	allowed   []string // sorted, masked
	endpoint  string   // "" when the peer does not dial, or dials a name
	keepalive string   // "off" or seconds, as wg(8) dumps it
}

var postUpKey = regexp.MustCompile(`public-key\)"\s*=\s*(\S+)`)

// parseWGWant reads the keys of a rendered wg-quick file that show in
// `ip` and `wg show dump`.
func parseWGWant(conf []byte) (wgWant, error) {
	w := wgWant{peers: map[string]wgPeerWant{}}
	var section string
	var peer string
	var cur wgPeerWant
	flush := func() {
		if peer != "" {
			slices.Sort(cur.allowed)
			if cur.keepalive == "" {
				cur.keepalive = "off"
			}
			w.peers[peer] = cur
		}
		peer, cur = "", wgPeerWant{}
	}
	sc := bufio.NewScanner(bytes.NewReader(conf))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if strings.HasPrefix(line, "#") {
			continue
		}
		if strings.HasPrefix(line, "[") {
			flush()
			section = strings.ToLower(strings.Trim(line, "[] "))
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k, v = strings.ToLower(strings.TrimSpace(k)), strings.TrimSpace(v)
		var err error
		switch section + "." + k {
		case "interface.address":
			for _, a := range strings.Split(v, ",") {
				p, perr := netip.ParsePrefix(strings.TrimSpace(a))
				if perr != nil {
					return w, fmt.Errorf("address %q: %w", a, perr)
				}
				w.addrs = append(w.addrs, p)
			}
		case "interface.listenport":
			w.listenPort, err = strconv.Atoi(v)
		case "interface.mtu":
			w.mtu, err = strconv.Atoi(v)
		case "interface.postup":
			if m := postUpKey.FindStringSubmatch(v); m != nil {
				w.publicKey = m[1]
			}
		case "peer.publickey":
			peer = v
		case "peer.allowedips":
			for _, a := range strings.Split(v, ",") {
				p, perr := netip.ParsePrefix(strings.TrimSpace(a))
				if perr != nil {
					return w, fmt.Errorf("allowed %q: %w", a, perr)
				}
				cur.allowed = append(cur.allowed, p.Masked().String())
			}
		case "peer.endpoint":
			if ap, perr := netip.ParseAddrPort(v); perr == nil {
				cur.endpoint = ap.String()
			}
		case "peer.persistentkeepalive":
			cur.keepalive = v
			if v == "0" {
				cur.keepalive = "off"
			}
		}
		if err != nil {
			return w, fmt.Errorf("%s: %w", k, err)
		}
	}
	flush()
	return w, nil
}

// wgDumpScript prints `wg show IF dump` with the interface's private key
// and every peer's preshared key replaced by "-": the device never holds a
// secret in memory for a comparison.
const wgDumpScript = `set -o pipefail
wg show "$1" dump | awk -F'\t' -v OFS='\t' 'NR==1{$1="-"} NR>1{$2="-"} {print}'`

func (d *Device) wgDrift(ctx context.Context, iface string, conf []byte) (string, bool, error) {
	want, err := parseWGWant(conf)
	if err != nil {
		return "", false, fmt.Errorf("%s: rendered file: %w", iface, err)
	}
	out, _, code, err := d.o.Runner.Run(ctx, "ip", "-j", "link", "show", "dev", iface)
	if err != nil {
		return "", false, fmt.Errorf("ip link show %s: %w", iface, err)
	}
	if code != 0 {
		return iface + " does not exist", false, nil
	}
	var diffs []string
	restart := false
	var links []struct {
		Flags []string `json:"flags"`
		MTU   int      `json:"mtu"`
	}
	if err := json.Unmarshal(out, &links); err != nil || len(links) != 1 {
		return "", false, fmt.Errorf("ip -j link show %s: unreadable output: %v", iface, err)
	}
	if !slices.Contains(links[0].Flags, "UP") {
		diffs, restart = append(diffs, iface+" is down"), true
	}
	if want.mtu > 0 && links[0].MTU != want.mtu {
		diffs, restart = append(diffs, fmt.Sprintf("%s mtu %d (want %d)", iface, links[0].MTU, want.mtu)), true
	}
	live, err := d.ifaceAddrs(ctx, iface)
	if err != nil {
		return "", false, err
	}
	for _, a := range want.addrs {
		if !live[a] {
			diffs, restart = append(diffs, fmt.Sprintf("%s lacks address %s", iface, a)), true
		}
	}
	dump, err := run(ctx, d.o.Runner, "bash", "-c", wgDumpScript, "wg-dump", iface)
	if err != nil {
		return "", false, err
	}
	diffs = append(diffs, wgDumpDiff(iface, want, dump)...)
	return strings.Join(diffs, "; "), restart, nil
}

// wgDumpDiff compares a key-masked `wg show dump` with the rendered file.
func wgDumpDiff(iface string, want wgWant, dump []byte) []string {
	var diffs []string
	lines := strings.Split(strings.TrimRight(string(dump), "\n"), "\n")
	if len(lines) == 0 || lines[0] == "" {
		return []string{iface + ": wg shows nothing"}
	}
	head := strings.Split(lines[0], "\t")
	if len(head) >= 3 {
		if want.publicKey != "" && head[1] != want.publicKey {
			diffs = append(diffs, fmt.Sprintf("%s runs public key %s (want %s)", iface, head[1], want.publicKey))
		}
		if want.listenPort > 0 && head[2] != strconv.Itoa(want.listenPort) {
			diffs = append(diffs, fmt.Sprintf("%s listens on %s (want %d)", iface, head[2], want.listenPort))
		}
	}
	seen := map[string]bool{}
	for _, line := range lines[1:] {
		f := strings.Split(line, "\t")
		if len(f) != 8 {
			continue
		}
		key := f[0]
		seen[key] = true
		w, ok := want.peers[key]
		if !ok {
			diffs = append(diffs, fmt.Sprintf("%s has a peer not rendered: %s", iface, key))
			continue
		}
		var allowed []string
		if f[3] != "(none)" {
			for _, a := range strings.Split(f[3], ",") {
				if p, err := netip.ParsePrefix(a); err == nil {
					allowed = append(allowed, p.Masked().String())
				}
			}
		}
		slices.Sort(allowed)
		if !slices.Equal(allowed, w.allowed) {
			diffs = append(diffs, fmt.Sprintf("%s peer %s allows %s (want %s)", iface, short(key), orNone(allowed), orNone(w.allowed)))
		}
		if w.endpoint != "" && f[2] != w.endpoint {
			diffs = append(diffs, fmt.Sprintf("%s peer %s endpoint %s (want %s)", iface, short(key), f[2], w.endpoint))
		}
		if f[7] != w.keepalive {
			diffs = append(diffs, fmt.Sprintf("%s peer %s keepalive %s (want %s)", iface, short(key), f[7], w.keepalive))
		}
	}
	var missing []string
	for k := range want.peers {
		if !seen[k] {
			missing = append(missing, short(k))
		}
	}
	slices.Sort(missing)
	if len(missing) > 0 {
		diffs = append(diffs, fmt.Sprintf("%s lacks peer(s) %s", iface, strings.Join(missing, ", ")))
	}
	return diffs
}

func short(key string) string {
	if len(key) > 8 {
		return key[:8] + "…"
	}
	return key
}

func orNone(s []string) string {
	if len(s) == 0 {
		return "(none)"
	}
	return strings.Join(s, ",")
}

// ifaceAddrs lists the addresses configured on iface.
func (d *Device) ifaceAddrs(ctx context.Context, iface string) (map[netip.Prefix]bool, error) {
	out, err := run(ctx, d.o.Runner, "ip", "-j", "addr", "show", "dev", iface)
	if err != nil {
		return nil, err
	}
	var links []struct {
		AddrInfo []struct {
			Local     string `json:"local"`
			PrefixLen int    `json:"prefixlen"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		return nil, fmt.Errorf("ip -j addr show %s: %w", iface, err)
	}
	m := map[netip.Prefix]bool{}
	for _, l := range links {
		for _, a := range l.AddrInfo {
			if ip, err := netip.ParseAddr(a.Local); err == nil {
				m[netip.PrefixFrom(ip, a.PrefixLen)] = true
			}
		}
	}
	return m, nil
}

// nftCanonicalScript loads a ruleset file into a private, empty network
// namespace and lists the table there: nft's own rendering of the file,
// comparable line for line with the live table's listing.
const nftCanonicalScript = `nft -f "$1" && nft -s list table "$2" "$3"`

func (d *Device) nftDrift(ctx context.Context, file string, content []byte) (string, error) {
	var diffs []string
	for _, t := range nftTables(content) {
		live, _, code, err := d.o.Runner.Run(ctx, "nft", "-s", "list", "table", t[0], t[1])
		if err != nil {
			return "", fmt.Errorf("nft list table %s %s: %w", t[0], t[1], err)
		}
		if code != 0 {
			diffs = append(diffs, fmt.Sprintf("nft table %s %s is not loaded", t[0], t[1]))
			continue
		}
		want, ok := d.nftCanonical(ctx, file, content, t)
		if !ok {
			continue // existence is all that can be checked
		}
		if l, w := normalizeNft(live), normalizeNft(want); l != w {
			diffs = append(diffs, fmt.Sprintf("nft table %s %s differs from the rendered one (%s)", t[0], t[1], firstDiff(l, w)))
		}
	}
	return strings.Join(diffs, "; "), nil
}

// nftCanonical returns (cached per content) nft's listing of table t as
// the file defines it. It needs CAP_SYS_ADMIN for a private namespace;
// without it only the table's presence is compared.
func (d *Device) nftCanonical(ctx context.Context, file string, content []byte, t [2]string) ([]byte, bool) {
	sum := sha256.Sum256(content)
	key := hex.EncodeToString(sum[:]) + "/" + t[0] + "/" + t[1]
	d.mu.Lock()
	cached, ok := d.nftCache[key]
	d.mu.Unlock()
	if ok {
		return cached, true
	}
	out, errb, code, err := d.o.Runner.Run(ctx, "unshare", "--net", "sh", "-c", nftCanonicalScript, "nft-canonical", d.path(file), t[0], t[1])
	if err != nil || code != 0 {
		d.o.Log.Debug("cannot list the rendered nft table in a private namespace; checking its presence only",
			zap.String("table", t[0]+" "+t[1]), zap.Int("exit", code), zap.String("stderr", strings.TrimSpace(string(errb))), zap.Error(err))
		return nil, false
	}
	d.mu.Lock()
	if d.nftCache == nil {
		d.nftCache = map[string][]byte{}
	}
	d.nftCache[key] = out
	d.mu.Unlock()
	return out, true
}

func normalizeNft(b []byte) string {
	var lines []string
	for _, l := range strings.Split(string(b), "\n") {
		if l = strings.TrimSpace(l); l != "" {
			lines = append(lines, l)
		}
	}
	return strings.Join(lines, "\n")
}

// firstDiff names the first line where live and want part.
func firstDiff(live, want string) string {
	l, w := strings.Split(live, "\n"), strings.Split(want, "\n")
	for i := 0; i < len(l) || i < len(w); i++ {
		switch {
		case i >= len(l):
			return fmt.Sprintf("missing %q", w[i])
		case i >= len(w):
			return fmt.Sprintf("extra %q", l[i])
		case l[i] != w[i]:
			return fmt.Sprintf("runs %q where the file has %q", l[i], w[i])
		}
	}
	return "same lines"
}

// birdProtocol matches a named protocol in bird.conf ("protocol bgp
// bgp_home {", "protocol static originate6 {"); unnamed ones get names
// from BIRD and are not compared.
var birdProtocol = regexp.MustCompile(`(?m)^\s*protocol\s+[a-z0-9]+\s+([A-Za-z_][A-Za-z0-9_]*)\b`)

func (d *Device) birdDrift(ctx context.Context, sock string, conf []byte) (string, error) {
	if !d.birdRunning(ctx, sock) {
		return "BIRD is not running", nil
	}
	out, errb, code, err := d.o.Runner.Run(ctx, "birdc", "-s", sock, "show", "protocols")
	if err != nil {
		return "", fmt.Errorf("birdc show protocols: %w", err)
	}
	if code != 0 {
		return "", &ToolError{Cmd: "birdc -s " + sock + " show protocols", Code: code, Output: toolMessage(out, errb)}
	}
	live := map[string]bool{}
	for _, line := range strings.Split(string(out), "\n") {
		if f := strings.Fields(line); len(f) > 0 {
			live[f[0]] = true
		}
	}
	var missing []string
	for _, m := range birdProtocol.FindAllSubmatch(conf, -1) {
		if name := string(m[1]); !live[name] {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		return "BIRD runs without protocol(s) " + strings.Join(missing, ", ") + " of the rendered config", nil
	}
	return "", nil
}

// sysctlDrift compares the kernel's values with a sysctl.d file's.
func (d *Device) sysctlDrift(ctx context.Context, conf []byte) (string, error) {
	var diffs []string
	for _, line := range strings.Split(string(conf), "\n") {
		line = strings.TrimSpace(line)
		if line == "" || line[0] == '#' || line[0] == ';' {
			continue
		}
		k, v, ok := strings.Cut(line, "=")
		if !ok {
			continue
		}
		k = strings.ReplaceAll(strings.TrimPrefix(strings.TrimSpace(k), "-"), "/", ".")
		want := strings.Join(strings.Fields(v), " ")
		out, _, code, err := d.o.Runner.Run(ctx, "sysctl", "-n", k)
		if err != nil {
			return "", fmt.Errorf("sysctl -n %s: %w", k, err)
		}
		if code != 0 {
			continue // a key this kernel lacks; the check before apply reports it
		}
		if got := strings.Join(strings.Fields(string(out)), " "); got != want {
			diffs = append(diffs, fmt.Sprintf("%s = %s (want %s)", k, got, want))
		}
	}
	return strings.Join(diffs, "; "), nil
}

// reactivationText says what a runtime repair runs, for the plan line.
func reactivationText(want fileState, diff string) string {
	switch want.Action.Kind {
	case linux.ActWGSyncconf, linux.ActWGRestart:
		switch {
		case want.Reactivate == reactRestart:
			return "wg-quick down/up"
		case strings.HasPrefix(diff, want.Action.Target+" does not exist"):
			return "wg-quick up"
		default:
			return "wg syncconf"
		}
	case linux.ActBirdConfigure:
		if strings.HasPrefix(diff, "BIRD is not running") {
			return "start BIRD"
		}
	}
	return strings.TrimPrefix(activationText(want, want), "→ ")
}
