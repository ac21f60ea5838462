//go:build unix

package lab

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// BaseTools are the programs every lab needs: iproute2 (ip), util-linux
// (unshare, nsenter, mount), coreutils (sleep), a POSIX sh, and the
// WireGuard userspace pair, since this kernel family has no WireGuard
// module and every tether lab scenario uses a tunnel.
var BaseTools = []string{"ip", "unshare", "nsenter", "mount", "sleep", "sh", "wireguard-go", "wg"}

// debianPackage maps tools to the Debian 12 package that ships them, for the
// hint in Available's error.
var debianPackage = map[string]string{
	"ip": "iproute2", "bridge": "iproute2",
	"unshare": "util-linux", "nsenter": "util-linux", "setpriv": "util-linux",
	"mount": "mount", "sleep": "coreutils", "sh": "dash",
	"wireguard-go": "wireguard-go", "wg": "wireguard-tools", "wg-quick": "wireguard-tools",
	"bird": "bird2", "birdc": "bird2", "nft": "nftables", "radvd": "radvd",
	"keepalived": "keepalived", "ndppd": "ndppd", "ping": "iputils-ping",
	"sysctl": "procps", "git": "git",
}

// Available reports why a lab can't run here, or nil if it can. Beyond
// BaseTools it checks any extra tools named (e.g. "bird", "birdc",
// "wg-quick", "nft").
func Available(tools ...string) error {
	if runtime.GOOS != "linux" {
		return fmt.Errorf("lab: needs Linux network namespaces (GOOS=%s)", runtime.GOOS)
	}
	var errs []error
	if uid := os.Geteuid(); uid != 0 {
		errs = append(errs, fmt.Errorf("needs root for network/mount namespaces (euid %d)", uid))
	}
	var missing []string
	seen := map[string]bool{}
	for _, t := range append(append([]string(nil), BaseTools...), tools...) {
		if seen[t] {
			continue
		}
		seen[t] = true
		if _, err := exec.LookPath(t); err != nil {
			missing = append(missing, t)
		}
	}
	if len(missing) > 0 {
		var pkgs []string
		for _, t := range missing {
			if p := debianPackage[t]; p != "" && !slices.Contains(pkgs, p) {
				pkgs = append(pkgs, p)
			}
		}
		hint := ""
		if len(pkgs) > 0 {
			hint = " (Debian: apt-get install " + strings.Join(pkgs, " ") + ")"
		}
		errs = append(errs, fmt.Errorf("missing tools in PATH: %s%s", strings.Join(missing, ", "), hint))
	}
	if _, err := os.Stat("/dev/net/tun"); err != nil {
		errs = append(errs, fmt.Errorf("wireguard-go needs /dev/net/tun: %v", err))
	}
	if len(errs) == 0 {
		return nil
	}
	return fmt.Errorf("lab unavailable: %w", errors.Join(errs...))
}

// Require skips t when Available(tools...) fails — except on CI
// (CI=true or CI=1) when running as root, where a missing tool means the CI
// setup is broken and the test fails instead of silently skipping.
func Require(t testing.TB, tools ...string) {
	t.Helper()
	if testing.Short() {
		t.Skip("-short (make unit): no network namespaces")
	}
	err := Available(tools...)
	if err == nil {
		return
	}
	if isCI() && os.Geteuid() == 0 {
		t.Fatalf("%v (CI is set and we run as root, so this is a failure, not a skip)", err)
	}
	t.Skip(err)
}

func isCI() bool {
	v := strings.ToLower(strings.TrimSpace(os.Getenv("CI")))
	return v == "true" || v == "1" || v == "yes"
}
