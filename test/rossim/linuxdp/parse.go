package linuxdp

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"net/netip"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/tether-net/tether/test/rossim"
)

// dumpIface is one interface of `wg show NAME dump`.
type dumpIface struct {
	privateKey string
	listenPort int
	peers      map[string]dumpPeer
}

type dumpPeer struct {
	presharedKey string // "" for none
	endpoint     netip.AddrPort
	allowed      []netip.Prefix
	handshake    time.Time
	rx, tx       uint64
	keepalive    int // seconds, 0 off
}

func none(s string) string {
	if s == "(none)" {
		return ""
	}
	return s
}

// parsePeerFields reads the 8 tab-separated peer fields: public-key
// preshared-key endpoint allowed-ips latest-handshake rx tx keepalive.
func parsePeerFields(f []string) (string, dumpPeer, error) {
	var p dumpPeer
	p.presharedKey = none(f[1])
	if ep := none(f[2]); ep != "" {
		a, err := netip.ParseAddrPort(ep)
		if err != nil {
			return "", p, fmt.Errorf("endpoint %q: %w", ep, err)
		}
		p.endpoint = a
	}
	if al := none(f[3]); al != "" {
		for s := range strings.SplitSeq(al, ",") {
			pfx, err := netip.ParsePrefix(s)
			if err != nil {
				return "", p, fmt.Errorf("allowed ip %q: %w", s, err)
			}
			p.allowed = append(p.allowed, pfx)
		}
	}
	hs, err1 := strconv.ParseInt(f[4], 10, 64)
	rx, err2 := strconv.ParseUint(f[5], 10, 64)
	tx, err3 := strconv.ParseUint(f[6], 10, 64)
	if err1 != nil || err2 != nil || err3 != nil {
		return "", p, fmt.Errorf("bad number in %q", strings.Join(f, "\t"))
	}
	if hs != 0 {
		p.handshake = time.Unix(hs, 0)
	}
	p.rx, p.tx = rx, tx
	if f[7] != "off" {
		ka, err := strconv.Atoi(f[7])
		if err != nil {
			return "", p, fmt.Errorf("keepalive %q: %w", f[7], err)
		}
		p.keepalive = ka
	}
	return f[0], p, nil
}

// parseDump parses `wg show NAME dump`: a line "private-key public-key
// listen-port fwmark", then one line of 8 fields per peer.
func parseDump(out []byte) (dumpIface, error) {
	d := dumpIface{peers: map[string]dumpPeer{}}
	lines := strings.Split(strings.TrimRight(string(out), "\n"), "\n")
	f := strings.Split(lines[0], "\t")
	if len(f) != 4 {
		return d, fmt.Errorf("linuxdp: wg dump: interface line has %d fields, want 4", len(f))
	}
	d.privateKey = none(f[0])
	port, err := strconv.Atoi(f[2])
	if err != nil {
		return d, fmt.Errorf("linuxdp: wg dump: listen port %q", f[2])
	}
	d.listenPort = port
	for _, line := range lines[1:] {
		f := strings.Split(line, "\t")
		if len(f) != 8 {
			return d, fmt.Errorf("linuxdp: wg dump: peer line has %d fields, want 8", len(f))
		}
		key, p, err := parsePeerFields(f)
		if err != nil {
			return d, fmt.Errorf("linuxdp: wg dump: %w", err)
		}
		d.peers[key] = p
	}
	return d, nil
}

// parseDumpAll parses `wg show all dump`: every line starts with the
// interface name; interface lines have 5 fields, peer lines 9.
func parseDumpAll(out []byte) (map[rossim.DataplanePeerKey]rossim.DataplanePeerStats, error) {
	m := map[rossim.DataplanePeerKey]rossim.DataplanePeerStats{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		switch len(f) {
		case 1:
			if f[0] == "" {
				continue
			}
		case 5:
			continue // interface line
		case 9:
			key, p, err := parsePeerFields(f[1:])
			if err != nil {
				return nil, fmt.Errorf("linuxdp: wg dump: %s: %w", f[0], err)
			}
			m[rossim.DataplanePeerKey{Interface: f[0], PublicKey: key}] = rossim.DataplanePeerStats{
				LastHandshake: p.handshake, Rx: p.rx, Tx: p.tx, Endpoint: p.endpoint}
			continue
		}
		return nil, fmt.Errorf("linuxdp: wg dump: line with %d fields", len(f))
	}
	return m, nil
}

// parseAddrs reads `ip -j addr show`: every global (non-link-local)
// address by link, and the set of link names (values false).
func parseAddrs(out []byte) (map[addrKey]bool, map[string]bool, error) {
	var links []struct {
		Name  string `json:"ifname"`
		Addrs []struct {
			Family    string `json:"family"`
			Local     string `json:"local"`
			Peer      string `json:"address"` // IPv4 point-to-point only
			PrefixLen int    `json:"prefixlen"`
			Scope     string `json:"scope"`
		} `json:"addr_info"`
	}
	if err := json.Unmarshal(out, &links); err != nil {
		return nil, nil, fmt.Errorf("linuxdp: ip addr: %w", err)
	}
	have, names := map[addrKey]bool{}, map[string]bool{}
	for _, l := range links {
		names[l.Name] = false
		for _, a := range l.Addrs {
			if a.Scope == "link" || a.Scope == "host" || (a.Family != "inet" && a.Family != "inet6") {
				continue
			}
			addr, err := netip.ParseAddr(a.Local)
			if err != nil {
				continue
			}
			k := addrKey{dev: l.Name, addr: netip.PrefixFrom(addr, a.PrefixLen)}
			if peer, err := netip.ParseAddr(a.Peer); err == nil && peer != addr {
				k.peer = peer
			}
			have[k] = true
		}
	}
	return have, names, nil
}

// parseRoutes reads `ip -j route show`.
func parseRoutes(out []byte, v6 bool) ([]ipRoute, error) {
	var rs []struct {
		Dst    string `json:"dst"`
		Metric int    `json:"metric"`
		Table  string `json:"table"` // absent for main
	}
	if err := json.Unmarshal(out, &rs); err != nil {
		return nil, fmt.Errorf("linuxdp: ip route: %w", err)
	}
	var out2 []ipRoute
	for _, r := range rs {
		p, err := parseDst(r.Dst, v6)
		if err != nil {
			return nil, err
		}
		table := 254
		if r.Table != "" && r.Table != "main" {
			if table, err = strconv.Atoi(r.Table); err != nil {
				return nil, fmt.Errorf("linuxdp: ip route: table %q", r.Table)
			}
		}
		out2 = append(out2, ipRoute{key: routeKey{p, r.Metric, table}})
	}
	return out2, nil
}

func parseDst(s string, v6 bool) (netip.Prefix, error) {
	if s == "default" {
		if v6 {
			return netip.MustParsePrefix("::/0"), nil
		}
		return netip.MustParsePrefix("0.0.0.0/0"), nil
	}
	if strings.Contains(s, "/") {
		return netip.ParsePrefix(s)
	}
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Prefix{}, fmt.Errorf("linuxdp: route destination %q: %w", s, err)
	}
	return netip.PrefixFrom(a, a.BitLen()), nil
}

var (
	pingReply   = regexp.MustCompile(`^(\d+) bytes from .*: icmp_seq=(\d+) ttl=(\d+) time=([\d.]+) ms$`)
	pingSummary = regexp.MustCompile(`^(\d+) packets transmitted, (\d+) received`)
)

// parsePing reads iputils ping output; ok is false without its summary
// line (ping could not send at all).
func parsePing(out []byte) (res rossim.PingResult, ok bool) {
	seen := map[int]bool{}
	for line := range strings.SplitSeq(string(out), "\n") {
		line = strings.TrimSpace(line)
		if m := pingReply.FindStringSubmatch(line); m != nil {
			size, _ := strconv.Atoi(m[1])
			seq, _ := strconv.Atoi(m[2])
			ttl, _ := strconv.Atoi(m[3])
			ms, _ := strconv.ParseFloat(m[4], 64)
			if seen[seq] {
				continue
			}
			seen[seq] = true
			res.Replies = append(res.Replies, rossim.PingReply{Seq: seq - 1, Size: size - 8, TTL: ttl,
				RTT: time.Duration(ms * float64(time.Millisecond)).Round(time.Microsecond)})
			continue
		}
		if m := pingSummary.FindStringSubmatch(line); m != nil {
			res.Sent, _ = strconv.Atoi(m[1])
			res.Received, _ = strconv.Atoi(m[2])
			ok = true
		}
	}
	return res, ok
}
