package linuxhost

import (
	"github.com/tether-net/tether/policy"
	linux "github.com/tether-net/tether/render/linux"
)

// RenderLinux is the default Options.Render: render/linux itself. Tests wrap
// it to inject faults.
func RenderLinux(n *policy.Network, site string, o RenderOptions) ([]File, error) {
	cfg, err := linux.Render(n, site, o)
	if err != nil {
		return nil, err
	}
	return cfg.Files, nil
}

// needsRestart is render/linux's rule for wg-quick files: down + up when an
// [Interface] key only wg-quick applies changed (or wg-quick owns the
// routes and AllowedIPs changed); `wg syncconf` otherwise.
func needsRestart(old, new []byte) bool { return linux.NeedsRestart(old, new) }
