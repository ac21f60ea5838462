package importer

import (
	"fmt"
	"strings"

	"github.com/tether-net/tether/policy"
)

// write renders the site and the new links and peers as TOML files.
func (im *importer) write() map[string][]byte {
	out := map[string][]byte{"sites/" + im.in.Site + ".toml": im.siteFile()}
	for _, k := range im.res.Links {
		out["links/"+k.Name+".toml"] = linkFile(k, im.res.linkNotes[k.Name])
	}
	for _, p := range im.res.Peers {
		out["peers/"+p.Name+".toml"] = peerFile(p, im.res.peerNotes[p.Name])
	}
	return out
}

func (im *importer) siteFile() []byte {
	s := im.site
	var w tomlWriter
	if s.Platform == "linux" {
		w.comment(fmt.Sprintf("Imported by tether import from the Linux host of site %s.", s.Name))
	} else {
		w.comment(fmt.Sprintf("Imported by tether import from the RouterOS router of site %s.", s.Name))
	}
	w.comment(im.res.header...)
	if s.Platform != "linux" {
		w.comment("After review and merge, `tether plan` lists the router's items tether would take over;",
			"`tether adopt` marks them as tether's (comment only).")
	}
	w.keys(reflectValue(s))
	w.table("bgp", &s.BGP)
	w.table("health", &s.Health)
	w.table("firewall_policy", &s.FirewallPolicy)
	for i := range s.Interfaces {
		w.array("interface", &s.Interfaces[i])
	}
	for i := range s.WireGuard {
		w.array("wireguard", &s.WireGuard[i], im.res.wgNotes[s.WireGuard[i].Name]...)
	}
	for i := range s.Addresses {
		w.array("address", &s.Addresses[i])
	}
	for i := range s.RoutingTables {
		w.array("routing_table", &s.RoutingTables[i])
	}
	for i := range s.Routes {
		w.array("route", &s.Routes[i])
	}
	for i := range s.RoutingRules {
		w.array("routing_rule", &s.RoutingRules[i])
	}
	for i := range s.AddressLists {
		w.array("address_list", &s.AddressLists[i])
	}
	for i := range s.Firewall {
		w.array("firewall", &s.Firewall[i])
	}
	if s.DNS != nil {
		w.table("dns", s.DNS)
		if len(s.DNS.Servers) == 0 && !s.DNS.AllowRemoteRequests {
			// The writer leaves false out; a [dns] table must say something.
			w.b.WriteString("[dns]\nallow_remote_requests = false\n")
		}
	}
	for i := range s.RouterAdverts {
		w.array("router_advertisement", &s.RouterAdverts[i])
	}
	for i := range s.NDPProxy {
		w.array("ndp_proxy", &s.NDPProxy[i])
	}
	for i := range s.VRRP {
		w.array("vrrp", &s.VRRP[i])
	}
	for i := range s.Probes {
		w.array("probe", &s.Probes[i])
	}
	for i := range s.Raw.RouterOS {
		w.array("raw.routeros", &s.Raw.RouterOS[i], im.res.rawWhy[i]...)
	}
	for i := range s.Raw.Linux {
		w.array("raw.linux", &s.Raw.Linux[i], "kept from the repo's site file")
	}
	if len(im.res.Notes) > 0 {
		w.blank()
		w.comment("Import notes:")
		for _, n := range im.res.Notes {
			w.comment("- " + n)
		}
	}
	return []byte(w.b.String())
}

func linkFile(k *policy.Link, notes []string) []byte {
	var w tomlWriter
	w.comment(notes...)
	w.keys(reflectValue(k))
	w.table("a", &k.A)
	w.table("b", &k.B)
	if k.BGP != nil {
		w.table("bgp", k.BGP)
		w.table("bgp.a", &k.BGP.A)
		w.table("bgp.b", &k.BGP.B)
	}
	return []byte(w.b.String())
}

func peerFile(p *policy.Peer, notes []string) []byte {
	var w tomlWriter
	w.comment(notes...)
	w.keys(reflectValue(p))
	return []byte(strings.TrimLeft(w.b.String(), "\n"))
}
