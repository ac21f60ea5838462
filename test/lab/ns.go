//go:build unix

package lab

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// netnsDir is where `ip netns add` bind-mounts named namespaces.
const netnsDir = "/run/netns"

// netnsInode returns the namespace id of a named network namespace: the
// inode of its nsfs bind mount, the N in /proc/PID/ns/net -> "net:[N]".
func netnsInode(ns string) (uint64, error) {
	var st syscall.Stat_t
	if err := syscall.Stat(filepath.Join(netnsDir, ns), &st); err != nil {
		return 0, fmt.Errorf("stat netns %s: %w", ns, err)
	}
	return st.Ino, nil
}

// pidsInNetns lists live (non-zombie) processes whose network namespace is
// one of inodes. Zombies are skipped: they hold no namespace and, on
// machines whose pid 1 doesn't reap orphans (containers), never go away.
func pidsInNetns(inodes map[uint64]bool) []int {
	if len(inodes) == 0 {
		return nil
	}
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return nil
	}
	self := os.Getpid()
	var out []int
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || pid == self {
			continue
		}
		link, err := os.Readlink(fmt.Sprintf("/proc/%d/ns/net", pid))
		if err != nil {
			continue
		}
		ino, ok := parseNsLink(link)
		if !ok || !inodes[ino] {
			continue
		}
		if procAlive(pid) {
			out = append(out, pid)
		}
	}
	return out
}

// parseNsLink parses "net:[4026532177]".
func parseNsLink(s string) (uint64, bool) {
	i, j := strings.IndexByte(s, '['), strings.IndexByte(s, ']')
	if i < 0 || j < i {
		return 0, false
	}
	n, err := strconv.ParseUint(s[i+1:j], 10, 64)
	return n, err == nil
}

// procStat returns the state and start time (fields 3 and 22 of
// /proc/PID/stat), ok=false if the process doesn't exist.
func procStat(pid int) (state string, start string, ok bool) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return "", "", false
	}
	// comm (field 2) may contain spaces and parentheses; fields resume
	// after the last ')'.
	s := string(b)
	k := strings.LastIndexByte(s, ')')
	if k < 0 {
		return "", "", false
	}
	f := strings.Fields(s[k+1:])
	if len(f) < 20 {
		return "", "", false
	}
	return f[0], f[19], true
}

// procAlive reports whether pid exists and is not a zombie or dead.
func procAlive(pid int) bool {
	st, _, ok := procStat(pid)
	return ok && st != "Z" && st != "X"
}

// ProcessAlive reports whether pid is a live process (zombies count as
// dead). Tests use it to check that teardown killed everything.
func ProcessAlive(pid int) bool { return procAlive(pid) }

// killInNetns SIGKILLs every process in the given namespaces until none is
// left (new ones may appear while a parent dies) or ctx ends.
func killInNetns(ctx context.Context, inodes map[uint64]bool) error {
	for {
		pids := pidsInNetns(inodes)
		if len(pids) == 0 {
			return nil
		}
		for _, pid := range pids {
			_ = syscall.Kill(pid, syscall.SIGKILL)
		}
		select {
		case <-ctx.Done():
			return fmt.Errorf("lab: processes survive in lab namespaces: %v: %w", pidsInNetns(inodes), ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// ownerID identifies a process across pid reuse: "pid starttime".
func ownerID(pid int) string {
	_, start, _ := procStat(pid)
	return fmt.Sprintf("%d %s", pid, start)
}

// parseTag splits "tetherlab-<pid>-<hex6>[-rest]" into its tag
// ("tetherlab-<pid>-<hex6>") and pid.
func parseTag(name string) (tag string, pid int, ok bool) {
	rest, found := strings.CutPrefix(name, Prefix)
	if !found {
		return "", 0, false
	}
	parts := strings.SplitN(rest, "-", 3)
	if len(parts) < 2 || len(parts[1]) != 6 {
		return "", 0, false
	}
	pid, err := strconv.Atoi(parts[0])
	if err != nil || pid <= 0 {
		return "", 0, false
	}
	for _, c := range parts[1] {
		if !strings.ContainsRune("0123456789abcdef", c) {
			return "", 0, false
		}
	}
	return Prefix + parts[0] + "-" + parts[1], pid, true
}

// ownerAlive reports whether the process that created tag still runs. The
// owner file (pid + start time) guards against pid reuse; without it (lab
// half-built, or dir already removed) a live pid counts as the owner.
func ownerAlive(tag string, pid int) bool {
	if !procAlive(pid) {
		return false
	}
	b, err := os.ReadFile(filepath.Join(os.TempDir(), tag, "owner"))
	if err != nil {
		return true
	}
	return strings.TrimSpace(string(b)) == ownerID(pid)
}

// Sweep removes leftovers of labs whose owning process is gone: it kills
// the processes in their namespaces, deletes the namespaces and removes
// their temp directories. Labs of live processes (including this one) are
// left alone, so concurrent test binaries don't disturb each other. Build
// calls it; it is bounded by CloseTimeout.
func Sweep() error {
	ctx, cancel := context.WithTimeout(context.Background(), CloseTimeout)
	defer cancel()
	var errs []error
	alive := map[string]bool{}
	isStale := func(name string) (string, bool) {
		tag, pid, ok := parseTag(name)
		if !ok {
			return "", false
		}
		a, seen := alive[tag]
		if !seen {
			a = ownerAlive(tag, pid)
			alive[tag] = a
		}
		return tag, !a
	}

	ents, err := os.ReadDir(netnsDir)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		errs = append(errs, err)
	}
	var stale []string
	inodes := map[uint64]bool{}
	for _, e := range ents {
		if _, ok := isStale(e.Name()); ok {
			stale = append(stale, e.Name())
			if ino, err := netnsInode(e.Name()); err == nil {
				inodes[ino] = true
			}
		}
	}
	if err := killInNetns(ctx, inodes); err != nil {
		errs = append(errs, err)
	}
	for _, ns := range stale {
		if err := delNetns(ctx, ns); err != nil {
			errs = append(errs, err)
		}
	}

	tmp := os.TempDir()
	ents, err = os.ReadDir(tmp)
	if err != nil {
		errs = append(errs, err)
	}
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		if tag, ok := isStale(e.Name()); ok && tag == e.Name() {
			if err := os.RemoveAll(filepath.Join(tmp, e.Name())); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}
