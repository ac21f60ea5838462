package importer

import (
	"bufio"
	"bytes"
	"fmt"
	"net/netip"
	"strconv"
	"strings"

	"github.com/tether-net/tether/policy"
)

// nft reads the tether table (inet tether): its address-list sets, the
// filter chains' policies and each rule, into the site's firewall. A rule
// it cannot read fails the whole table, which then stays outside the site
// (a partial firewall would be worse than none).
func (im *importer) nft(b []byte) error {
	s := im.site
	var chain, table string
	var set string
	sc := bufio.NewScanner(bytes.NewReader(b))
	lineNo := 0
	for sc.Scan() {
		lineNo++
		line := strings.TrimSpace(sc.Text())
		switch {
		case line == "" || strings.HasPrefix(line, "#") && !strings.HasPrefix(line, "# disabled:"):
			continue
		case strings.HasPrefix(line, "table "):
			if !strings.HasPrefix(line, "table inet tether") {
				return fmt.Errorf("line %d: only table inet tether is read (%s)", lineNo, line)
			}
			continue
		case strings.HasPrefix(line, "delete table"):
			continue
		case strings.HasPrefix(line, "set ") && strings.HasSuffix(line, "{"):
			set = strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(line, "set "), "{"))
			continue
		case set != "":
			if v, ok := strings.CutPrefix(line, "elements = {"); ok {
				list := set[strings.Index(set, "_")+1:]
				for _, e := range strings.Split(strings.TrimSuffix(strings.TrimSpace(v), "}"), ",") {
					p, ok := parsePrefix(strings.TrimSpace(e))
					if !ok {
						return fmt.Errorf("line %d: set element %q", lineNo, e)
					}
					s.AddressLists = append(s.AddressLists, policy.AddressListEntry{List: list, Address: policy.Prefix{Prefix: p}})
				}
			}
			if line == "}" {
				set = ""
			}
			continue
		case strings.HasPrefix(line, "chain ") && strings.HasSuffix(line, "{"):
			name := strings.TrimSpace(strings.TrimSuffix(strings.TrimPrefix(line, "chain "), "{"))
			switch {
			case name == "input" || name == "forward" || name == "output":
				table, chain = "filter", name
			case name == "srcnat" || name == "dstnat":
				table, chain = "nat", name
			case strings.HasPrefix(name, "mangle_"):
				table, chain = "mangle", strings.TrimPrefix(name, "mangle_")
			default:
				return fmt.Errorf("line %d: chain %s is not one tether renders", lineNo, name)
			}
			continue
		case strings.HasPrefix(line, "type "):
			if i := strings.Index(line, "policy "); i >= 0 && table == "filter" {
				pol := strings.TrimSuffix(strings.TrimSpace(line[i+len("policy "):]), ";")
				if pol != "accept" {
					switch chain {
					case "input":
						s.FirewallPolicy.Input = pol
					case "forward":
						s.FirewallPolicy.Forward = pol
					case "output":
						s.FirewallPolicy.Output = pol
					}
				}
			}
			continue
		case line == "}" || line == "{" || line == "table inet tether {}":
			continue
		case strings.HasPrefix(line, "# disabled:"):
			return fmt.Errorf("line %d: a disabled rule keeps only its label (%s)", lineNo, line)
		}
		if chain == "" {
			return fmt.Errorf("line %d: a rule outside a chain", lineNo)
		}
		fr, err := nftRule(line)
		if err != nil {
			return fmt.Errorf("line %d: %w", lineNo, err)
		}
		fr.Chain = chain
		if table != "filter" {
			fr.Table = table
		}
		s.Firewall = append(s.Firewall, fr)
	}
	// A filter chain exists whenever there is a firewall: the policies of
	// an otherwise empty table say accept, which is the default.
	return nil
}

// nftWords splits a rule into words, keeping "quoted strings" and
// { set, elements } whole.
func nftWords(line string) ([]string, error) {
	var out []string
	for i := 0; i < len(line); {
		switch c := line[i]; {
		case c == ' ':
			i++
		case c == '"':
			j := i + 1
			for j < len(line) && line[j] != '"' {
				if line[j] == '\\' {
					j++
				}
				j++
			}
			if j >= len(line) {
				return nil, fmt.Errorf("unterminated string")
			}
			out = append(out, line[i:j+1])
			i = j + 1
		case c == '{':
			j := strings.IndexByte(line[i:], '}')
			if j < 0 {
				return nil, fmt.Errorf("unterminated set")
			}
			out = append(out, line[i:i+j+1])
			i += j + 1
		default:
			j := strings.IndexByte(line[i:], ' ')
			if j < 0 {
				j = len(line) - i
			}
			out = append(out, line[i:i+j])
			i += j
		}
	}
	return out, nil
}

func unquote(s string) (string, error) {
	if strings.HasPrefix(s, "\"") {
		return strconv.Unquote(s)
	}
	return s, nil
}

// setList turns "{ a, b }" into "a,b" (ports) and leaves other words be.
func setList(s string) string {
	if !strings.HasPrefix(s, "{") {
		return s
	}
	parts := strings.Split(strings.Trim(s, "{} "), ",")
	for i := range parts {
		parts[i] = strings.TrimSpace(parts[i])
	}
	return strings.Join(parts, ",")
}

var l4Back = map[string]string{"esp": "ipsec-esp", "ah": "ipsec-ah"}

var rejectBack = map[string]map[string]string{
	"icmp":   {"net-unreachable": "icmp-network-unreachable", "host-unreachable": "icmp-host-unreachable", "port-unreachable": "icmp-port-unreachable", "admin-prohibited": "icmp-admin-prohibited"},
	"icmpv6": {"no-route": "icmpv6-no-route", "addr-unreachable": "icmpv6-address-unreachable", "port-unreachable": "icmpv6-port-unreachable", "admin-prohibited": "icmpv6-admin-prohibited"},
	"icmpx":  {"no-route": "icmp-network-unreachable", "host-unreachable": "icmpx-host-unreachable", "port-unreachable": "icmpx-port-unreachable", "admin-prohibited": "icmpx-admin-prohibited"},
}

// nftRule reads one rule as tether renders it back into the model.
func nftRule(line string) (policy.FirewallRule, error) {
	var fr policy.FirewallRule
	w, err := nftWords(line)
	if err != nil {
		return fr, err
	}
	at := func(i int) string {
		if i < len(w) {
			return w[i]
		}
		return ""
	}
	bad := func(i int) (policy.FirewallRule, error) {
		return fr, fmt.Errorf("cannot read %q in %q", at(i), line)
	}
	for i := 0; i < len(w); {
		neg := ""
		if at(i+1) == "!=" {
			neg = "!"
		}
		switch x := w[i]; {
		case x == "meta" && at(i+1) == "nfproto":
			fr.Family = map[string]string{"ipv4": "ip", "ipv6": "ipv6"}[at(i+2)]
			i += 3
		case x == "iifname" || x == "oifname":
			v := at(i + 1 + len(neg))
			n, err := unquote(v)
			if err != nil || strings.HasPrefix(v, "{") {
				return bad(i)
			}
			if x == "iifname" {
				fr.InInterface = neg + n
			} else {
				fr.OutInterface = neg + n
			}
			i += 2 + len(neg)
		case (x == "ip" || x == "ip6") && (at(i+1) == "saddr" || at(i+1) == "daddr"):
			if at(i+2) == "!=" {
				neg = "!"
			}
			v := at(i + 2 + len(neg))
			if list, ok := strings.CutPrefix(v, "@"); ok {
				list = list[strings.Index(list, "_")+1:]
				if at(i+1) == "saddr" {
					fr.SrcAddressList = neg + list
				} else {
					fr.DstAddressList = neg + list
				}
			} else {
				p, ok := parsePrefix(v)
				if !ok || neg != "" {
					return bad(i)
				}
				if at(i+1) == "saddr" {
					fr.SrcAddress = policy.Prefix{Prefix: p}
				} else {
					fr.DstAddress = policy.Prefix{Prefix: p}
				}
			}
			i += 3 + len(neg)
		case (x == "tcp" || x == "udp" || x == "sctp") && (at(i+1) == "sport" || at(i+1) == "dport"):
			fr.Protocol = x
			if at(i+1) == "sport" {
				fr.SrcPort = setList(at(i + 2))
			} else {
				fr.DstPort = setList(at(i + 2))
			}
			i += 3
		case (x == "icmp" || x == "icmpv6") && at(i+1) == "type":
			fr.Protocol = x
			fr.ICMPTypes = strings.Split(setList(at(i+2)), ",")
			i += 3
		case x == "meta" && at(i+1) == "l4proto":
			v := at(i + 2 + len(neg))
			if v == "{ tcp, udp }" {
				i += 3 // added for a port mapping: not a match of the model's
				continue
			}
			if b, ok := l4Back[v]; ok {
				v = b
			}
			fr.Protocol = neg + v
			i += 3 + len(neg)
		case x == "ct" && at(i+1) == "state":
			if at(i+2) == "!=" {
				fr.ConnectionState = append(fr.ConnectionState, "!"+at(i+3))
				i += 4
				continue
			}
			fr.ConnectionState = append(fr.ConnectionState, strings.Split(at(i+2), ",")...)
			i += 3
		case x == "ct" && at(i+1) == "status":
			if at(i+2) == "!=" {
				neg = "!"
			}
			fr.ConnectionNATState = neg + map[string]string{"snat": "srcnat", "dnat": "dstnat"}[at(i+2+len(neg))]
			i += 3 + len(neg)
		case x == "log":
			fr.Log = true
			i++
			if at(i) == "prefix" {
				p, err := unquote(at(i + 1))
				if err != nil {
					return bad(i)
				}
				fr.LogPrefix = p
				i += 2
			}
		case x == "accept" || x == "drop" || x == "return":
			fr.Action = x
			i++
		case x == "counter":
			fr.Action = "passthrough"
			i++
		case x == "reject":
			fr.Action = "reject"
			i++
			if at(i) == "with" {
				switch {
				case at(i+1) == "tcp" && at(i+2) == "reset":
					fr.RejectWith = "tcp-reset"
					if fr.Protocol == "tcp" && fr.SrcPort == "" && fr.DstPort == "" {
						fr.Protocol = "" // added for the reset
					}
					i += 3
				case at(i+2) == "type":
					rw, ok := rejectBack[at(i+1)][at(i+3)]
					if !ok {
						return bad(i)
					}
					fr.RejectWith = rw
					i += 4
				default:
					return bad(i)
				}
			}
		case x == "masquerade" || x == "redirect":
			fr.Action = x
			i++
			if at(i) == "to" {
				fr.ToPorts = strings.TrimPrefix(at(i+1), ":")
				i += 2
			}
		case x == "snat" || x == "dnat":
			fr.Action = map[string]string{"snat": "src-nat", "dnat": "dst-nat"}[x]
			to := at(i + 3)
			if to == "" || at(i+2) != "to" {
				return bad(i)
			}
			addr, ports := to, ""
			if strings.HasPrefix(to, "[") {
				addr, ports, _ = strings.Cut(strings.TrimPrefix(to, "["), "]")
				ports = strings.TrimPrefix(ports, ":")
			} else if at(i+1) == "ip" {
				addr, ports, _ = strings.Cut(to, ":")
			}
			fr.ToAddresses, fr.ToPorts = addr, ports
			i += 4
		case x == "tcp" && at(i+1) == "flags" && at(i+2) == "syn":
			i += 3
		case x == "tcp" && at(i+1) == "option" && at(i+2) == "maxseg":
			fr.Action = "change-mss"
			i += 7
		case x == "comment":
			c, err := unquote(at(i + 1))
			if err != nil {
				return bad(i)
			}
			fr.Comment = c
			i += 2
		default:
			return bad(i)
		}
	}
	if fr.Action == "" && fr.Log {
		fr.Action, fr.Log = "log", false
	}
	if fr.Action == "" {
		return fr, fmt.Errorf("no verdict in %q", line)
	}
	// Without meta nfproto the family is what the model infers from the
	// addresses and protocol, so it is left unset.
	if a, err := netip.ParseAddr(fr.ToAddresses); err == nil && fr.ToAddresses != "" {
		fr.ToAddresses = a.String()
	}
	return fr, nil
}
