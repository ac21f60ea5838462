package gitsource_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"

	"github.com/go-git/go-git/v5/plumbing"

	"github.com/tether-net/tether/agent/gitsource"
	"github.com/tether-net/tether/policy"
)

// largeNetwork writes a network of n Linux sites in a ring with chords (two
// links per site) under dir.
func largeNetwork(b *testing.B, dir string, n int) {
	write := func(name, body string) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			b.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			b.Fatal(err)
		}
	}
	write("network.toml", "name = \"bench\"\n")
	for i := 0; i < n; i++ {
		var key [32]byte
		key[0], key[1], key[2] = byte(i), byte(i>>8), 0x5c
		write(fmt.Sprintf("sites/s%04d.toml", i), fmt.Sprintf(
			"platform = \"linux\"\nasn = %d\nrouter_id = \"10.%d.%d.1\"\n\n[[interface]]\nname = \"eth0\"\nrole = \"wan\"\n\n[[wireguard]]\nname = \"wg0\"\npublic_key = %q\n",
			64512+i, i/256, i%256, policy.KeyFromBytes(key).String()))
	}
	l := 0
	for i := 0; i < n; i++ {
		for _, step := range []int{1, 5} {
			j := (i + step) % n
			write(fmt.Sprintf("links/l%05d.toml", l), fmt.Sprintf(
				"transit = [\"fd00:%x::/64\"]\n\n[a]\nsite = \"s%04d\"\ninterface = \"wg0\"\naddress = \"fd00:%x::1/64\"\nendpoint = \"192.0.2.%d:51820\"\nallowed = [\"fd00:%x::2/128\"]\n\n[b]\nsite = \"s%04d\"\ninterface = \"wg0\"\naddress = \"fd00:%x::2/64\"\nallowed = [\"fd00:%x::1/128\"]\n",
				l, i, l, i%250+1, l, j, l, l))
			l++
		}
	}
}

// BenchmarkLoadNetwork loads a 1,000-site network with policy.Load from a
// directory and from the same files in a commit of the agent's clone
// (packed, as a clone holds them), for the git/directory ratio.
func BenchmarkLoadNetwork(b *testing.B) {
	root := b.TempDir()
	work := filepath.Join(root, "work")
	largeNetwork(b, filepath.Join(work, "net"), 1000)
	git(b, root, nil, "init", "-q", "-b", "main", work)
	git(b, work, nil, "add", "-A")
	git(b, work, nil, "commit", "-qm", "network")
	git(b, root, nil, "clone", "-q", "--bare", work, filepath.Join(root, "remote.git"))
	src, err := gitsource.Open(context.Background(), gitsource.Config{URL: filepath.Join(root, "remote.git"), StateDir: b.TempDir()})
	if err != nil {
		b.Fatal(err)
	}
	head := plumbing.NewHash(git(b, work, nil, "rev-parse", "HEAD"))
	b.Run("dir", func(b *testing.B) {
		b.ReportAllocs()
		fsys := os.DirFS(filepath.Join(work, "net"))
		for i := 0; i < b.N; i++ {
			if n, _ := policy.Load(fsys, "."); len(n.Sites) != 1000 || len(n.Links) != 2000 {
				b.Fatalf("%d sites %d links", len(n.Sites), len(n.Links))
			}
		}
	})
	b.Run("git", func(b *testing.B) {
		b.ReportAllocs()
		for i := 0; i < b.N; i++ {
			fsys, err := src.Tree(context.Background(), head, "net")
			if err != nil {
				b.Fatal(err)
			}
			if n, _ := policy.Load(fsys, "."); len(n.Sites) != 1000 || len(n.Links) != 2000 {
				b.Fatalf("%d sites %d links", len(n.Sites), len(n.Links))
			}
		}
	})
}
