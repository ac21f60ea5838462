package mikrotik

import (
	"context"
	"crypto/sha256"
	"crypto/tls"
	"fmt"
	"net"
	"slices"
	"strings"
	"time"

	"go.uber.org/zap"

	"github.com/tether-net/tether/agent/contract"
	"github.com/tether-net/tether/policy"
)

// DoctorOptions configure Doctor.
type DoctorOptions struct {
	Logger *zap.Logger
	Now    func() time.Time // the companion's clock; default time.Now
	// Capture, when set, records the sentences of the read-only checks.
	Capture *Capture
	// MaxSkew is how far the router's clock may be from the companion's;
	// default 5 minutes.
	MaxSkew time.Duration
	// ConfigFile is the agent config's path, for the fixes' command lines.
	ConfigFile string
}

// neededPolicies are the group policies the agent uses, with the reason a
// doctor prints when one is missing.
var neededPolicies = []struct{ name, why string }{
	{"api", "log in over the API (api-ssl) at all"},
	{"read", "read the menus it plans against, the clock, WireGuard handshakes and BGP sessions"},
	{"write", "add, set, move and remove its items and create the dead-man script and scheduler"},
	{"test", "run /tool/ping for the gate's ping probes"},
}

// minVersion is the oldest RouterOS tether renders for.
var minVersion = [2]int{7, 18}

// Doctor runs tether doctor's RouterOS checks against the router conn
// reaches, for site of n: reach, TLS, login, version, the API user's
// policies, the router clock, a dead-man arm/run/disarm round trip,
// look-alikes and owned items the site no longer declares. A check that
// cannot run because an earlier one failed (no login, no checks) is left
// out; the failure says why. It writes nothing to the router but the
// dead-man round trip, which removes itself.
func Doctor(ctx context.Context, conn Conn, n *policy.Network, site string, o DoctorOptions) []contract.DoctorCheck {
	if o.Logger == nil {
		o.Logger = zap.NewNop()
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.MaxSkew == 0 {
		o.MaxSkew = 5 * time.Minute
	}
	var out []contract.DoctorCheck
	add := func(name string, ok bool, detail, fix string) {
		c := contract.DoctorCheck{Area: "routeros", Name: name, OK: ok, Detail: detail}
		if !ok {
			c.Fix = fix
		}
		out = append(out, c)
	}
	probe := newClient(conn, o.Logger)
	conn = probe.cfg // with defaults

	// Reach.
	dctx, cancel := context.WithTimeout(ctx, conn.Timeout)
	start := time.Now()
	nc, err := conn.Dial(dctx, "tcp", conn.Address)
	cancel()
	if err != nil {
		add("reach", false, fmt.Sprintf("cannot connect to %s: %v", conn.Address, err),
			"check routeros.address (host:port; 8729 for api-ssl), that /ip/service api-ssl is enabled on the router with address= allowing this host, and that no firewall between them drops it")
		return out
	}
	add("reach", true, fmt.Sprintf("TCP %s answered in %s", conn.Address, time.Since(start).Round(time.Millisecond)), "")

	// TLS.
	if !conn.TLS {
		nc.Close()
		add("tls", false, "plain API (tls = false): the password and every sentence cross the network in clear",
			"enable api-ssl with a certificate and set tls = true with its fingerprint in [routeros] (docs/routeros.md, \"api-ssl with a certificate\")")
	} else {
		detail, fix := checkTLS(ctx, probe, nc)
		add("tls", fix == "", detail, fix)
		if fix != "" && !conn.InsecureSkipVerify {
			return out
		}
	}

	// Login, then the read-only checks, recorded when capturing.
	if o.Capture != nil {
		conn.Tap = o.Capture.Tap
		o.Capture.Record(true)
	}
	d := New(Options{Conn: conn, Logger: o.Logger, Now: o.Now})
	defer d.Close()
	res, err := d.c.run(ctx, "/system/resource/print", "=.proplist=version,board-name,architecture-name")
	if err != nil {
		fix := "check routeros.username and password_file, that the user's address= allows this host, and that its group has the api policy"
		if isTrap(err) {
			fix = "the login worked but the router refused to print /system/resource: give the user's group the read policy"
		}
		add("login", false, err.Error(), fix)
		return out
	}
	add("login", true, fmt.Sprintf("logged in as %q", conn.Username), "")
	var row map[string]string
	if len(res.Re) > 0 {
		row = res.Re[0]
	}
	s := n.Sites[site]
	add(checkVersion(row["version"], s.RouterOSVersion, row["board-name"]))
	add(d.checkPolicies(ctx, conn.Username))
	add(d.checkClock(ctx, o.Now(), o.MaxSkew))

	cfg, err := d.renderSite(n, site)
	var p *planner
	if err == nil {
		p, err = d.plan(ctx, cfg)
	}
	if o.Capture != nil {
		o.Capture.Record(false)
	}
	if err != nil {
		add("look-alikes", false, "cannot plan the site: "+err.Error(), "fix the error above; plan needs read on every menu tether manages")
	} else {
		add(lookalikeCheck(p, o.ConfigFile))
		add(staleCheck(p))
	}

	add(d.checkDeadman(ctx))
	return out
}

// checkTLS handshakes on nc with the agent's own verification and says
// what the router's certificate is.
func checkTLS(ctx context.Context, c *client, nc net.Conn) (detail, fix string) {
	defer nc.Close()
	tc, err := c.tlsConfig()
	if err != nil {
		return err.Error(), "fix routeros.fingerprint or ca_file in the agent config"
	}
	// Handshake with the agent's settings, and read the leaf's
	// fingerprint whatever the verification says, to print it.
	var seen string
	verify := tc.VerifyConnection
	tc.VerifyConnection = func(cs tls.ConnectionState) error {
		if len(cs.PeerCertificates) > 0 {
			sum := sha256.Sum256(cs.PeerCertificates[0].Raw)
			seen = fmt.Sprintf("%X", sum[:])
		}
		if verify != nil {
			return verify(cs)
		}
		return nil
	}
	dctx, cancel := context.WithTimeout(ctx, c.cfg.Timeout)
	defer cancel()
	tconn := tls.Client(nc, tc)
	defer tconn.Close()
	if err := tconn.HandshakeContext(dctx); err != nil {
		detail = "TLS handshake failed: " + err.Error()
		switch {
		case seen != "" && c.cfg.Fingerprint != "":
			return detail, "the router's certificate is " + colons(seen) + ": if you just replaced it, pin the new one (fingerprint = in [routeros]); otherwise something else answers at this address"
		case seen != "":
			return detail, "the certificate is not signed by ca_file for this name; pin it instead: fingerprint = \"" + colons(seen) + "\""
		}
		return detail, "check that port " + portOf(c.cfg.Address) + " is api-ssl (8729) with a certificate set (/ip/service set api-ssl certificate=…)"
	}
	switch {
	case c.cfg.Fingerprint != "":
		return "certificate matches the pinned fingerprint " + colons(seen), ""
	case c.cfg.CAFile != "":
		return "certificate verified against " + c.cfg.CAFile, ""
	}
	return "certificate NOT verified (insecure_skip_verify); it is " + colons(seen),
		"pin it: fingerprint = \"" + colons(seen) + "\" in [routeros], and drop insecure_skip_verify"
}

func colons(hexs string) string {
	var parts []string
	for i := 0; i+2 <= len(hexs); i += 2 {
		parts = append(parts, hexs[i:i+2])
	}
	return strings.Join(parts, ":")
}

func portOf(addr string) string {
	if _, p, err := net.SplitHostPort(addr); err == nil {
		return p
	}
	return addr
}

// checkVersion: RouterOS 7.18 or newer, and the BGP shape the site is
// rendered for (routeros_version) is the one the router speaks.
func checkVersion(running, declared, board string) (string, bool, string, string) {
	v, _, _ := strings.Cut(running, " ")
	maj, mnr, _, ok := policy.ParseRouterOSVersion(v)
	if !ok {
		return "version", false, fmt.Sprintf("cannot read the RouterOS version from %q", running), "report this with a --capture transcript"
	}
	on := running
	if board != "" {
		on += " on " + board
	}
	if maj != minVersion[0] || mnr < minVersion[1] {
		return "version", false, "RouterOS " + on + " is not supported",
			fmt.Sprintf("upgrade to RouterOS %d.%d or newer (tether renders RouterOS 7 only)", minVersion[0], minVersion[1])
	}
	dmaj, dmnr, _, _ := policy.ParseRouterOSVersion(declared)
	if (mnr >= 20) != (dmnr >= 20) || dmaj != maj {
		return "version", false, fmt.Sprintf("RouterOS %s, but the site declares routeros_version = %q: BGP is rendered for 7.18/7.19 and 7.20+ differently", on, declared),
			fmt.Sprintf("set routeros_version = %q in the site file", v)
	}
	detail := "RouterOS " + on
	if v != declared {
		detail += fmt.Sprintf(" (site declares %s: same rendering)", declared)
	}
	return "version", true, detail, ""
}

// checkPolicies reads the API user's group and names the policies the agent
// needs that it lacks.
func (d *Device) checkPolicies(ctx context.Context, user string) (string, bool, string, string) {
	const name = "policies"
	rep, err := d.c.run(ctx, "/user/print", "=.proplist=name,group", "?name="+user)
	if err != nil || len(rep.Re) == 0 {
		why := "no such user"
		if err != nil {
			why = err.Error()
		}
		return name, false, fmt.Sprintf("cannot read user %q: %s", user, why), "give the user's group the read policy (it lists users and groups)"
	}
	group := rep.Re[0]["group"]
	rep, err = d.c.run(ctx, "/user/group/print", "=.proplist=name,policy", "?name="+group)
	if err != nil || len(rep.Re) == 0 {
		why := "no such group"
		if err != nil {
			why = err.Error()
		}
		return name, false, fmt.Sprintf("cannot read group %q of user %q: %s", group, user, why), "give the user's group the read policy"
	}
	have := map[string]bool{}
	var extra []string
	for _, p := range strings.Split(rep.Re[0]["policy"], ",") {
		p = strings.TrimSpace(p)
		if p == "" || strings.HasPrefix(p, "!") {
			continue
		}
		have[p] = true
		if !slices.ContainsFunc(neededPolicies, func(n struct{ name, why string }) bool { return n.name == p }) {
			extra = append(extra, p)
		}
	}
	var missing, why []string
	for _, np := range neededPolicies {
		if !have[np.name] {
			missing = append(missing, np.name)
			why = append(why, np.name+": "+np.why)
		}
	}
	if len(missing) > 0 {
		return name, false, fmt.Sprintf("group %q of user %q lacks %s — tether needs %s", group, user, strings.Join(missing, ","), strings.Join(why, "; ")),
			fmt.Sprintf("/user group set %s policy=%s (add %s)", group, strings.Join(withAll(have, missing), ","), strings.Join(missing, ","))
	}
	detail := fmt.Sprintf("group %q of user %q has api,read,write,test", group, user)
	if len(extra) > 0 {
		detail += fmt.Sprintf("; it also grants %s, which tether does not need (docs/routeros.md has a least-privilege group)", strings.Join(extra, ","))
	}
	return name, true, detail, ""
}

// withAll is the granted policies plus the missing ones, in a stable order.
func withAll(have map[string]bool, missing []string) []string {
	var out []string
	for p := range have {
		out = append(out, p)
	}
	out = append(out, missing...)
	slices.Sort(out)
	return out
}

// checkClock compares the router's clock, converted to UTC with its
// gmt-offset, to the companion's. The dead-man is armed in the router's
// own clock, so skew alone does no harm; a clock that is far off (no NTP,
// a router without a battery back at 1970) jumps when it syncs, and a
// jump fires or delays an armed dead-man.
func (d *Device) checkClock(ctx context.Context, now time.Time, maxSkew time.Duration) (string, bool, string, string) {
	const name = "clock"
	rep, err := d.c.run(ctx, "/system/clock/print", "=.proplist=time,date,gmt-offset,time-zone-name")
	if err != nil || len(rep.Re) == 0 {
		return name, false, fmt.Sprintf("cannot read /system/clock: %v", err), "give the user's group the read policy"
	}
	r := rep.Re[0]
	local, err := parseRouterClock(r["date"], r["time"])
	if err != nil {
		return name, false, err.Error(), "report this with a --capture transcript"
	}
	fix := "set the router's clock from NTP: /system ntp client set enabled=yes servers=pool.ntp.org (and check /system clock time-zone-name)"
	off, ok := parseOffset(r["gmt-offset"])
	if !ok {
		// Without an offset the zone is unknown: only a clock that is off
		// by more than any time zone is certainly wrong.
		skew := local.Sub(now.UTC())
		if skew.Abs() > 14*time.Hour+maxSkew {
			return name, false, fmt.Sprintf("router clock %s is %s from this host's", local.Format(time.DateTime), humanDuration(skew.Abs())), fix
		}
		return name, true, fmt.Sprintf("router clock %s (no gmt-offset printed: zone not checked)", local.Format(time.DateTime)), ""
	}
	skew := local.Add(-off).Sub(now.UTC())
	zone := r["time-zone-name"]
	if skew.Abs() > maxSkew {
		dir := "ahead of"
		if skew < 0 {
			dir = "behind"
		}
		return name, false, fmt.Sprintf("router clock %s %s (%s) is %s %s this host's", local.Format(time.DateTime), zone, r["gmt-offset"], humanDuration(skew.Abs()), dir), fix
	}
	return name, true, fmt.Sprintf("router clock within %s of this host's (%s, %s)", humanDuration(skew.Abs()+time.Second), zone, r["gmt-offset"]), ""
}

// parseOffset reads a gmt-offset: "+02:00", "-05:30", or seconds.
func parseOffset(s string) (time.Duration, bool) {
	if s == "" {
		return 0, false
	}
	sign := time.Duration(1)
	switch s[0] {
	case '-':
		sign, s = -1, s[1:]
	case '+':
		s = s[1:]
	}
	if h, m, ok := strings.Cut(s, ":"); ok {
		var hh, mm int
		if _, err := fmt.Sscanf(h+" "+m, "%d %d", &hh, &mm); err != nil {
			return 0, false
		}
		return sign * (time.Duration(hh)*time.Hour + time.Duration(mm)*time.Minute), true
	}
	var secs int
	if _, err := fmt.Sscanf(s, "%d", &secs); err != nil {
		return 0, false
	}
	return sign * time.Duration(secs) * time.Second, true
}

func lookalikeCheck(p *planner, cfgFile string) (string, bool, string, string) {
	if cfgFile == "" {
		cfgFile = "FILE"
	}
	if len(p.lookalikes) == 0 {
		return "look-alikes", true, "no existing item of another owner duplicates a declared one", ""
	}
	lines := make([]string, len(p.lookalikes))
	for i, l := range p.lookalikes {
		lines[i] = l.String()
	}
	return "look-alikes", false, strings.Join(lines, "\n"),
		"tether adopt --config " + cfgFile + " takes them over (comment only), or remove them from the site; apply refuses until then"
}

func staleCheck(p *planner) (string, bool, string, string) {
	var stale []string
	for _, o := range p.do {
		if o.Op == "remove" {
			stale = append(stale, o.Path+" "+o.ID+" ("+o.Ref+")")
		}
	}
	if len(stale) == 0 {
		return "owned items", true, "every item marked as tether's is declared by the site", ""
	}
	return "owned items", false, fmt.Sprintf("%d item(s) carry tether's comment but the site no longer declares them: %s", len(stale), strings.Join(stale, "; ")),
		"the next apply removes them: declare them in the site to keep them, or change their comment so they are no longer tether's"
}

// checkDeadman proves the dead-man works with this user: it arms a
// dead-man whose script holds nothing but its own removal, far from
// firing, runs the script now, and expects it to have removed its
// scheduler and itself. Whatever happens, nothing is left behind.
func (d *Device) checkDeadman(ctx context.Context) (string, bool, string, string) {
	const name = "dead-man"
	txn := "doctor-" + d.newTxnID()
	cleanup := func() { _ = d.disarm(context.WithoutCancel(ctx), txn) }
	fix := "give the user's group " + deadmanPolicy + " (a script and scheduler carry at most their creator's policies), and check /system script and /system scheduler are not restricted"
	if _, err := d.arm(ctx, txn, &undoDoc{}, d.now().Add(time.Hour)); err != nil {
		cleanup()
		return name, false, "cannot arm: " + err.Error(), fix
	}
	st, err := d.deadmanState(ctx, txn)
	if err != nil || st.schedRef == "" || st.scriptRef == "" {
		cleanup()
		return name, false, fmt.Sprintf("armed, but the scheduler and script do not read back (%v)", err), fix
	}
	rep, err := d.c.run(ctx, "/system/script/print", "=.proplist=policy", "?name="+DeadmanName(txn))
	if err == nil && len(rep.Re) > 0 {
		for _, p := range strings.Split(deadmanPolicy, ",") {
			if !slices.Contains(strings.Split(rep.Re[0]["policy"], ","), p) {
				cleanup()
				return name, false, fmt.Sprintf("the router gave the dead-man script policy %q, without %s", rep.Re[0]["policy"], p), fix
			}
		}
	}
	if _, err := d.c.run(ctx, "/system/script/run", "=.id="+st.scriptRef); err != nil {
		cleanup()
		return name, false, "armed, but running the script failed: " + err.Error(), fix
	}
	st, err = d.deadmanState(ctx, txn)
	if err != nil {
		cleanup()
		return name, false, "cannot read the dead-man back after running it: " + err.Error(), fix
	}
	if st.schedRef != "" || st.scriptRef != "" {
		cleanup()
		return name, false, "the script ran but did not remove its scheduler and itself: a fired dead-man would not finish", fix
	}
	return name, true, "armed a scheduler and script (policy " + deadmanPolicy + "), ran the script, and it removed both", ""
}
