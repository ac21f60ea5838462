package policy

import (
	"encoding/base64"
	"fmt"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// The value types below decode from TOML strings without ever failing the
// decoder: a bad value is remembered and reported later with its position,
// so one load reports every problem in a file instead of the first.

// parseErrorer is implemented by every value type that can hold a bad input.
type parseErrorer interface{ parseErr() error }

// Prefix is an IP prefix written as "2001:db8::/48" or "10.0.0.0/24".
// Host bits must be zero unless the field accepts interface addresses (see
// IfAddr).
type Prefix struct {
	netip.Prefix
	err error
}

func (p *Prefix) UnmarshalText(b []byte) error {
	p.Prefix, p.err = netip.Prefix{}, nil
	v, err := netip.ParsePrefix(string(b))
	switch {
	case err != nil:
		p.err = fmt.Errorf("%q is not a prefix (want e.g. 2001:db8::/48 or 10.0.0.0/24)", b)
	case v.Masked() != v:
		p.err = fmt.Errorf("%q has host bits set; did you mean %s?", b, v.Masked())
	case v.Addr().Is4In6():
		p.err = fmt.Errorf("%q is an IPv4-mapped prefix; write it as IPv4", b)
	default:
		p.Prefix = v
	}
	return nil
}
func (p Prefix) MarshalText() ([]byte, error) { return []byte(p.String()), nil }
func (p Prefix) parseErr() error              { return p.err }

// IfAddr is an interface address with its prefix length, "fd99::2/64";
// host bits are expected.
type IfAddr struct {
	netip.Prefix
	err error
}

func (p *IfAddr) UnmarshalText(b []byte) error {
	p.Prefix, p.err = netip.Prefix{}, nil
	v, err := netip.ParsePrefix(string(b))
	if err != nil {
		p.err = fmt.Errorf("%q is not an interface address (want e.g. fd99::2/64 or 10.0.0.1/24)", b)
		return nil
	}
	p.Prefix = v
	return nil
}
func (p IfAddr) MarshalText() ([]byte, error) { return []byte(p.String()), nil }
func (p IfAddr) parseErr() error              { return p.err }

// Addr is a single IP address without prefix length.
type Addr struct {
	netip.Addr
	err error
}

func (a *Addr) UnmarshalText(b []byte) error {
	a.Addr, a.err = netip.Addr{}, nil
	v, err := netip.ParseAddr(string(b))
	if err != nil {
		a.err = fmt.Errorf("%q is not an IP address", b)
		return nil
	}
	a.Addr = v
	return nil
}
func (a Addr) MarshalText() ([]byte, error) { return []byte(a.String()), nil }
func (a Addr) parseErr() error              { return a.err }

// Endpoint is where a WireGuard peer is dialled: "host:port" where host is an
// IP literal ("[2001:db8::1]:51820", "203.0.113.10:51820") or a DNS name.
type Endpoint struct {
	Host string // IP literal without brackets, or a DNS name
	Port uint16
	err  error
}

func (e *Endpoint) UnmarshalText(b []byte) error {
	*e = Endpoint{}
	s := string(b)
	i := strings.LastIndexByte(s, ':')
	if i <= 0 {
		e.err = fmt.Errorf("%q is not host:port (want e.g. 203.0.113.10:51820 or relay.example.net:51820)", s)
		return nil
	}
	host, port := s[:i], s[i+1:]
	if strings.HasPrefix(host, "[") && strings.HasSuffix(host, "]") {
		host = host[1 : len(host)-1]
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			e.err = fmt.Errorf("%q: %q is not an IPv6 address", s, host)
			return nil
		}
	} else if strings.Contains(host, ":") {
		e.err = fmt.Errorf("%q: write an IPv6 endpoint in brackets, e.g. [2001:db8::1]:51820", s)
		return nil
	} else if _, err := netip.ParseAddr(host); err != nil && !isDNSName(host) {
		e.err = fmt.Errorf("%q: %q is neither an IP address nor a DNS name", s, host)
		return nil
	}
	p, err := strconv.ParseUint(port, 10, 16)
	if err != nil || p == 0 {
		e.err = fmt.Errorf("%q: port %q must be 1-65535", s, port)
		return nil
	}
	e.Host, e.Port = host, uint16(p)
	return nil
}

// Addr returns the endpoint's IP when the host is a literal.
func (e Endpoint) Addr() (netip.Addr, bool) {
	a, err := netip.ParseAddr(e.Host)
	return a, err == nil
}
func (e Endpoint) IsZero() bool { return e.Host == "" }
func (e Endpoint) String() string {
	if e.Host == "" {
		return ""
	}
	if strings.Contains(e.Host, ":") {
		return "[" + e.Host + "]:" + strconv.Itoa(int(e.Port))
	}
	return e.Host + ":" + strconv.Itoa(int(e.Port))
}
func (e Endpoint) MarshalText() ([]byte, error) { return []byte(e.String()), nil }
func (e Endpoint) parseErr() error              { return e.err }

func isDNSName(s string) bool {
	if len(s) == 0 || len(s) > 253 {
		return false
	}
	for _, label := range strings.Split(strings.TrimSuffix(s, "."), ".") {
		if len(label) == 0 || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-') {
				return false
			}
		}
	}
	return true
}

// Key is a WireGuard public key: 32 bytes, standard base64 (44 characters).
type Key struct {
	b   [32]byte
	set bool
	err error
}

func (k *Key) UnmarshalText(b []byte) error {
	*k = Key{}
	raw, err := base64.StdEncoding.DecodeString(string(b))
	if err != nil || len(raw) != 32 {
		k.err = fmt.Errorf("%q is not a WireGuard public key (44 characters of base64, as printed by `wg pubkey`)", truncate(string(b), 60))
		return nil
	}
	copy(k.b[:], raw)
	k.set = true
	return nil
}

// KeyFromBytes builds a Key from raw bytes (used by keygen and tests).
func KeyFromBytes(b [32]byte) Key { return Key{b: b, set: true} }

func (k Key) IsZero() bool                 { return !k.set }
func (k Key) Bytes() [32]byte              { return k.b }
func (k Key) String() string               { return base64.StdEncoding.EncodeToString(k.b[:]) }
func (k Key) MarshalText() ([]byte, error) { return []byte(k.String()), nil }
func (k Key) parseErr() error              { return k.err }

// Duration is written as "25s", "3m", "120s"; a bare integer in TOML means
// seconds (keepalive = 25).
type Duration struct {
	time.Duration
	set bool
	err error
}

func (d *Duration) UnmarshalText(b []byte) error {
	*d = Duration{}
	s := string(b)
	if n, err := strconv.ParseUint(s, 10, 32); err == nil {
		d.Duration, d.set = time.Duration(n)*time.Second, true
		return nil
	}
	v, err := time.ParseDuration(s)
	if err != nil || v < 0 {
		d.err = fmt.Errorf("%q is not a duration (want e.g. 25s, 3m, 120s)", s)
		return nil
	}
	d.Duration, d.set = v, true
	return nil
}

// UnmarshalTOML accepts integers (seconds) as well as strings.
func (d *Duration) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		*d = Duration{}
		if x < 0 {
			d.err = fmt.Errorf("%d: a duration cannot be negative", x)
			return nil
		}
		d.Duration, d.set = time.Duration(x)*time.Second, true
		return nil
	case string:
		return d.UnmarshalText([]byte(x))
	default:
		*d = Duration{err: fmt.Errorf("want a duration like \"25s\" or a number of seconds, got %T", v)}
		return nil
	}
}
func (d Duration) IsSet() bool { return d.set }
func (d Duration) MarshalText() ([]byte, error) {
	return []byte(d.Duration.String()), nil
}
func (d Duration) parseErr() error { return d.err }

// Seconds returns the duration in whole seconds.
func (d Duration) Seconds() int { return int(d.Duration / time.Second) }

// DurationOf returns a set Duration (for defaults and tests).
func DurationOf(v time.Duration) Duration { return Duration{Duration: v, set: true} }

// PrefixMatch is one entry of a BGP import or export list:
//
//	"2001:db8:100::/48"        exactly this prefix
//	"2001:db8:100::/48+"       this prefix or any more specific one
//	"2001:db8:100::/48{48,64}" prefixes inside it with length 48 to 64
type PrefixMatch struct {
	Prefix netip.Prefix
	Min    int // minimum prefix length; equals Prefix.Bits() for exact
	Max    int // maximum prefix length
	err    error
}

func (m *PrefixMatch) UnmarshalText(b []byte) error {
	*m = PrefixMatch{}
	s := string(b)
	base, rng := s, ""
	if i := strings.IndexAny(s, "+{"); i >= 0 {
		base, rng = s[:i], s[i:]
	}
	p, err := netip.ParsePrefix(base)
	if err != nil || p.Masked() != p {
		m.err = fmt.Errorf("%q is not a prefix match (want e.g. 2001:db8::/48, 2001:db8::/48+ or 2001:db8::/48{48,64})", s)
		return nil
	}
	maxBits := p.Addr().BitLen()
	m.Prefix, m.Min, m.Max = p, p.Bits(), p.Bits()
	switch {
	case rng == "":
	case rng == "+":
		m.Max = maxBits
	case strings.HasPrefix(rng, "{") && strings.HasSuffix(rng, "}"):
		lo, hi, ok := strings.Cut(rng[1:len(rng)-1], ",")
		a, err1 := strconv.Atoi(strings.TrimSpace(lo))
		z, err2 := strconv.Atoi(strings.TrimSpace(hi))
		if !ok || err1 != nil || err2 != nil || a < p.Bits() || z < a || z > maxBits {
			*m = PrefixMatch{err: fmt.Errorf("%q: length range must be {min,max} with %d <= min <= max <= %d", s, p.Bits(), maxBits)}
			return nil
		}
		m.Min, m.Max = a, z
	default:
		m.err = fmt.Errorf("%q: unexpected %q after the prefix", s, rng)
	}
	if m.err != nil {
		*m = PrefixMatch{err: m.err} // a bad match matches nothing
	}
	return nil
}

// Exact reports whether the match accepts only the prefix itself.
func (m PrefixMatch) Exact() bool { return m.Min == m.Prefix.Bits() && m.Max == m.Prefix.Bits() }

// Contains reports whether prefix p is accepted by the match.
func (m PrefixMatch) Contains(p netip.Prefix) bool {
	return p.Bits() >= m.Min && p.Bits() <= m.Max && m.Prefix.Overlaps(p) && p.Bits() >= m.Prefix.Bits()
}

func (m PrefixMatch) String() string {
	switch {
	case m.Exact():
		return m.Prefix.String()
	case m.Min == m.Prefix.Bits() && m.Max == m.Prefix.Addr().BitLen():
		return m.Prefix.String() + "+"
	default:
		return fmt.Sprintf("%s{%d,%d}", m.Prefix, m.Min, m.Max)
	}
}
func (m PrefixMatch) MarshalText() ([]byte, error) { return []byte(m.String()), nil }
func (m PrefixMatch) parseErr() error              { return m.err }

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "…"
}
