package linuxhost

import (
	"github.com/tether-net/tether/policy"
	linux "github.com/tether-net/tether/render/linux"
)

// RenderLinux is the default Options.Render: render/linux adapted to the
// device's File type. Tests wrap it to inject faults.
func RenderLinux(n *policy.Network, site string, o RenderOptions) ([]File, error) {
	cfg, err := linux.Render(n, site, linux.Options{
		KeyDir: o.KeyDir, BirdSocket: o.BirdSocket, BirdPath: o.BirdPath, NftPath: o.NftPath,
	})
	if err != nil {
		return nil, err
	}
	out := make([]File, len(cfg.Files))
	for i, f := range cfg.Files {
		out[i] = File{
			Path: f.Path, Mode: f.Mode, Content: f.Content, Check: f.Check,
			Activate: Action{Kind: f.Activate.Kind, Target: f.Activate.Target},
		}
	}
	return out, nil
}

// needsRestart is render/linux's rule for wg-quick files: down + up when an
// [Interface] key only wg-quick applies changed (or wg-quick owns the
// routes and AllowedIPs changed); `wg syncconf` otherwise.
func needsRestart(old, new []byte) bool { return linux.NeedsRestart(old, new) }
