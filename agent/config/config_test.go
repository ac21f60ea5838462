package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseDefaults(t *testing.T) {
	c, err := Parse("agent.toml", []byte("repo = \"/srv/net.git\"\nsite = \"home\"\n"))
	if err != nil {
		t.Fatal(err)
	}
	if c.Branch != "main" || c.PollInterval.Duration != 15*time.Second || !*c.RouterOS.TLS || c.Linux.KeyDir != "/var/lib/tether/keys" {
		t.Fatalf("defaults not applied: %+v", c)
	}
}

func TestParseRejectsUnknownAndBadValues(t *testing.T) {
	_, err := Parse("agent.toml", []byte(`repo = "x"
site = "home"
poll_interval = "1ms"
[git]
tokn_file = "/x"
require_signatures = true
[log]
level = "loud"
`))
	if err == nil {
		t.Fatal("want error")
	}
	for _, want := range []string{`unknown key "git.tokn_file"`, "poll_interval: must be at least 1s", "log.level", "git.require_signatures"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
}
