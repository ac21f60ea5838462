package mikrotik

import (
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
)

// flagAttrs are arguments the renderer emits without a value: present
// means yes. RouterOS prints a set one as a present, empty word
// (`=blackhole=`) and leaves an unset one out (test/rossim/CONFORMANCE.md);
// true/yes are read as set too, for prints and scripts that spell it out.
var flagAttrs = map[string]bool{"blackhole": true, "fib": true}

// flagSet reports whether a flag attribute with value v is set.
func flagSet(v string, present bool) bool {
	if !present {
		return false
	}
	switch strings.ToLower(strings.TrimSpace(v)) {
	case "", "yes", "true":
		return true
	}
	return false
}

// unorderedLists are attributes whose comma-separated elements form a set
// on the router, so their order carries no meaning.
var unorderedLists = map[string]bool{"connection-state": true, "allowed-address": true}

// same reports whether a rendered value and a live one mean the same thing.
// RouterOS prints its own spelling — `25s` for a keepalive of 25, `true`
// for yes, canonical prefixes — so both sides are normalized before they
// are compared; otherwise every reconcile would rewrite them.
func same(attr, want, live string, livePresent bool) bool {
	if flagAttrs[attr] {
		return flagSet(want, true) == flagSet(live, livePresent)
	}
	if !livePresent {
		live = ""
	}
	return norm(attr, want) == norm(attr, live)
}

// norm returns a canonical spelling of a RouterOS value.
func norm(attr, v string) string {
	v = strings.TrimSpace(v)
	if v == "" {
		return ""
	}
	parts := strings.Split(v, ",")
	for i, p := range parts {
		parts[i] = normScalar(strings.TrimSpace(p))
	}
	if unorderedLists[attr] && len(parts) > 1 {
		slices.Sort(parts)
	}
	return strings.Join(parts, ",")
}

func normScalar(v string) string {
	neg := ""
	if strings.HasPrefix(v, "!") {
		neg, v = "!", v[1:]
	}
	switch strings.ToLower(v) {
	case "yes", "true":
		return neg + "true"
	case "no", "false":
		return neg + "false"
	}
	if a, err := netip.ParseAddr(v); err == nil {
		return neg + a.String()
	}
	if p, err := netip.ParsePrefix(v); err == nil {
		// An address with its full host length is the address itself:
		// RouterOS prints 2001:db8::2/128 where one may write 2001:db8::2.
		if p.Bits() == p.Addr().BitLen() {
			return neg + p.Addr().String()
		}
		return neg + p.String()
	}
	if d, ok := parseDuration(v); ok {
		return neg + "dur:" + strconv.FormatInt(int64(d), 10)
	}
	return neg + v
}

// parseDuration parses a RouterOS time interval ("25", "25s", "1m30s",
// "1d2h", "500ms", "00:01:30"). A bare number is seconds, so integers
// compare equal to themselves either way.
func parseDuration(v string) (time.Duration, bool) {
	if v == "" {
		return 0, false
	}
	if strings.Count(v, ":") == 2 {
		var d time.Duration
		for i, part := range strings.Split(v, ":") {
			f, err := strconv.ParseFloat(part, 64)
			if err != nil || f < 0 {
				return 0, false
			}
			d += time.Duration(f * float64([]time.Duration{time.Hour, time.Minute, time.Second}[i]))
		}
		return d, true
	}
	if n, err := strconv.ParseUint(v, 10, 32); err == nil {
		return time.Duration(n) * time.Second, true
	}
	var d time.Duration
	rest := v
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 {
			return 0, false
		}
		n, err := strconv.ParseUint(rest[:i], 10, 32)
		if err != nil {
			return 0, false
		}
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
			return 0, false
		}
		d += time.Duration(n) * unit
		rest = rest[j:]
	}
	return d, true
}

// humanDuration prints d like "1m12s" or "4m" for evidence strings.
func humanDuration(d time.Duration) string {
	d = d.Round(time.Second)
	if d <= 0 {
		return "0s"
	}
	var b strings.Builder
	for _, u := range []struct {
		d time.Duration
		s string
	}{{24 * time.Hour, "d"}, {time.Hour, "h"}, {time.Minute, "m"}, {time.Second, "s"}} {
		if n := d / u.d; n > 0 {
			b.WriteString(strconv.FormatInt(int64(n), 10))
			b.WriteString(u.s)
			d -= n * u.d
		}
	}
	return b.String()
}
