package rossim

import (
	"fmt"
	"maps"
	"net"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/tether-net/tether/test/rosschema"
)

// Config configures a simulated router.
type Config struct {
	// Version is the RouterOS version whose command tree is enforced
	// (one of rosschema.Versions()); default "7.22.3".
	Version string
	// User and Password are the login the router starts with (a /user
	// row); default admin/"". Users added through /user log in as well.
	User, Password string
	// Group is User's group: "full" (default), "read", "write", or a new
	// group created with GroupPolicy (e.g. "api,read,write,test", the
	// least-privilege group of docs/routeros.md). Commands the group's
	// policies do not allow are refused as on RouterOS.
	Group, GroupPolicy string
	// Clock drives handshakes, sessions, uptimes and the scheduler;
	// default the wall clock. Use a *ManualClock with Advance in tests.
	Clock Clock
	// Bare starts with empty menus instead of the RouterOS 7 defconf.
	Bare bool
	// World is the far side of the router's tunnels (see World).
	World World
	// Faults injects failures (see Faults).
	Faults Faults
	// Fabric, if set, connects this router to the other simulated routers
	// on it: WireGuard peers and BGP sessions between them follow both
	// ends' configuration, and announcements follow the exporting
	// router's filters (see Fabric).
	Fabric *Fabric
	// Dataplane, if set, realises the configuration in a real network stack
	// and answers WireGuard peer state and pings from it (see Dataplane);
	// nil: the world model alone answers.
	Dataplane Dataplane
	// Logf receives diagnostics (rejected scripts, unknown filter rules);
	// default discards.
	Logf func(format string, args ...any)
}

// Stats counts API traffic, for tests and benchmarks.
type Stats struct {
	Connections int64 // accepted TCP connections
	Commands    int64 // sentences received after login (incl. failed ones)
	Writes      int64 // successful state changes (add/set/unset/remove/move/enable/disable/comment/run), incl. those made by scripts
	Traps       int64 // !trap replies sent
}

// Sim is a simulated RouterOS router. All methods are safe for concurrent use.
type Sim struct {
	cfg      Config
	tree     *rosschema.Tree
	enumTree *rosschema.Tree // 7.22.3: the only tree with value enumerations
	clock    Clock
	boot     time.Time
	logf     func(string, ...any)

	mu        sync.Mutex
	tables    map[string]*table
	world     World
	faults    Faults
	wg        map[uint64]*peerState // by /interface/wireguard/peers id
	bgp       map[uint64]*sessState // by /routing/bgp/connection id
	sched     map[uint64]time.Time  // scheduler id -> last time it was considered
	runs      []ScriptRun
	global    int64 // commands counted for Faults.DropAfterGlobal
	depth     int   // nesting of running scripts
	trapHits  map[int]int
	passwords map[string]string // by user name; never printed
	nActive   int               // /user/active sessions so far
	dp        dpState           // used only when cfg.Dataplane is set

	netMu   sync.Mutex
	ln      net.Listener
	conns   map[net.Conn]struct{}
	serving sync.WaitGroup
	closed  bool

	nConns, nCmds, nWrites, nTraps atomic.Int64
}

// New builds a simulator in its start state (defconf unless cfg.Bare).
func New(cfg Config) (*Sim, error) {
	if cfg.Version == "" {
		cfg.Version = "7.22.3"
	}
	if cfg.User == "" {
		cfg.User = "admin"
	}
	if cfg.Group == "" {
		cfg.Group = "full"
	}
	if cfg.Clock == nil {
		cfg.Clock = RealClock{}
	}
	tree, err := rosschema.Load(cfg.Version)
	if err != nil {
		return nil, fmt.Errorf("rossim: %w", err)
	}
	s := &Sim{
		cfg:       cfg,
		tree:      tree,
		enumTree:  rosschema.MustLoad("7.22.3"),
		clock:     cfg.Clock,
		boot:      cfg.Clock.Now(),
		logf:      cfg.Logf,
		tables:    map[string]*table{},
		world:     cfg.World,
		faults:    cfg.Faults,
		wg:        map[uint64]*peerState{},
		bgp:       map[uint64]*sessState{},
		sched:     map[uint64]time.Time{},
		trapHits:  map[int]int{},
		passwords: map[string]string{},
		conns:     map[net.Conn]struct{}{},
	}
	if s.logf == nil {
		s.logf = func(string, ...any) {}
	}
	s.initDataplane()
	s.initState(!cfg.Bare)
	if err := s.initUsers(); err != nil {
		return nil, err
	}
	s.mu.Lock()
	s.refresh(s.clock.Now())
	s.mu.Unlock()
	return s, nil
}

// Version returns the simulated RouterOS version.
func (s *Sim) Version() string { return s.cfg.Version }

// Stats returns the traffic counters.
func (s *Sim) Stats() Stats {
	return Stats{Connections: s.nConns.Load(), Commands: s.nCmds.Load(), Writes: s.nWrites.Load(), Traps: s.nTraps.Load()}
}

// ResetStats zeroes the traffic counters.
func (s *Sim) ResetStats() {
	s.nConns.Store(0)
	s.nCmds.Store(0)
	s.nWrites.Store(0)
	s.nTraps.Store(0)
}

// SetWorld replaces the world model; derived state follows on the next refresh.
func (s *Sim) SetWorld(w World) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.world = w
	s.refresh(s.clock.Now())
}

// SetFaults replaces the fault injection settings and resets their counters.
func (s *Sim) SetFaults(f Faults) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.faults = f
	s.global = 0
	s.trapHits = map[int]int{}
}

// Advance moves a *ManualClock forward by d in one-second steps (so that
// schedulers and handshakes fire at the right simulated moments), then
// refreshes derived state. It panics if the clock is not a *ManualClock.
func (s *Sim) Advance(d time.Duration) {
	mc, ok := s.clock.(*ManualClock)
	if !ok {
		panic("rossim: Advance needs a *ManualClock")
	}
	for d > 0 {
		step := min(d, time.Second)
		mc.Add(step)
		d -= step
		s.Tick()
	}
}

// Tick runs due schedulers and refreshes world-derived state at the clock's
// current time. The standalone binary calls it every second.
func (s *Sim) Tick() {
	s.mu.Lock()
	defer s.mu.Unlock()
	now := s.clock.Now()
	s.refresh(now)
	s.runScheduler(now)
	s.refresh(now)
}

// Exec runs one API command in-process, as if sent over a connection after
// login: words are the sentence ("/ip/address/print", "=.proplist=address",
// "?interface=bridge"). It returns the !re rows and the !done attributes,
// or a *Trap. Exec runs with every policy, as Config.User; it is not
// subject to Faults and not counted in Stats.Commands (its writes do count
// in Stats.Writes).
func (s *Sim) Exec(words ...string) ([]map[string]string, map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	rep, trap := s.exec(words, session{user: s.cfg.User, pol: allPolicies})
	if trap != nil {
		return nil, nil, trap
	}
	return rep.re, rep.done, nil
}

type reply struct {
	re   []map[string]string
	done map[string]string
}

type command struct {
	menu, verb  string
	args        []pair
	proplist    []string
	hasProplist bool
	queries     []string
}

type pair struct{ k, v string }

func (c *command) arg(k string) (string, bool) {
	for _, p := range c.args {
		if p.k == k {
			return p.v, true
		}
	}
	return "", false
}

func parseCommand(words []string) (*command, *Trap) {
	if len(words) == 0 || !strings.HasPrefix(words[0], "/") {
		return nil, trapf(0, "no such command")
	}
	path := strings.TrimRight(words[0], "/")
	i := strings.LastIndex(path, "/")
	c := &command{menu: path[:i], verb: path[i+1:]}
	if c.menu == "" {
		c.menu = "/"
	}
	for _, w := range words[1:] {
		switch {
		case strings.HasPrefix(w, ".tag="):
		case strings.HasPrefix(w, "?"):
			c.queries = append(c.queries, w)
		case strings.HasPrefix(w, "=.proplist="):
			c.hasProplist = true
			if v := strings.TrimPrefix(w, "=.proplist="); v != "" {
				c.proplist = strings.Split(v, ",")
			}
		case strings.HasPrefix(w, "="):
			k, v, _ := strings.Cut(w[1:], "=")
			c.args = append(c.args, pair{k, v})
		case strings.HasPrefix(w, ".proplist="):
			c.hasProplist = true
			if v := strings.TrimPrefix(w, ".proplist="); v != "" {
				c.proplist = strings.Split(v, ",")
			}
		default:
			return nil, trapf(5, "unknown word %q", w)
		}
	}
	return c, nil
}

// exec runs one command for who with s.mu held.
func (s *Sim) exec(words []string, who session) (reply, *Trap) {
	now := s.clock.Now()
	s.refresh(now)
	c, trap := parseCommand(words)
	if trap != nil {
		return reply{}, trap
	}
	rep, trap := s.dispatch(c, who)
	s.refresh(s.clock.Now()) // a dataplane ping releases s.mu for seconds
	return rep, trap
}

var writeVerbs = []string{"add", "set", "unset", "remove", "move", "enable", "disable", "comment", "run"}

func (s *Sim) dispatch(c *command, who session) (reply, *Trap) {
	verb := c.verb
	if verb == "getall" {
		verb = "print" // the API's old name for print
	}
	if (c.menu == "/" || c.menu == "/tool") && verb == "ping" {
		if !s.tree.HasCommand(c.menu, "ping") {
			return reply{}, trapf(0, "no such command prefix")
		}
		if !who.pol.has(pTest) {
			return reply{}, errPermission()
		}
		return s.ping(c)
	}
	if c.menu != "/" && !s.tree.HasMenu(c.menu) {
		return reply{}, s.noSuchMenu(c.menu)
	}
	if !s.tree.HasCommand(c.menu, verb) {
		return reply{}, trapf(0, "no such command")
	}
	for _, a := range c.args {
		k := a.k
		if verb == "set" {
			k = strings.TrimPrefix(k, "!") // =!name= clears name
		}
		if !s.tree.HasArg(c.menu, verb, k) {
			return reply{}, trapf(1, "unknown parameter %s", a.k)
		}
	}
	if trap := s.authorize(c, verb, who); trap != nil {
		return reply{}, trap
	}
	var rep reply
	var trap *Trap
	switch verb {
	case "print":
		rep, trap = s.print(c)
	case "get":
		rep, trap = s.get(c)
	case "add":
		rep, trap = s.add(c, who)
	case "set":
		trap = s.set(c)
	case "unset":
		trap = s.unset(c)
	case "remove":
		trap = s.removeCmd(c)
	case "move":
		trap = s.moveCmd(c)
	case "enable", "disable":
		trap = s.setAttrs(c, map[string]string{"disabled": strconv.FormatBool(verb == "disable")})
	case "comment":
		v, _ := c.arg("comment")
		trap = s.setAttrs(c, map[string]string{"comment": v})
	case "run":
		trap = s.runCmd(c, who)
	default:
		s.logf("rossim: %s/%s exists in RouterOS %s but is not simulated", c.menu, verb, s.cfg.Version)
		return reply{}, trapf(0, "rossim: command %s/%s not simulated", c.menu, verb)
	}
	if trap == nil && slices.Contains(writeVerbs, verb) {
		s.nWrites.Add(1)
	}
	return rep, trap
}

// noSuchMenu is RouterOS 7's answer to a command in an unknown menu: two
// traps, the first naming the first unknown path segment.
func (s *Sim) noSuchMenu(menu string) *Trap {
	t := trapf(0, "no such command prefix")
	prefix := ""
	for _, seg := range strings.Split(strings.Trim(menu, "/"), "/") {
		prefix += "/" + seg
		if !s.tree.HasMenu(prefix) {
			t.Prior = trapf(0, "no such command or directory (%s)", seg)
			break
		}
	}
	return t
}

// tableFor returns the table backing menu, creating an empty one for any
// schema menu the simulator has no start state for.
func (s *Sim) tableFor(menu string) *table {
	name := tableName(menu)
	t, ok := s.tables[name]
	if !ok {
		t = newTable()
		s.tables[name] = t
	}
	return t
}

// visible returns the rows a menu shows: typed interface menus show their
// type only.
func (s *Sim) visible(menu string) []*item {
	t := s.tableFor(menu)
	typ, isView := ifaceView(menu)
	if !isView {
		return t.items
	}
	var out []*item
	for _, it := range t.items {
		if it.attrs["type"] == typ {
			out = append(out, it)
		}
	}
	return out
}

// interfaceFields are what /interface print shows of any interface.
var interfaceFields = []string{"name", "default-name", "type", "mtu", "actual-mtu", "l2mtu", "mac-address", "running", "disabled", "dynamic", "comment", "slave"}

// row renders an item as print shows it in menu.
func (s *Sim) row(menu string, it *item) map[string]string {
	r := map[string]string{}
	switch _, isView := ifaceView(menu); {
	case menu == "/interface":
		for _, f := range interfaceFields {
			if v, ok := it.attrs[f]; ok {
				r[f] = v
			}
		}
		if _, ok := r["dynamic"]; !ok {
			r["dynamic"] = "false"
		}
	case isView:
		maps.Copy(r, it.attrs)
		delete(r, "type")
	default:
		maps.Copy(r, it.attrs)
	}
	if !specs[menu].singleton {
		r[".id"] = it.ID()
	}
	return r
}

func (s *Sim) print(c *command) (reply, *Trap) {
	q, err := compileQuery(c.queries)
	if err != nil {
		return reply{}, trapf(5, "%v", err)
	}
	if specs[c.menu].singleton {
		s.refreshSingleton(c.menu)
	}
	var rep reply
	for _, it := range s.visible(c.menu) {
		r := s.row(c.menu, it)
		if !q.match(r) {
			continue
		}
		if c.hasProplist {
			p := map[string]string{}
			for _, k := range c.proplist {
				if v, ok := r[k]; ok {
					p[k] = v
				}
			}
			r = p
		}
		rep.re = append(rep.re, r)
	}
	if v, ok := c.arg("count-only"); ok && v != "no" && v != "false" {
		rep = reply{done: map[string]string{"ret": strconv.Itoa(len(rep.re))}}
	}
	return rep, nil
}

// resolve turns a numbers/.id list ("*1,*3" or names in named menus) into
// items of the menu.
func (s *Sim) resolve(menu, list string) ([]*item, *Trap) {
	if list == "" {
		return nil, trapf(1, "missing value(s) of argument(s) numbers")
	}
	vis := s.visible(menu)
	var out []*item
	for ref := range strings.SplitSeq(list, ",") {
		var found *item
		if id, err := parseID(ref); err == nil {
			for _, it := range vis {
				if it.id == id {
					found = it
				}
			}
		} else {
			for _, it := range vis {
				if it.attrs["name"] == ref {
					found = it
				}
			}
		}
		if found == nil {
			return nil, trapf(0, "no such item")
		}
		out = append(out, found)
	}
	return out, nil
}

func (s *Sim) targets(c *command) ([]*item, *Trap) {
	if specs[c.menu].singleton {
		t := s.tableFor(c.menu)
		if len(t.items) == 0 {
			return nil, trapf(0, "no such item")
		}
		return t.items[:1], nil
	}
	if v, ok := c.arg(".id"); ok {
		return s.resolve(c.menu, v)
	}
	if v, ok := c.arg("numbers"); ok {
		return s.resolve(c.menu, v)
	}
	if v, ok := c.arg("number"); ok {
		return s.resolve(c.menu, v)
	}
	return nil, trapf(1, "missing value(s) of argument(s) numbers")
}

func (s *Sim) get(c *command) (reply, *Trap) {
	its, trap := s.targets(c)
	if trap != nil {
		return reply{}, trap
	}
	if specs[c.menu].singleton {
		s.refreshSingleton(c.menu)
	}
	r := s.row(c.menu, its[0])
	name, ok := c.arg("value-name")
	if !ok {
		return reply{re: []map[string]string{r}}, nil
	}
	v, ok := r[name]
	if !ok {
		return reply{}, trapf(1, "unknown parameter %s", name)
	}
	return reply{done: map[string]string{"ret": v}}, nil
}

// normalizeArgs validates and normalises every attribute of an add/set,
// skipping the protocol and selector words.
func (s *Sim) normalizeArgs(c *command) (map[string]string, *Trap) {
	out := map[string]string{}
	for _, a := range c.args {
		switch a.k {
		case ".id", "numbers", "number", "place-before", "copy-from", ".tag":
			continue
		case "password":
			if c.menu == "/user" {
				continue // kept apart, never printed
			}
		}
		if strings.HasPrefix(a.k, "!") {
			continue // cleared by set
		}
		v, trap := s.normalize(c.menu, a.k, a.v)
		if trap != nil {
			return nil, trap
		}
		out[a.k] = v
	}
	return out, nil
}

func (s *Sim) add(c *command, who session) (reply, *Trap) {
	spec := specs[c.menu]
	attrs, trap := s.normalizeArgs(c)
	if trap != nil {
		return reply{}, trap
	}
	t := s.tableFor(c.menu)
	var before uint64
	if pb, ok := c.arg("place-before"); ok {
		its, trap := s.resolve(c.menu, pb)
		if trap != nil {
			return reply{}, trap
		}
		before = its[0].id
	}
	var missing []string
	for _, r := range spec.required {
		if _, ok := attrs[r]; !ok {
			missing = append(missing, r)
		}
	}
	// Before /routing/bgp/instance (7.18) the connection carries the local AS.
	if c.menu == "/routing/bgp/connection" && !s.tree.HasMenu("/routing/bgp/instance") {
		if _, ok := attrs["as"]; !ok {
			missing = append(missing, "as")
		}
	}
	if len(missing) > 0 {
		return reply{}, trapf(1, "missing value(s) of argument(s) %s", strings.Join(missing, ", "))
	}
	id := t.alloc()
	if _, ok := attrs["name"]; !ok && spec.autoName != "" && s.tree.HasArg(c.menu, "add", "name") {
		attrs["name"] = s.autoName(c.menu, spec.autoName)
	}
	if spec.uniqueName {
		if trap := s.checkUnique(c.menu, attrs["name"], 0); trap != nil {
			return reply{}, trap
		}
	}
	s.addUserDefaults(c.menu, attrs, who)
	for k, v := range spec.defaults {
		if _, ok := attrs[k]; !ok && s.attrKnown(c.menu, k) {
			attrs[k] = v
		}
	}
	it := &item{id: id, attrs: attrs}
	if trap := s.onAdd(c.menu, it); trap != nil {
		return reply{}, trap
	}
	if trap := s.checkDuplicate(c.menu, it); trap != nil {
		return reply{}, trap
	}
	if pw, ok := c.arg("password"); ok && c.menu == "/user" {
		s.passwords[attrs["name"]] = pw
	}
	t.insertBefore(it, before)
	return reply{done: map[string]string{"ret": it.ID()}}, nil
}

// checkDuplicate refuses an item equal to another in the identity the
// router enforces: an address on the same interface, an address-list entry
// in the same list.
func (s *Sim) checkDuplicate(menu string, it *item) *Trap {
	var key []string
	var msg string
	switch menu {
	case "/ip/address", "/ipv6/address":
		key, msg = []string{"address", "interface"}, "failure: already have such address"
	case "/ip/firewall/address-list", "/ipv6/firewall/address-list":
		key, msg = []string{"list", "address"}, "failure: already have such entry"
	default:
		return nil
	}
	for _, o := range s.tableFor(menu).items {
		if o.id == it.id {
			continue
		}
		same := true
		for _, k := range key {
			same = same && o.attrs[k] == it.attrs[k]
		}
		if same {
			return trapf(4, "%s", msg)
		}
	}
	return nil
}

func (s *Sim) autoName(menu, prefix string) string {
	for n := 1; ; n++ {
		name := prefix + strconv.Itoa(n)
		if s.findByName(tableName(menu), name) == nil {
			return name
		}
	}
}

func (s *Sim) checkUnique(menu, name string, self uint64) *Trap {
	if it := s.findByName(tableName(menu), name); it != nil && it.id != self {
		if tableName(menu) == "/interface" {
			return trapf(4, "failure: already have interface with such name")
		}
		return trapf(4, "failure: item with such name already exists")
	}
	return nil
}

func (s *Sim) findByName(menu, name string) *item {
	t, ok := s.tables[tableName(menu)]
	if !ok {
		return nil
	}
	for _, it := range t.items {
		if it.attrs["name"] == name {
			return it
		}
	}
	return nil
}

// onAdd fills what a router computes when an item is created.
func (s *Sim) onAdd(menu string, it *item) *Trap {
	a := it.attrs
	if typ, ok := ifaceView(menu); ok {
		a["type"] = typ
	}
	switch menu {
	case "/interface/wireguard":
		if a["private-key"] == "" || a["private-key"] == "auto" {
			a["private-key"] = genPrivateKey(s.cfg.Version, a["name"], it.id)
		}
		pub, err := publicKey(a["private-key"])
		if err != nil {
			return badValue("private-key")
		}
		a["public-key"] = pub
		if _, ok := a["listen-port"]; !ok {
			a["listen-port"] = s.freeListenPort()
		}
	case "/ip/address", "/ipv6/address":
		s.fillAddress(it)
	case "/routing/filter/rule":
		return checkFilterRule(a["rule"])
	case "/system/scheduler":
		if _, ok := a["start-date"]; !ok {
			a["start-date"] = s.clock.Now().Format("2006-01-02")
		}
		if _, ok := a["start-time"]; !ok {
			a["start-time"] = s.clock.Now().Format("15:04:05")
		}
		// Runs are due only after the moment the job was created.
		s.sched[it.id] = s.clock.Now()
	}
	return nil
}

func (s *Sim) fillAddress(it *item) {
	p, ok := parseAddrPrefix(it.attrs["address"], 0)
	if !ok {
		return
	}
	// RouterOS derives network= from the address unless it was given
	// (point-to-point addresses such as 10.8.0.2/32 network=10.8.1.1).
	if p.Addr().Is4() && it.attrs["network"] == "" {
		it.attrs["network"] = p.Masked().Addr().String()
	}
	it.attrs["actual-interface"] = it.attrs["interface"]
}

// freeListenPort mimics RouterOS: 13231 for the first WireGuard interface,
// the next free port after it for later ones.
func (s *Sim) freeListenPort() string {
	used := map[string]bool{}
	for _, it := range s.tableFor("/interface").items {
		if it.attrs["type"] == "wg" {
			used[it.attrs["listen-port"]] = true
		}
	}
	for p := 13231; ; p++ {
		if !used[strconv.Itoa(p)] {
			return strconv.Itoa(p)
		}
	}
}

func (s *Sim) set(c *command) *Trap {
	attrs, trap := s.normalizeArgs(c)
	if trap != nil {
		return trap
	}
	if trap := s.setAttrs(c, attrs); trap != nil {
		return trap
	}
	its, _ := s.targets(c)
	for _, it := range its {
		for _, a := range c.args {
			if k, ok := strings.CutPrefix(a.k, "!"); ok {
				delete(it.attrs, k)
			}
		}
		if pw, ok := c.arg("password"); ok && c.menu == "/user" {
			s.passwords[it.attrs["name"]] = pw
		}
	}
	return nil
}

func (s *Sim) setAttrs(c *command, attrs map[string]string) *Trap {
	its, trap := s.targets(c)
	if trap != nil {
		return trap
	}
	if rule, ok := attrs["rule"]; ok && c.menu == "/routing/filter/rule" {
		if trap := checkFilterRule(rule); trap != nil {
			return trap
		}
	}
	for _, it := range its {
		if it.derived != "" || it.attrs["dynamic"] == "true" {
			return trapf(4, "failure: can not change dynamic")
		}
		if name, ok := attrs["name"]; ok && specs[c.menu].uniqueName {
			if trap := s.checkUnique(c.menu, name, it.id); trap != nil {
				return trap
			}
		}
		after := maps.Clone(it.attrs)
		maps.Copy(after, attrs)
		if trap := s.checkDuplicate(c.menu, &item{id: it.id, attrs: after}); trap != nil {
			return trap
		}
	}
	for _, it := range its {
		if c.menu == "/interface/wireguard" {
			if pk, ok := attrs["private-key"]; ok {
				if pk == "auto" {
					attrs["private-key"] = genPrivateKey(s.cfg.Version, it.attrs["name"], it.id+1<<32)
				}
				pub, err := publicKey(attrs["private-key"])
				if err != nil {
					return badValue("private-key")
				}
				attrs["public-key"] = pub
			}
		}
		if name, ok := attrs["name"]; ok && it.attrs["name"] != name && tableName(c.menu) == "/interface" {
			s.renameInterface(it.attrs["name"], name)
		}
		maps.Copy(it.attrs, attrs)
		if c.menu == "/ip/address" || c.menu == "/ipv6/address" {
			s.fillAddress(it)
		}
		if c.menu == "/system/scheduler" {
			s.sched[it.id] = s.clock.Now() // a changed schedule is re-evaluated from now
		}
	}
	return nil
}

func (s *Sim) unset(c *command) *Trap {
	name, ok := c.arg("value-name")
	if !ok {
		return trapf(1, "missing value(s) of argument(s) value-name")
	}
	if !s.tree.HasArg(c.menu, "set", name) {
		return trapf(1, "unknown parameter %s", name)
	}
	its, trap := s.targets(c)
	if trap != nil {
		return trap
	}
	for _, it := range its {
		if it.derived != "" {
			return trapf(4, "failure: can not change dynamic")
		}
		if def, ok := specs[c.menu].defaults[name]; ok {
			it.attrs[name] = def
		} else {
			delete(it.attrs, name)
		}
	}
	return nil
}

func (s *Sim) removeCmd(c *command) *Trap {
	its, trap := s.targets(c)
	if trap != nil {
		return trap
	}
	for _, it := range its {
		switch {
		case it.derived != "" || it.attrs["dynamic"] == "true":
			return trapf(4, "failure: can not remove dynamic item")
		case it.attrs["builtin"] == "true" || it.attrs["type"] == "ether" || c.menu == "/user/group" && isBuiltinGroup(it.attrs["name"]):
			return trapf(4, "failure: can not remove builtin item")
		}
	}
	t := s.tableFor(c.menu)
	for _, it := range its {
		t.remove(it.id)
		if c.menu == "/user" {
			delete(s.passwords, it.attrs["name"])
		}
		if c.menu == "/system/scheduler" {
			delete(s.sched, it.id)
		}
	}
	return nil
}

func (s *Sim) moveCmd(c *command) *Trap {
	its, trap := s.targets(c)
	if trap != nil {
		return trap
	}
	var dest uint64
	if d, ok := c.arg("destination"); ok && d != "" {
		ds, trap := s.resolve(c.menu, d)
		if trap != nil {
			return trap
		}
		dest = ds[0].id
	}
	ids := make([]uint64, len(its))
	for i, it := range its {
		ids[i] = it.id
	}
	s.tableFor(c.menu).move(ids, dest)
	return nil
}

func (s *Sim) runCmd(c *command, who session) *Trap {
	if c.menu != "/system/script" {
		return trapf(0, "rossim: run is simulated for /system/script only")
	}
	its, trap := s.targets(c)
	if trap != nil {
		return trap
	}
	return s.runScript(its[0], "api", who)
}

// ifaceRefAttrs are attributes that name an interface. A router stores
// references by id, so renaming an interface shows up in every referrer.
var ifaceRefAttrs = []string{"interface", "in-interface", "out-interface", "bridge", "gateway", "actual-interface"}

func (s *Sim) renameInterface(from, to string) {
	for _, t := range s.tables {
		for _, it := range t.items {
			for _, k := range ifaceRefAttrs {
				switch v := it.attrs[k]; v {
				case from:
					it.attrs[k] = to
				case "!" + from:
					it.attrs[k] = "!" + to
				}
			}
		}
	}
}

// attrKnown reports whether a default attribute belongs in this version's
// print: either the version can set it, or it is read-only everywhere
// (dynamic, rx, run-count, …). It hides settable attributes that only newer
// versions have.
func (s *Sim) attrKnown(menu, attr string) bool {
	if s.tree.HasArg(menu, "add", attr) || s.tree.HasArg(menu, "set", attr) {
		return true
	}
	return !s.enumTree.HasArg(menu, "add", attr) && !s.enumTree.HasArg(menu, "set", attr)
}
