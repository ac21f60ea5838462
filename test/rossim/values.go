package rossim

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Trap is a RouterOS `!trap`: the reply to a command the router refused.
// Category follows the API documentation: 0 missing item or command,
// 1 argument value failure, 2 execution interrupted, 3 scripting failure,
// 4 general failure, 5 API failure.
type Trap struct {
	Category int
	Message  string
	// Prior is a trap sent before this one for the same command (RouterOS
	// sometimes answers with two); Message is the last, as clients report.
	Prior *Trap
}

func (t *Trap) Error() string { return t.Message }

func trapf(cat int, format string, args ...any) *Trap {
	return &Trap{Category: cat, Message: fmt.Sprintf(format, args...)}
}

func badValue(attr string) *Trap {
	return trapf(1, "invalid value for argument %s", attr)
}

// parseBool accepts the spellings RouterOS accepts and returns the API's
// printed form ("true"/"false").
func parseBool(attr, v string) (string, *Trap) {
	switch strings.ToLower(v) {
	case "yes", "true":
		return "true", nil
	case "no", "false":
		return "false", nil
	}
	return "", trapf(1, "invalid value of %s, yes or no expected", attr)
}

// ParseDuration parses a RouterOS time interval: "25", "25s", "1m30s",
// "1d2h", "1w", "500ms", or "hh:mm:ss". A bare number means seconds.
func ParseDuration(v string) (time.Duration, error) {
	if v == "" {
		return 0, fmt.Errorf("empty duration")
	}
	if strings.Contains(v, ":") {
		parts := strings.Split(v, ":")
		if len(parts) != 3 {
			return 0, fmt.Errorf("bad duration %q", v)
		}
		var d time.Duration
		for i, unit := range []time.Duration{time.Hour, time.Minute, time.Second} {
			f, err := strconv.ParseFloat(parts[i], 64)
			if err != nil || f < 0 {
				return 0, fmt.Errorf("bad duration %q", v)
			}
			d += time.Duration(f * float64(unit))
		}
		return d, nil
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second, nil
	}
	var d time.Duration
	rest := v
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, fmt.Errorf("bad duration %q", v)
		}
		n, _ := strconv.ParseUint(rest[:i], 10, 32)
		rest = rest[i:]
		j := 0
		for j < len(rest) && (rest[j] < '0' || rest[j] > '9') {
			j++
		}
		var unit time.Duration
		switch rest[:j] {
		case "w":
			unit = 7 * 24 * time.Hour
		case "d":
			unit = 24 * time.Hour
		case "h":
			unit = time.Hour
		case "m":
			unit = time.Minute
		case "s":
			unit = time.Second
		case "ms":
			unit = time.Millisecond
		default:
			return 0, fmt.Errorf("bad duration %q", v)
		}
		d += time.Duration(n) * unit
		rest = rest[j:]
	}
	return d, nil
}

// FormatDuration prints d the way RouterOS v7 prints time intervals over
// the API: "25s", "1m30s", "2d3h", "1w1d", "0s"; sub-second parts as "ms".
func FormatDuration(d time.Duration) string {
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		unit time.Duration
		s    string
	}{{7 * 24 * time.Hour, "w"}, {24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}, {time.Millisecond, "ms"}} {
		if n := d / u.unit; n > 0 {
			fmt.Fprintf(&b, "%d%s", n, u.s)
			d -= n * u.unit
		}
	}
	return b.String()
}

func parseIntRange(attr, v string, lo, hi uint64) (string, *Trap) {
	n, err := strconv.ParseUint(v, 10, 64)
	if err != nil {
		return "", badValue(attr)
	}
	if n < lo || n > hi {
		return "", trapf(1, "value of %s out of range (%d..%d)", attr, lo, hi)
	}
	return strconv.FormatUint(n, 10), nil
}

// parseAddrPrefix parses "a.b.c.d/n" or an address without length (which
// gets the full host length). family is 4, 6 or 0 (either).
func parseAddrPrefix(v string, family int) (netip.Prefix, bool) {
	var p netip.Prefix
	if strings.Contains(v, "/") {
		var err error
		if p, err = netip.ParsePrefix(v); err != nil {
			return p, false
		}
	} else {
		a, err := netip.ParseAddr(v)
		if err != nil {
			return p, false
		}
		p = netip.PrefixFrom(a, a.BitLen())
	}
	if a := p.Addr(); a.Zone() != "" || (family == 4 && !a.Is4()) || (family == 6 && !a.Is6()) {
		return p, false
	}
	return p, true
}

// parseAddrOnly parses a bare address (an optional /len equal to the host
// length is tolerated, as RouterOS does for BGP addresses).
func parseAddrOnly(v string, family int) (netip.Addr, bool) {
	p, ok := parseAddrPrefix(v, family)
	if !ok {
		return netip.Addr{}, false
	}
	return p.Addr(), true
}

// parseWGKey checks a base64 WireGuard key (32 bytes).
func parseWGKey(v string) bool {
	b, err := base64.StdEncoding.DecodeString(v)
	return err == nil && len(b) == 32
}

// parseFirewallAddr accepts [!]address[/len] or [!]a-b ranges.
func parseFirewallAddr(v string, family int) bool {
	v = strings.TrimPrefix(v, "!")
	if lo, hi, ok := strings.Cut(v, "-"); ok {
		_, ok1 := parseAddrOnly(lo, family)
		_, ok2 := parseAddrOnly(hi, family)
		return ok1 && ok2
	}
	_, ok := parseAddrPrefix(v, family)
	return ok
}

// parsePorts accepts "80", "80,443", "33434-33534" and mixtures.
func parsePorts(v string) bool {
	v = strings.TrimPrefix(v, "!")
	for part := range strings.SplitSeq(v, ",") {
		lo, hi, isRange := strings.Cut(part, "-")
		if _, t := parseIntRange("port", lo, 0, 65535); t != nil {
			return false
		}
		if isRange {
			if _, t := parseIntRange("port", hi, 0, 65535); t != nil {
				return false
			}
		}
	}
	return true
}
