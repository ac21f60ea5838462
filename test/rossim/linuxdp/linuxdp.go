// Package linuxdp is a real dataplane for the RouterOS simulator
// (rossim.Dataplane) built from Linux tools: each WireGuard interface is a
// wireguard-go process configured with wg, other interfaces that carry
// addresses (bridges, VLANs, ethernets) are dummy links, addresses and
// static routes are set with ip, and pings are iputils ping. (Kernels
// without the dummy link type get empty bridges instead.) Run in a lab
// host (InHost), a simulated router forms real tunnels with real Linux
// peers while tether talks to it over the RouterOS API.
//
// Ownership: Apply only ever deletes what it created. Links it creates
// carry the alias "rossim-linuxdp" (so they are recognised even after a
// failed Apply), routes carry protocol RouteProto, and addresses it adds to
// links it did not create (a lab's eth0, via Options.LinkNames) are
// remembered. Everything else in the namespace is left alone.
//
// The firewall (filter, nat, mangle, address and interface lists) becomes
// the nftables table NFTable, replaced whole in one `nft -f` on every
// change; routing tables with fib are Linux tables numbered from
// firstTableID, holding their static routes; routing rules and routing
// marks become ip rules (protocol RouteProto). firewall.go has the
// translation, CONFORMANCE.md the RouterOS semantics it follows.
//
// Not realised: bridge ports and VLAN tagging (a bridge is just a dummy
// holding addresses), ECMP (the first gateway is used), the raw table and
// firewall matchers outside firewall.go's list (such a rule is left out and
// reported through Logf). Forwarding is left as the namespace has it
// (lab.HostSpec.Forward turns it on), since it is namespace-wide state
// Apply did not create.
package linuxdp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-net/tether/test/rossim"
)

// RouteProto is the routing protocol number Apply installs routes with
// (`ip route … proto 199`), to find and remove them later; it is not
// assigned in /etc/iproute2/rt_protos.
const RouteProto = 199

// ownerAlias marks the links Apply created.
const ownerAlias = "rossim-linuxdp"

const (
	applyTimeout = time.Minute
	startTimeout = 10 * time.Second // wireguard-go until its UAPI socket answers
)

// Options tune a Dataplane.
type Options struct {
	// Logf receives diagnostics; default discards. Keys are never logged.
	Logf func(string, ...any)
	// LinkNames maps RouterOS interface names to existing Linux links,
	// e.g. {"ether1": "eth0"}: addresses and routes on ether1 go to eth0,
	// which Apply never creates or deletes.
	LinkNames map[string]string
}

// Dataplane implements rossim.Dataplane. Its methods are safe for
// concurrent use.
type Dataplane struct {
	r      Runner
	logf   func(string, ...any)
	names  map[string]string
	closed atomic.Bool

	mu     sync.Mutex // serialises Apply and Close
	ctx    context.Context
	cancel context.CancelFunc
	procs  map[string]Process                         // wireguard-go by interface
	peers  map[string]map[string]rossim.DataplanePeer // per interface, by public key: last applied
	added  map[addrKey]bool                           // addresses added to links Apply did not create
	// noDummy: the kernel has no dummy link type; empty bridges stand in.
	noDummy bool
	nft     string   // the ruleset last loaded: "" none, "\x00" unknown (a load failed)
	rules   []string // the ip rules last added, one line each; nil unknown
	warned  map[string]bool
}

var _ rossim.Dataplane = (*Dataplane)(nil)

// New returns a Dataplane that runs its commands through r.
func New(r Runner, o Options) *Dataplane {
	d := &Dataplane{r: r, logf: o.Logf, names: o.LinkNames,
		procs: map[string]Process{}, peers: map[string]map[string]rossim.DataplanePeer{}, added: map[addrKey]bool{},
		warned: map[string]bool{}}
	if d.logf == nil {
		d.logf = func(string, ...any) {}
	}
	// Processes live until Close, not for one Apply.
	d.ctx, d.cancel = context.WithCancel(context.Background())
	return d
}

var errClosed = errors.New("linuxdp: closed")

// linkName maps a RouterOS interface name to the Linux link name.
func (d *Dataplane) linkName(ros string) string {
	if n, ok := d.names[ros]; ok {
		return n
	}
	return ros
}

func (d *Dataplane) foreignByName(linux string) bool {
	for _, n := range d.names {
		if n == linux {
			return true
		}
	}
	return false
}

type addrKey struct {
	dev  string
	addr netip.Prefix
	peer netip.Addr // IPv4 point-to-point: the far end (RouterOS network=)
}

type routeKey struct {
	dst    netip.Prefix
	metric int
	table  int // Linux table number; 254 is main
}

// plan is the effective configuration: disabled rows and everything on
// disabled interfaces dropped, RouterOS names mapped to Linux names.
type plan struct {
	wg      []rossim.DataplaneWireGuard
	dummies []string
	addrs   []addrKey
	routes  map[routeKey]rossim.DataplaneRoute
	tables  map[string]int
	errs    []error
}

func validLinkName(s string) bool {
	return s != "" && len(s) <= 15 && s != "." && s != ".." && !strings.ContainsAny(s, "/: \t\n%")
}

func (d *Dataplane) plan(cfg rossim.DataplaneConfig) plan {
	var p plan
	p.routes = map[routeKey]rossim.DataplaneRoute{}
	p.tables = tableIDs(cfg.RoutingTables)
	off := map[string]bool{} // RouterOS names of interfaces that are absent
	linux := map[string]string{}
	for _, w := range cfg.WireGuard {
		switch {
		case w.Disabled:
			off[w.Name] = true
		case !validLinkName(w.Name) || d.foreignByName(w.Name):
			p.errs = append(p.errs, fmt.Errorf("wireguard %q: not usable as a Linux link name", w.Name))
			off[w.Name] = true
		default:
			var peers []rossim.DataplanePeer
			seen := map[string]bool{}
			for _, pr := range w.Peers {
				if pr.Disabled {
					continue
				}
				if seen[pr.PublicKey] {
					p.errs = append(p.errs, fmt.Errorf("wireguard %s: peer %s configured twice; the first is used", w.Name, pr.PublicKey))
					continue
				}
				seen[pr.PublicKey] = true
				peers = append(peers, pr)
			}
			w.Peers = peers
			p.wg = append(p.wg, w)
			linux[w.Name] = w.Name
		}
	}
	for _, l := range cfg.Links {
		name := d.linkName(l.Name)
		switch {
		case l.Disabled:
			off[l.Name] = true
		case !validLinkName(name):
			p.errs = append(p.errs, fmt.Errorf("interface %q: not usable as a Linux link name", l.Name))
			off[l.Name] = true
		case slices.ContainsFunc(p.wg, func(w rossim.DataplaneWireGuard) bool { return w.Name == name }):
			p.errs = append(p.errs, fmt.Errorf("interface %q: maps to WireGuard interface %s", l.Name, name))
			off[l.Name] = true
		default:
			if _, mapped := d.names[l.Name]; !mapped && !slices.Contains(p.dummies, name) {
				p.dummies = append(p.dummies, name)
			}
		}
	}
	for _, a := range cfg.Addresses {
		if a.Disabled || off[a.Interface] {
			continue
		}
		k := addrKey{d.linkName(a.Interface), a.Address, a.Peer}
		if !slices.Contains(p.addrs, k) {
			p.addrs = append(p.addrs, k)
		}
	}
	for _, r := range cfg.Routes {
		if r.Disabled || (r.Interface != "" && off[r.Interface]) {
			continue
		}
		if r.Interface != "" {
			r.Interface = d.linkName(r.Interface)
		}
		r.Dst = r.Dst.Masked()
		table := "main"
		if r.Table != "" {
			table = r.Table
		}
		id, ok := p.tables[table]
		if !ok {
			p.errs = append(p.errs, fmt.Errorf("route %s: routing table %q has no fib", r.Dst, r.Table))
			continue
		}
		k := routeKey{r.Dst, r.Distance, id}
		if _, dup := p.routes[k]; !dup { // RouterOS shows both; the kernel keeps one
			p.routes[k] = r
		}
	}
	return p
}

// Apply makes the namespace match cfg (see rossim.Dataplane). It carries on
// past failures of single items and returns them all.
func (d *Dataplane) Apply(cfg rossim.DataplaneConfig) error {
	d.mu.Lock()
	defer d.mu.Unlock()
	if d.closed.Load() {
		return errClosed
	}
	ctx, cancel := context.WithTimeout(d.ctx, applyTimeout)
	defer cancel()
	p := d.plan(cfg)
	errs := p.errs
	add := func(err error) {
		if err != nil {
			errs = append(errs, err)
		}
	}

	// Routes that went away, first: they may use links about to go.
	for _, fam := range []string{"-4", "-6"} {
		have, err := d.routes(ctx, fam)
		add(err)
		for _, r := range have {
			if _, ok := p.routes[r.key]; !ok {
				add(d.run(ctx, "ip", fam, "route", "del", r.key.dst.String(), "metric", strconv.Itoa(r.key.metric), "proto", strconv.Itoa(RouteProto), "table", strconv.Itoa(r.key.table)))
			}
		}
	}

	links, err := d.links(ctx)
	if err != nil {
		return errors.Join(append(errs, err)...)
	}
	// Interfaces that went away.
	wantWG := map[string]bool{}
	for _, w := range p.wg {
		wantWG[w.Name] = true
	}
	for name, proc := range d.procs {
		if !wantWG[name] {
			add(proc.Stop())
			delete(d.procs, name)
			delete(d.peers, name)
			delete(links, name)
		}
	}
	for name, l := range links {
		isTun := l.Info.Kind == "tun"
		if l.Alias != ownerAlias || (wantWG[name] && isTun) || (slices.Contains(p.dummies, name) && !isTun) {
			continue
		}
		add(d.run(ctx, "ip", "link", "del", "dev", name))
		delete(links, name)
	}
	// Dummies for addressed interfaces the namespace lacks.
	for _, name := range p.dummies {
		l, ok := links[name]
		switch {
		case !ok:
			if err := d.addDummy(ctx, name); err != nil {
				add(err)
				continue
			}
			// Unmarked, a link would never be ours: undo rather than leak.
			if err := d.run(ctx, "ip", "link", "set", "dev", name, "alias", ownerAlias, "up"); err != nil {
				add(err)
				add(d.run(ctx, "ip", "link", "del", "dev", name))
			}
		case l.Alias == ownerAlias && !l.up():
			add(d.run(ctx, "ip", "link", "set", "dev", name, "up"))
		}
	}
	// WireGuard interfaces and their peers.
	for _, w := range p.wg {
		add(d.applyWG(ctx, w, links))
	}
	add(d.applyAddrs(ctx, p.addrs))
	// Routes: replace is idempotent and updates gateways in place.
	for k, r := range p.routes {
		args := routeArgs("replace", r, k.table)
		add(d.run(ctx, args[0], args[1:]...))
	}
	add(d.applyFirewall(ctx, cfg))
	add(d.applyRules(ctx, cfg))
	return errors.Join(errs...)
}

// addDummy creates a link that only holds addresses: a dummy, or an empty
// bridge on kernels built without dummy (some VM kernels). Either way
// packets to its addresses are delivered locally and nothing leaves by it.
func (d *Dataplane) addDummy(ctx context.Context, name string) error {
	if !d.noDummy {
		err := d.run(ctx, "ip", "link", "add", name, "type", "dummy")
		if err == nil || !strings.Contains(err.Error(), "Unknown device type") {
			return err
		}
		d.noDummy = true
		d.logf("linuxdp: this kernel has no dummy links; using empty bridges instead")
	}
	return d.run(ctx, "ip", "link", "add", name, "type", "bridge")
}

func routeArgs(verb string, r rossim.DataplaneRoute, table int) []string {
	fam := "-4"
	if r.Dst.Addr().Is6() {
		fam = "-6"
	}
	args := []string{"ip", fam, "route", verb}
	if r.Blackhole {
		args = append(args, "blackhole", r.Dst.String())
	} else {
		args = append(args, r.Dst.String())
		if r.Gateway.IsValid() {
			args = append(args, "via", r.Gateway.WithZone("").String())
		}
		if r.Interface != "" {
			args = append(args, "dev", r.Interface)
		}
	}
	return append(args, "metric", strconv.Itoa(r.Distance), "proto", strconv.Itoa(RouteProto), "table", strconv.Itoa(table))
}

// applyWG makes one WireGuard interface match w.
func (d *Dataplane) applyWG(ctx context.Context, w rossim.DataplaneWireGuard, links map[string]ipLink) error {
	l, exists := links[w.Name]
	proc := d.procs[w.Name]
	if proc != nil && !exists {
		// wireguard-go died (its tun went with it): start over.
		d.logf("linuxdp: wireguard-go for %s is gone; restarting it", w.Name)
		_ = proc.Stop()
		proc = nil
		delete(d.procs, w.Name)
	}
	if proc == nil {
		if exists {
			return fmt.Errorf("wireguard %s: a link of that name exists and was not created by linuxdp", w.Name)
		}
		// WG_PROCESS_FOREGROUND silences the "use the kernel module" banner.
		p, err := d.r.Start(d.ctx, "env", "WG_PROCESS_FOREGROUND=1", "wireguard-go", "-f", w.Name)
		if err != nil {
			return fmt.Errorf("wireguard %s: start wireguard-go: %w", w.Name, err)
		}
		if err := d.waitUAPI(ctx, w.Name); err != nil {
			_ = p.Stop()
			return fmt.Errorf("wireguard %s: %w", w.Name, err)
		}
		d.procs[w.Name] = p
		d.peers[w.Name] = map[string]rossim.DataplanePeer{}
		l = ipLink{MTU: 1420}
		if err := d.run(ctx, "ip", "link", "set", "dev", w.Name, "alias", ownerAlias); err != nil {
			return err
		}
	}
	if (w.MTU != 0 && l.MTU != w.MTU) || !l.up() {
		args := []string{"link", "set", "dev", w.Name}
		if w.MTU != 0 {
			args = append(args, "mtu", strconv.Itoa(w.MTU))
		}
		if err := d.run(ctx, "ip", append(args, "up")...); err != nil {
			return err
		}
	}

	out, err := d.r.Run(ctx, "wg", "show", w.Name, "dump")
	if err != nil {
		return err
	}
	cur, err := parseDump(out)
	if err != nil {
		return err
	}
	var errs []error
	var set []string
	if w.PrivateKey != "" && cur.privateKey != w.PrivateKey {
		f, err := keyFile(w.PrivateKey)
		if err != nil {
			return err
		}
		defer os.Remove(f)
		set = append(set, "private-key", f)
	}
	if w.ListenPort != 0 && cur.listenPort != w.ListenPort {
		set = append(set, "listen-port", strconv.Itoa(w.ListenPort))
	}
	if len(set) > 0 {
		if err := d.run(ctx, "wg", append([]string{"set", w.Name}, set...)...); err != nil {
			errs = append(errs, err)
		}
	}

	applied := d.peers[w.Name]
	want := map[string]bool{}
	for _, p := range w.Peers {
		want[p.PublicKey] = true
	}
	for key := range cur.peers {
		if !want[key] {
			if err := d.run(ctx, "wg", "set", w.Name, "peer", key, "remove"); err != nil {
				errs = append(errs, err)
				continue
			}
			delete(applied, key)
		}
	}
	for key := range applied {
		if !want[key] {
			delete(applied, key)
		}
	}
	for _, p := range w.Peers {
		if err := d.applyPeer(ctx, w.Name, p, cur.peers); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

// applyPeer adds or updates one peer. The endpoint is only (re)set when
// the configured one changed: a peer that roamed keeps its current
// endpoint, as on a router.
func (d *Dataplane) applyPeer(ctx context.Context, iface string, p rossim.DataplanePeer, cur map[string]dumpPeer) error {
	applied := d.peers[iface]
	last, hadLast := applied[p.PublicKey]
	c, exists := cur[p.PublicKey]
	endpoint := ""
	if p.EndpointAddress != "" && p.EndpointPort != 0 {
		host := p.EndpointAddress
		if a, err := netip.ParseAddr(host); err == nil && a.Is6() {
			host = "[" + host + "]"
		}
		endpoint = host + ":" + strconv.Itoa(p.EndpointPort)
	}
	lastEndpoint := ""
	if hadLast && last.EndpointAddress != "" && last.EndpointPort != 0 {
		lastEndpoint = last.EndpointAddress + ":" + strconv.Itoa(last.EndpointPort)
	}
	if exists && endpoint == "" && (lastEndpoint != "" || !hadLast && c.endpoint.IsValid()) {
		// wg cannot unset an endpoint: remove the peer and add it afresh.
		if err := d.run(ctx, "wg", "set", iface, "peer", p.PublicKey, "remove"); err != nil {
			return err
		}
		exists = false
	}
	endpointChanged := endpoint != "" && (!exists || !hadLast || lastEndpoint != p.EndpointAddress+":"+strconv.Itoa(p.EndpointPort))
	ka := int(p.PersistentKeepalive / time.Second)
	if exists && !endpointChanged && c.presharedKey == p.PresharedKey && c.keepalive == ka && samePrefixes(c.allowed, p.AllowedAddress) {
		applied[p.PublicKey] = p
		return nil
	}
	args := []string{"set", iface, "peer", p.PublicKey}
	if c.presharedKey != p.PresharedKey || !exists {
		if p.PresharedKey == "" {
			args = append(args, "preshared-key", "/dev/null") // wg: clears it
		} else {
			f, err := keyFile(p.PresharedKey)
			if err != nil {
				return err
			}
			defer os.Remove(f)
			args = append(args, "preshared-key", f)
		}
	}
	if endpointChanged {
		args = append(args, "endpoint", endpoint)
	}
	var allowed []string
	for _, a := range p.AllowedAddress {
		allowed = append(allowed, a.Masked().String())
	}
	args = append(args, "allowed-ips", strings.Join(allowed, ","))
	if ka > 0 {
		args = append(args, "persistent-keepalive", strconv.Itoa(ka))
	} else {
		args = append(args, "persistent-keepalive", "off")
	}
	if err := d.run(ctx, "wg", args...); err != nil {
		return err
	}
	applied[p.PublicKey] = p
	return nil
}

func samePrefixes(a, b []netip.Prefix) bool {
	norm := func(ps []netip.Prefix) []string {
		var out []string
		for _, p := range ps {
			out = append(out, p.Masked().String())
		}
		slices.Sort(out)
		return slices.Compact(out)
	}
	return slices.Equal(norm(a), norm(b))
}

// keyFile writes a secret to a 0600 temp file for wg, which reads keys
// only from files; the caller removes it. Command lines (which errors and
// ps show) carry the path, never the key.
func keyFile(key string) (string, error) {
	f, err := os.CreateTemp("", "rossim-wgkey-*")
	if err != nil {
		return "", fmt.Errorf("linuxdp: key file: %w", err)
	}
	_, werr := f.WriteString(key + "\n")
	if err := errors.Join(werr, f.Close()); err != nil {
		os.Remove(f.Name())
		return "", fmt.Errorf("linuxdp: key file: %w", err)
	}
	return f.Name(), nil
}

// waitUAPI waits for a new wireguard-go to answer on its UAPI socket.
// `wg` is asked only once the socket listens: wg unlinks a socket whose
// connect is refused (taking it for a dead process's), and between
// wireguard-go's bind and listen that would delete the live socket's path,
// after which wireguard-go fails ("Failed to listen on uapi socket").
func (d *Dataplane) waitUAPI(ctx context.Context, name string) error {
	ctx, cancel := context.WithTimeout(ctx, startTimeout)
	defer cancel()
	for {
		var err error
		if err = d.uapiListening(ctx, name); err == nil {
			_, err = d.r.Run(ctx, "wg", "show", name, "listen-port")
		}
		if err == nil {
			return nil
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("wireguard-go did not come up: %w", err)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// uapiListening reports (as a nil error) whether name's UAPI socket is in
// the listening state in the namespace's /proc/net/unix (flag 00010000).
func (d *Dataplane) uapiListening(ctx context.Context, name string) error {
	out, err := d.r.Run(ctx, "cat", "/proc/net/unix")
	if err != nil {
		return err
	}
	for line := range strings.SplitSeq(string(out), "\n") {
		f := strings.Fields(line)
		if len(f) >= 8 && f[3] == "00010000" && strings.HasSuffix(f[7], "/wireguard/"+name+".sock") {
			return nil
		}
	}
	return fmt.Errorf("the UAPI socket of %s does not listen yet", name)
}

// applyAddrs adds missing addresses and removes those that went away:
// on links Apply created, every address but IPv6 link-local ones; on
// other links, only addresses Apply added itself.
func (d *Dataplane) applyAddrs(ctx context.Context, want []addrKey) error {
	var errs []error
	have, owned, err := d.addrs(ctx)
	if err != nil {
		return err
	}
	for k := range have {
		if slices.Contains(want, k) || (!owned[k.dev] && !d.added[k]) {
			continue
		}
		if err := d.run(ctx, "ip", addrArgs("del", k)...); err != nil {
			errs = append(errs, err)
			continue
		}
		delete(d.added, k)
	}
	for k := range d.added {
		if !have[k] {
			delete(d.added, k) // gone with its link, or removed by hand
		}
	}
	for _, k := range want {
		if have[k] {
			continue
		}
		args := addrArgs("add", k)
		if k.addr.Addr().Is6() {
			args = append(args, "nodad") // usable at once, as on a router
		}
		if err := d.run(ctx, "ip", args...); err != nil {
			errs = append(errs, err)
			continue
		}
		if !owned[k.dev] {
			d.added[k] = true
		}
	}
	return errors.Join(errs...)
}

// addrArgs are the `ip` arguments that add or delete an address; a
// point-to-point address names its peer both times.
func addrArgs(verb string, k addrKey) []string {
	if k.peer.IsValid() {
		return []string{"addr", verb, k.addr.Addr().String(), "peer", netip.PrefixFrom(k.peer, k.addr.Bits()).String(), "dev", k.dev}
	}
	return []string{"addr", verb, k.addr.String(), "dev", k.dev}
}

// Peers reports every WireGuard peer in the namespace (`wg show all dump`).
func (d *Dataplane) Peers() (map[rossim.DataplanePeerKey]rossim.DataplanePeerStats, error) {
	if d.closed.Load() {
		return nil, errClosed
	}
	ctx, cancel := context.WithTimeout(d.ctx, 10*time.Second)
	defer cancel()
	out, err := d.r.Run(ctx, "wg", "show", "all", "dump")
	if err != nil {
		return nil, err
	}
	return parseDumpAll(out)
}

// Ping runs `ping -c N -W 1` and parses what it printed. Unanswered probes
// are not an error, nor is a destination without a route (no replies).
func (d *Dataplane) Ping(ctx context.Context, req rossim.PingRequest) (rossim.PingResult, error) {
	if d.closed.Load() {
		return rossim.PingResult{}, errClosed
	}
	count := max(req.Count, 1)
	args := []string{"-n", "-c", strconv.Itoa(count), "-W", "1"}
	if req.Address.Is4() {
		args = append(args, "-4")
	} else {
		args = append(args, "-6")
	}
	if req.Interval > 0 {
		args = append(args, "-i", strconv.FormatFloat(req.Interval.Seconds(), 'f', 3, 64))
	}
	switch {
	case req.SrcAddress.IsValid():
		args = append(args, "-I", req.SrcAddress.String())
	case req.Interface != "":
		args = append(args, "-I", d.linkName(req.Interface))
	}
	out, err := d.r.Run(ctx, "ping", append(args, req.Address.String())...)
	if res, ok := parsePing(out); ok {
		return res, nil // ping exits 1 when probes go unanswered
	}
	if err != nil && ctx.Err() == nil && unreachable.MatchString(err.Error()) {
		return rossim.PingResult{Sent: count}, nil
	}
	if err == nil {
		err = fmt.Errorf("unexpected output %q", out)
	}
	return rossim.PingResult{}, fmt.Errorf("linuxdp: ping %s: %w", req.Address, err)
}

var unreachable = regexp.MustCompile(`Network is unreachable|No route to host`)

// Close stops every wireguard-go, deletes the links Apply created, its
// routes and the addresses it added. It is idempotent.
func (d *Dataplane) Close() error {
	if d.closed.Swap(true) {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	defer d.cancel()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	var errs []error
	for name, p := range d.procs {
		if err := p.Stop(); err != nil {
			errs = append(errs, err)
		}
		delete(d.procs, name)
	}
	for _, fam := range []string{"-4", "-6"} {
		if err := d.run(ctx, "ip", fam, "route", "flush", "proto", strconv.Itoa(RouteProto), "table", "all"); err != nil {
			errs = append(errs, err)
		}
	}
	if err := d.deleteRules(ctx); err != nil {
		errs = append(errs, err)
	}
	if err := d.loadNFT(ctx, ""); err != nil {
		errs = append(errs, err)
	}
	for k := range d.added {
		if err := d.run(ctx, "ip", addrArgs("del", k)...); err != nil {
			errs = append(errs, err)
		}
	}
	clear(d.added)
	links, err := d.links(ctx)
	if err != nil {
		errs = append(errs, err)
	}
	for name, l := range links {
		if l.Alias == ownerAlias {
			if err := d.run(ctx, "ip", "link", "del", "dev", name); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

func (d *Dataplane) run(ctx context.Context, name string, args ...string) error {
	_, err := d.r.Run(ctx, name, args...)
	return err
}

// ipLink is what `ip -j -d link show` says about a link.
type ipLink struct {
	Name  string   `json:"ifname"`
	Alias string   `json:"ifalias"`
	MTU   int      `json:"mtu"`
	Flags []string `json:"flags"`
	Info  struct {
		Kind string `json:"info_kind"`
	} `json:"linkinfo"`
}

func (l ipLink) up() bool { return slices.Contains(l.Flags, "UP") }

func (d *Dataplane) links(ctx context.Context) (map[string]ipLink, error) {
	out, err := d.r.Run(ctx, "ip", "-j", "-d", "link", "show")
	if err != nil {
		return nil, err
	}
	var ls []ipLink
	if err := json.Unmarshal(out, &ls); err != nil {
		return nil, fmt.Errorf("linuxdp: ip link: %w", err)
	}
	m := map[string]ipLink{}
	for _, l := range ls {
		m[l.Name] = l
	}
	return m, nil
}

// addrs lists the global addresses of every link, and which links Apply
// owns.
func (d *Dataplane) addrs(ctx context.Context) (map[addrKey]bool, map[string]bool, error) {
	out, err := d.r.Run(ctx, "ip", "-j", "addr", "show")
	if err != nil {
		return nil, nil, err
	}
	have, owned, err := parseAddrs(out)
	if err != nil {
		return nil, nil, err
	}
	// ip addr show has no alias: ask ip link.
	links, err := d.links(ctx)
	if err != nil {
		return nil, nil, err
	}
	for name := range owned {
		owned[name] = links[name].Alias == ownerAlias || d.procs[name] != nil
	}
	return have, owned, nil
}

type ipRoute struct {
	key routeKey
}

// routes lists the routes Apply installed (protocol RouteProto).
func (d *Dataplane) routes(ctx context.Context, fam string) ([]ipRoute, error) {
	out, err := d.r.Run(ctx, "ip", "-j", fam, "route", "show", "proto", strconv.Itoa(RouteProto), "table", "all")
	if err != nil {
		return nil, err
	}
	return parseRoutes(out, fam == "-6")
}
