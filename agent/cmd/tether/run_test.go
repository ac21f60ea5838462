package main

import (
	"strings"
	"testing"

	"github.com/tether-net/tether/agent/config"
	"github.com/tether-net/tether/agent/gitsource"
)

// TestSignaturePolicyFromConfig: the agent config reaches every trust
// policy gitsource has (signed_history used to have no way in), and
// signed_history alone is refused rather than silently meaning nothing.
func TestSignaturePolicyFromConfig(t *testing.T) {
	base := "repo = \"/srv/net\"\nsite = \"home\"\n[git]\nallowed_signers = \"/etc/tether/allowed_signers\"\n"
	for _, c := range []struct {
		extra string
		want  gitsource.SignaturePolicy
	}{
		{"", gitsource.SignNone},
		{"require_signatures = true\n", gitsource.SignHead},
		{"require_signatures = true\nsigned_history = true\n", gitsource.SignAll},
	} {
		cfg, err := config.Parse("agent.toml", []byte(base+c.extra))
		if err != nil {
			t.Fatalf("%q: %v", c.extra, err)
		}
		if got := signaturePolicy(cfg.Git); got != c.want {
			t.Errorf("%q: policy %q, want %q", c.extra, got, c.want)
		}
	}
	if _, err := config.Parse("agent.toml", []byte(base+"signed_history = true\n")); err == nil || !strings.Contains(err.Error(), "git.signed_history") {
		t.Fatalf("signed_history without require_signatures: %v", err)
	}
}
