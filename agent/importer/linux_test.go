package importer_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/tether-net/tether/agent/importer"
	"github.com/tether-net/tether/policy"
	"github.com/tether-net/tether/render/linux"
	"github.com/tether-net/tether/test/rossim"
)

// importedFiles are the rendered files import reads back on Linux.
func importedFiles(cfg *linux.Config) map[string]string {
	out := map[string]string{}
	for _, f := range cfg.Files {
		if strings.HasPrefix(f.Path, linux.WireGuardDir+"/") || f.Path == linux.SysctlPath || f.Path == linux.DefaultNftPath {
			out[f.Path] = string(f.Content)
		}
	}
	return out
}

// TestLinuxRoundTrip renders every Linux site of every example, imports
// it back from the rendered wg-quick, sysctl and nftables files within its
// repo, and checks that the imported site validates and renders those
// files byte for byte again.
func TestLinuxRoundTrip(t *testing.T) {
	dirs, _ := filepath.Glob("../../repo-example/*/network.toml")
	count := 0
	for _, nt := range dirs {
		dir := filepath.Dir(nt)
		n, probs := policy.Load(os.DirFS(dir), ".")
		if probs.HasErrors() {
			t.Fatalf("%s: %v", dir, probs.Errors())
		}
		for _, site := range n.SiteNames() {
			if n.Sites[site].Platform != "linux" {
				continue
			}
			count++
			t.Run(filepath.Base(dir)+"/"+site, func(t *testing.T) {
				cfg, err := linux.Render(n, site, linux.Options{})
				if err != nil {
					t.Fatal(err)
				}
				want := importedFiles(cfg)
				in := importer.LinuxInput{Site: site, WireGuard: map[string][]byte{}, Repo: os.DirFS(dir)}
				for p, c := range want {
					switch {
					case strings.HasPrefix(p, linux.WireGuardDir+"/"):
						in.WireGuard[strings.TrimSuffix(filepath.Base(p), ".conf")] = []byte(c)
					case p == linux.SysctlPath:
						in.Sysctl = []byte(c)
					default:
						in.Nft = []byte(c)
					}
				}
				res, err := importer.Linux(in)
				if err != nil {
					t.Fatal(err)
				}
				if res.Problems != nil {
					t.Fatalf("import reports problems: %v\n%s", res.Problems, res.Files["sites/"+site+".toml"])
				}
				for _, note := range res.Notes {
					t.Logf("note: %s", note)
				}
				n2 := load(t, overlay(t, dir, res.Files), res.Files)
				cfg2, err := linux.Render(n2, site, linux.Options{})
				if err != nil {
					t.Fatal(err)
				}
				got := importedFiles(cfg2)
				for p, w := range want {
					if got[p] != w {
						t.Errorf("%s differs after import:\n--- rendered from the example:\n%s--- rendered from the import:\n%s\n--- site file:\n%s", p, w, got[p], res.Files["sites/"+site+".toml"])
					}
				}
				for p := range got {
					if _, ok := want[p]; !ok {
						t.Errorf("the import renders %s, which the example does not", p)
					}
				}
				// What import does not read is kept from the repo's file, so
				// every other file renders the same too.
				for _, f := range cfg.Files {
					for _, g := range cfg2.Files {
						if g.Path == f.Path && string(g.Content) != string(f.Content) {
							t.Errorf("%s differs after import:\n%s\n---\n%s", f.Path, f.Content, g.Content)
						}
					}
				}
				if len(cfg.Files) != len(cfg2.Files) {
					var a, b []string
					for _, f := range cfg.Files {
						a = append(a, f.Path)
					}
					for _, f := range cfg2.Files {
						b = append(b, f.Path)
					}
					t.Errorf("the example renders %v, the import %v", a, b)
				}
			})
		}
	}
	if count < 4 {
		t.Errorf("only %d Linux example sites", count)
	}
}

// A host configured by hand before tether: its wg-quick file holds the
// private key and a peer's preshared key, its nftables table is not
// tether's. The import derives the public key, writes neither secret,
// says where the key file goes, leaves the foreign table out with a note,
// keeps the forwarding sysctl, and validates.
func TestLinuxHandWritten(t *testing.T) {
	priv, pub := rossim.KeyPair("vps-wg0")
	psk, _ := rossim.KeyPair("vps-psk")
	_, peerKey := rossim.KeyPair("phone")
	conf := `[Interface]
Address = 10.9.0.1/24
ListenPort = 51820
PrivateKey = ` + priv + `
PostUp = iptables -A FORWARD -i %i -j ACCEPT

# phone
[Peer]
PublicKey = ` + peerKey + `
PresharedKey = ` + psk + `
AllowedIPs = 10.9.0.2/32
`
	res, err := importer.Linux(importer.LinuxInput{Site: "vps", WireGuard: map[string][]byte{"wg0": []byte(conf)},
		Sysctl: []byte("net.ipv4.ip_forward = 1\n"),
		Nft:    []byte("table inet filter {\n\tchain input {\n\t\ttype filter hook input priority 0; policy drop;\n\t}\n}\n")})
	if err != nil {
		t.Fatal(err)
	}
	if res.Problems != nil {
		t.Fatalf("problems: %v", res.Problems)
	}
	all := ""
	for _, b := range res.Files {
		all += string(b)
	}
	for _, secret := range []string{priv, psk} {
		if strings.Contains(all, secret) {
			t.Errorf("a secret of the host is in the imported files:\n%s", all)
		}
	}
	site := string(res.Files["sites/vps.toml"])
	for _, want := range []string{`public_key = "` + pub + `"`, "/var/lib/tether/keys/wg0.key", `"net.ipv4.ip_forward" = "1"`,
		`addresses = ["10.9.0.1/24"]`, "only table inet tether is read", "PostUp = iptables"} {
		if !strings.Contains(site, want) {
			t.Errorf("site file lacks %q:\n%s", want, site)
		}
	}
	if len(res.Peers) != 1 || res.Peers[0].Name != "phone" {
		t.Errorf("want one external peer phone, got %v", res.Peers)
	}
	load(t, overlay(t, "", res.Files), res.Files)
}
