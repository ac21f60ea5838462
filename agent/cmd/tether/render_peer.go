package main

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/tether-net/tether/policy"
	"github.com/tether-net/tether/render/profile"
)

// renderPeer prints (or writes) an external peer's wg-quick profile(s), and
// optionally a QR code for phones.
func renderPeer(env *cliEnv, n *policy.Network, f renderFlags) int {
	if n.Peers[f.peer] == nil {
		fmt.Fprintf(env.stderr, "tether render: no peer %q (peers: %v)\n", f.peer, n.PeerNames())
		return 1
	}
	p, err := profile.Peer(n, f.peer)
	if errors.Is(err, profile.ErrNoProfile) {
		fmt.Fprintf(env.stderr, "tether render: peer %s has no profile to render (the site dials it; add [profile] for a device profile)\n", f.peer)
		return 1
	}
	if err != nil {
		fmt.Fprintf(env.stderr, "tether render: %v\n", err)
		return 1
	}
	if f.profile != "" {
		var names []string
		for _, file := range p.Files {
			names = append(names, file.Name)
			if file.Name == f.profile {
				p.Files = []profile.File{file}
			}
		}
		if len(p.Files) != 1 || p.Files[0].Name != f.profile {
			fmt.Fprintf(env.stderr, "tether render: peer %s has no profile %q (profiles: %s)\n", f.peer, f.profile, strings.Join(names, ", "))
			return 1
		}
	}
	if (f.qr || f.qrPNG != "") && len(p.Files) != 1 {
		var names []string
		for _, file := range p.Files {
			names = append(names, file.Name)
		}
		fmt.Fprintf(env.stderr, "tether render: peer %s has %d profiles; a QR code holds one: pick it with --profile (%s)\n", f.peer, len(p.Files), strings.Join(names, ", "))
		return 2
	}
	for _, file := range p.Files {
		switch {
		case f.qr:
			q, err := profile.QR(string(file.Text))
			if err != nil {
				fmt.Fprintf(env.stderr, "tether render: %v\n", err)
				return 1
			}
			fmt.Fprint(env.stdout, q)
		case f.out != "":
			path := filepath.Join(f.out, file.Name)
			if err := os.MkdirAll(f.out, 0o755); err != nil {
				fmt.Fprintf(env.stderr, "tether render: %v\n", err)
				return 1
			}
			if err := os.WriteFile(path, file.Text, 0o600); err != nil {
				fmt.Fprintf(env.stderr, "tether render: %v\n", err)
				return 1
			}
			fmt.Fprintf(env.stdout, "wrote %s\n", path)
		default:
			fmt.Fprintf(env.stdout, "# ==> %s <==\n", file.Name)
			env.stdout.Write(file.Text)
		}
		if f.qrPNG != "" {
			png, err := profile.QRPNG(string(file.Text), 512)
			if err == nil {
				err = os.WriteFile(f.qrPNG, png, 0o600)
			}
			if err != nil {
				fmt.Fprintf(env.stderr, "tether render: %v\n", err)
				return 1
			}
			fmt.Fprintf(env.stderr, "wrote %s\n", f.qrPNG)
		}
	}
	return 0
}
