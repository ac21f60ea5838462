// Package profile renders wg-quick profiles for external peers — phones,
// laptops, servers of a mesh — from the network model, and QR codes of them
// for phones.
//
// A profile is the device's side of the tunnel. It never holds a private
// key: the device generates its own and only its public key is in the repo,
// so the profile has a commented placeholder line to paste it into. The
// package is pure (no I/O); the CLI decides where profiles go.
//
// QR codes use rsc.io/qr: a small, dependency-free encoder by Russ Cox that
// exposes the module matrix, so both the terminal rendering (half blocks)
// and the PNG (image/png, in memory, any size) are drawn here.
package profile

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"net/netip"
	"strings"
	"time"

	"github.com/tether-net/tether/policy"
	"rsc.io/qr"
)

// PrivateKeyPlaceholder is the line where the device's own key goes.
const PrivateKeyPlaceholder = "# PrivateKey = <paste the device's private key>"

// Profile is every wg-quick file one external peer needs.
type Profile struct {
	Peer  string
	Files []File
}

// File is one wg-quick profile.
type File struct {
	Name      string // file name, <Interface>.conf
	Interface string // interface name the file brings up
	Kind      string // "site" (the tunnel to its site) | "mesh"
	Text      []byte
}

// ErrNoProfile is returned for a peer tether renders no profile for: a
// server or provider the site dials, which keeps its own configuration.
var ErrNoProfile = errors.New("no profile")

// Peer renders the profiles of external peer name: the tunnel to its site
// and, for a mesh member, its mesh interface with every other member as a
// peer. The site tunnel is rendered when the peer has a [profile], or when
// it dials in (no endpoint of its own) and the site interface has an
// endpoint to dial; a peer the site dials without a [profile] is a server
// configured elsewhere.
func Peer(n *policy.Network, name string) (*Profile, error) {
	p := n.Peers[name]
	if p == nil {
		return nil, fmt.Errorf("profile: no peer %q", name)
	}
	out := &Profile{Peer: name}
	dialsIn := p.Endpoint.IsZero() && p.Kind != "provider" && siteEndpoint(n, p)
	if p.Site != "" && (p.Profile != nil || dialsIn) {
		f, err := siteProfile(n, p, false)
		if err != nil {
			return nil, err
		}
		out.Files = append(out.Files, f)
		if p.Exit != "" && (p.Profile == nil || p.Profile.Tunnel != "full") {
			// The write-up's second profile: the same key and address,
			// everything into the tunnel, toggled on the device.
			f, err := siteProfile(n, p, true)
			if err != nil {
				return nil, err
			}
			out.Files = append(out.Files, f)
		}
	}
	if p.Mesh != nil {
		out.Files = append(out.Files, meshProfile(n, p))
	}
	if len(out.Files) == 0 {
		return nil, fmt.Errorf("profile: peer %s: the site dials it and it has no [profile]: %w", name, ErrNoProfile)
	}
	return out, nil
}

func siteEndpoint(n *policy.Network, p *policy.Peer) bool {
	if s := n.Sites[p.Site]; s != nil {
		if w := s.WireGuardInterface(p.Interface); w != nil {
			return !w.Endpoint.IsZero()
		}
	}
	return false
}

// interfaceName is a Linux-valid (≤ 15 characters) name for the tunnel.
func interfaceName(site string) string {
	n := "wg-" + site
	if len(n) > 15 {
		n = n[:15]
	}
	return n
}

// exitInterfaceName names the exit-mode tunnel apart from the normal one
// (a device may keep both profiles), within Linux's 15 characters.
func exitInterfaceName(site string) string {
	n := "wg-" + site
	if len(n) > 10 {
		n = n[:10]
	}
	return n + "-exit"
}

// siteProfile renders the tunnel to the peer's site; exitMode renders the
// variant that sends everything through the peer's exit.
func siteProfile(n *policy.Network, p *policy.Peer, exitMode bool) (File, error) {
	s := n.Sites[p.Site]
	if s == nil {
		return File{}, fmt.Errorf("profile: peer %s: no site %q", p.Name, p.Site)
	}
	w := s.WireGuardInterface(p.Interface)
	if w == nil {
		return File{}, fmt.Errorf("profile: peer %s: site %s has no WireGuard interface %q", p.Name, p.Site, p.Interface)
	}
	pr := p.Profile
	if pr == nil {
		pr = &policy.PeerProfile{Tunnel: "split"}
	}
	endpoint := pr.Endpoint
	if endpoint.IsZero() {
		endpoint = w.Endpoint
	}
	if endpoint.IsZero() {
		return File{}, fmt.Errorf("profile: peer %s: no endpoint to dial: set profile.endpoint or endpoint on %s's %s", p.Name, p.Site, p.Interface)
	}
	if w.PublicKey.IsZero() {
		return File{}, fmt.Errorf("profile: peer %s: site %s interface %s has no public key", p.Name, p.Site, p.Interface)
	}
	var allowed []netip.Prefix
	switch {
	case p.Exit != "" && (exitMode || pr.Tunnel == "full"):
		// Only the families the device has a tunnel address in: the exit
		// carries nothing else, so another family stays off the tunnel
		// instead of being dropped at the site.
		allowed = p.ExitDefaults()
	case pr.Tunnel == "full":
		allowed = []netip.Prefix{netip.MustParsePrefix("0.0.0.0/0"), netip.MustParsePrefix("::/0")}
	case len(pr.Routes) > 0:
		allowed = policy.Prefixes(pr.Routes)
	default:
		// What the site's interface serves: the networks of its addresses.
		seen := map[netip.Prefix]bool{}
		for _, a := range n.WireGuardAddresses(p.Site, p.Interface) {
			m := a.Masked()
			if !seen[m] {
				seen[m] = true
				allowed = append(allowed, m)
			}
		}
	}
	mtu := pr.MTU
	if mtu == 0 {
		mtu = w.MTU
	}
	keepalive := pr.Keepalive.Duration
	if !pr.Keepalive.IsSet() {
		// The device dials from behind NAT (a phone, a laptop); keepalives
		// keep the site able to reach it.
		keepalive = n.Defaults.Keepalive.Duration
	}

	var b bytes.Buffer
	iface := interfaceName(p.Site)
	mode := pr.Tunnel + " tunnel"
	if p.Exit != "" && (exitMode || pr.Tunnel == "full") {
		mode = "exit mode: everything leaves through " + p.Exit
	}
	if exitMode {
		iface = exitInterfaceName(p.Site)
	}
	fmt.Fprintf(&b, "# tether profile for %s (%s): tunnel to site %s, interface %s (%s).\n", p.Name, p.Kind, p.Site, p.Interface, mode)
	b.WriteString("[Interface]\n")
	b.WriteString(PrivateKeyPlaceholder + "\n")
	if len(p.Addresses) > 0 {
		var as []string
		for _, a := range p.Addresses {
			as = append(as, a.String())
		}
		fmt.Fprintf(&b, "Address = %s\n", strings.Join(as, ", "))
	}
	if len(pr.DNS) > 0 {
		var ds []string
		for _, d := range pr.DNS {
			ds = append(ds, d.String())
		}
		fmt.Fprintf(&b, "DNS = %s\n", strings.Join(ds, ", "))
	}
	if mtu > 0 {
		fmt.Fprintf(&b, "MTU = %d\n", mtu)
	}
	b.WriteString("\n")
	fmt.Fprintf(&b, "# %s\n", p.Site)
	b.WriteString("[Peer]\n")
	fmt.Fprintf(&b, "PublicKey = %s\n", w.PublicKey)
	fmt.Fprintf(&b, "Endpoint = %s\n", endpoint)
	fmt.Fprintf(&b, "AllowedIPs = %s\n", joinPrefixes(allowed))
	if keepalive > 0 {
		fmt.Fprintf(&b, "PersistentKeepalive = %d\n", int(keepalive/time.Second))
	}
	return File{Name: iface + ".conf", Interface: iface, Kind: "site", Text: b.Bytes()}, nil
}

// meshProfile is a server's mesh interface: every other member is a peer
// dialled at its overlay endpoint, accepting only its mesh address.
func meshProfile(n *policy.Network, p *policy.Peer) File {
	m := p.Mesh
	var b bytes.Buffer
	fmt.Fprintf(&b, "# tether profile for %s: mesh %s, interface %s.\n", p.Name, m.Name, m.Interface)
	b.WriteString("[Interface]\n")
	b.WriteString(PrivateKeyPlaceholder + "\n")
	fmt.Fprintf(&b, "Address = %s\n", m.Address)
	if m.ListenPort > 0 {
		fmt.Fprintf(&b, "ListenPort = %d\n", m.ListenPort)
	}
	if m.MTU > 0 {
		fmt.Fprintf(&b, "MTU = %d\n", m.MTU)
	}
	for _, o := range n.MeshMembers(m.Name) {
		if o.Name == p.Name {
			continue
		}
		b.WriteString("\n")
		fmt.Fprintf(&b, "# %s\n", o.Name)
		b.WriteString("[Peer]\n")
		fmt.Fprintf(&b, "PublicKey = %s\n", o.PublicKey)
		a := o.Mesh.Address.Addr()
		fmt.Fprintf(&b, "AllowedIPs = %s\n", netip.PrefixFrom(a, a.BitLen()))
		fmt.Fprintf(&b, "Endpoint = %s\n", o.Mesh.Endpoint)
	}
	return File{Name: m.Interface + ".conf", Interface: m.Interface, Kind: "mesh", Text: b.Bytes()}
}

func joinPrefixes(ps []netip.Prefix) string {
	s := make([]string, len(ps))
	for i, p := range ps {
		s[i] = p.String()
	}
	return strings.Join(s, ", ")
}

// QR renders text as a QR code for a terminal: two modules per character
// with half blocks, dark on a light background, with the quiet zone the
// standard asks for so phone cameras lock on. It fails only when text is
// too long for a QR code.
func QR(text string) (string, error) {
	c, err := qr.Encode(text, qr.M)
	if err != nil {
		return "", fmt.Errorf("qr: %w", err)
	}
	const quiet = 2
	size := c.Size
	dark := func(x, y int) bool {
		if x < 0 || y < 0 || x >= size || y >= size {
			return false
		}
		return c.Black(x, y)
	}
	var b strings.Builder
	// Light modules are drawn as block characters so the code reads on dark
	// terminals too; dark modules are the gaps.
	for y := -quiet; y < size+quiet; y += 2 {
		for x := -quiet; x < size+quiet; x++ {
			top, bottom := !dark(x, y), !dark(x, y+1)
			switch {
			case top && bottom:
				b.WriteRune('█')
			case top:
				b.WriteRune('▀')
			case bottom:
				b.WriteRune('▄')
			default:
				b.WriteRune(' ')
			}
		}
		b.WriteByte('\n')
	}
	return b.String(), nil
}

// QRPNG renders text as a PNG of about size×size pixels (whole pixels per
// module, a four-module quiet zone), encoded in memory.
func QRPNG(text string, size int) ([]byte, error) {
	c, err := qr.Encode(text, qr.M)
	if err != nil {
		return nil, fmt.Errorf("qr: %w", err)
	}
	const quiet = 4
	modules := c.Size + 2*quiet
	scale := size / modules
	if scale < 1 {
		scale = 1
	}
	px := modules * scale
	img := image.NewPaletted(image.Rect(0, 0, px, px), color.Palette{color.White, color.Black})
	for y := 0; y < c.Size; y++ {
		for x := 0; x < c.Size; x++ {
			if !c.Black(x, y) {
				continue
			}
			for dy := 0; dy < scale; dy++ {
				off := img.PixOffset((x+quiet)*scale, (y+quiet)*scale+dy)
				for dx := 0; dx < scale; dx++ {
					img.Pix[off+dx] = 1
				}
			}
		}
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		return nil, fmt.Errorf("qr png: %w", err)
	}
	return b.Bytes(), nil
}
