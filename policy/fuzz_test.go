package policy

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// FuzzLoad feeds arbitrary bytes to the loader as a site file and as a link
// file of an otherwise valid network. The loader must never panic, and a
// result without errors must have its defaults applied.
func FuzzLoad(f *testing.F) {
	base := readArchiveF(f, "testdata/invalid/_base.txtar")
	cases, _ := filepath.Glob("testdata/*/*.txtar")
	for _, c := range cases {
		a := readArchiveF(f, c)
		for _, name := range a.order {
			f.Add([]byte(a.files[name]), strings.HasPrefix(name, "links/"))
		}
	}
	examples, _ := filepath.Glob("../repo-example/*/*/*.toml")
	for _, e := range examples {
		data, _ := os.ReadFile(e)
		f.Add(data, strings.Contains(e, "/links/"))
	}
	f.Fuzz(func(t *testing.T, data []byte, asLink bool) {
		files := map[string]string{}
		for k, v := range base.files {
			files[k] = v
		}
		name := "sites/home.toml"
		if asLink {
			name = "links/relay-home.toml"
		}
		files[name] = string(data)
		n, problems := Load(mapFS(files), ".")
		for _, p := range problems {
			if p.File == "" || p.Message == "" {
				t.Fatalf("problem without file or message: %+v", p)
			}
		}
		if !problems.HasErrors() {
			for _, s := range n.Sites {
				for _, w := range s.WireGuard {
					if w.MTU == 0 || w.ListenPort == 0 {
						t.Fatalf("defaults not applied to %s/%s", s.Name, w.Name)
					}
				}
			}
		}
	})
}

func readArchiveF(f *testing.F, path string) archive {
	data, err := os.ReadFile(path)
	if err != nil {
		f.Fatal(err)
	}
	return parseArchive(string(data))
}

// BenchmarkLoadLarge loads a generated network of 1,000 sites and 2,000
// links: every site is a Linux relay-like host with one WireGuard interface
// linked to two neighbours, with BGP on every link.
func BenchmarkLoadLarge(b *testing.B) {
	files := generateNetwork(1000)
	fsys := mapFS(files)
	size := 0
	for _, v := range files {
		size += len(v)
	}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		n, problems := Load(fsys, ".")
		if problems.HasErrors() {
			b.Fatalf("generated network invalid:\n%s", problemsText(problems[:min(5, len(problems))]))
		}
		if len(n.Sites) != 1000 || len(n.Links) != 2000 {
			b.Fatalf("got %d sites %d links", len(n.Sites), len(n.Links))
		}
	}
	b.ReportMetric(float64(size), "input-bytes")
}

func generateNetwork(sites int) map[string]string {
	files := map[string]string{
		"network.toml": "name = \"large\"\n[defaults]\nasn_pool = \"64512-65534\"\n",
	}
	key := func(i int) string {
		var raw [32]byte
		raw[0], raw[1], raw[2] = byte(i), byte(i>>8), 0xaa
		return KeyFromBytes(raw).String()
	}
	for i := 0; i < sites; i++ {
		files[fmt.Sprintf("sites/s%04d.toml", i)] = fmt.Sprintf(`platform = "linux"
asn = %d
router_id = "10.%d.%d.1"
[[interface]]
name = "eth0"
role = "wan"
[[wireguard]]
name = "wg0"
public_key = %q
[[firewall]]
chain = "input"
action = "accept"
protocol = "udp"
dst_port = "51820"
`, 64512+i, i/256, i%256, key(i))
	}
	link := 0
	for i := 0; i < sites; i++ {
		for _, step := range []int{1, 7} {
			j := (i + step) % sites
			files[fmt.Sprintf("links/l%05d.toml", link)] = fmt.Sprintf(`transit = ["fd00:%x::/64"]
[a]
site = "s%04d"
interface = "wg0"
address = "fd00:%x::1/64"
endpoint = "192.0.2.%d:51820"
allowed = ["fd00:%x::2/128"]
[b]
site = "s%04d"
interface = "wg0"
address = "fd00:%x::2/64"
allowed = ["fd00:%x::1/128"]
[bgp.a]
import = ["2001:db8::/32+"]
export = ["::/0"]
[bgp.b]
import = ["::/0"]
export = ["2001:db8::/32+"]
`, link, i, link, i%250+1, link, j, link, link)
			link++
		}
	}
	return files
}
