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

func TestParseRejectsBadNotify(t *testing.T) {
	_, err := Parse("agent.toml", []byte(`repo = "x"
site = "home"
[notify]
url = "https://me:s3cret@ntfy.example.net/alerts"
format = "xml"
results = ["reverted", "exploded"]
attempts = -1
queue_size = -2
`))
	if err == nil {
		t.Fatal("want error")
	}
	for _, want := range []string{"agent.toml: notify.url: must not carry credentials", "notify.format: must be json or text",
		`notify.results: "exploded" is not an outcome`, "notify.attempts: must be at least 1", "notify.queue_size: must be at least 1"} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error lacks %q:\n%v", want, err)
		}
	}
	if strings.Contains(err.Error(), "s3cret") {
		t.Errorf("error shows the URL's password:\n%v", err)
	}
	if _, err := Parse("agent.toml", []byte("repo = \"x\"\nsite = \"home\"\n[notify]\nurl = \"https://ntfy.example.net/alerts\"\nresults = []\n")); err == nil ||
		!strings.Contains(err.Error(), "notify.results: is empty") {
		t.Errorf("an empty results list must be refused, not silently send nothing: %v", err)
	}
	if _, err := Parse("agent.toml", []byte("repo = \"x\"\nsite = \"home\"\n[notify]\nurl = \"ntfy.example.net/alerts\"\n")); err == nil ||
		!strings.Contains(err.Error(), "notify.url: must be an http:// or https:// URL") {
		t.Errorf("schemeless url: %v", err)
	}
}
