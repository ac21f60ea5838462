// Package config reads the agent's local configuration (/etc/tether/agent.toml):
// where the network repo is, which site this agent runs, how to reach the
// device, and local trust settings. It never comes from the network repo —
// credentials and allowed signers are the agent host's business.
package config

import (
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/BurntSushi/toml"
)

// Config is the agent-local configuration.
type Config struct {
	Repo         string   `toml:"repo"`   // a directory, file://, ssh:// or https:// URL
	Branch       string   `toml:"branch"` // default "main"
	Path         string   `toml:"path"`   // network folder inside the repo, default "."
	Site         string   `toml:"site"`
	StateDir     string   `toml:"state_dir"`     // default /var/lib/tether
	PollInterval Duration `toml:"poll_interval"` // default 15s
	// DriftInterval is how often an idle agent re-reads the device to find
	// drift (default 5m; the first poll after start always does).
	DriftInterval Duration `toml:"drift_interval"`

	Git      Git      `toml:"git"`
	RouterOS RouterOS `toml:"routeros"`
	Linux    Linux    `toml:"linux"`
	Gate     Gate     `toml:"gate"`
	Log      Log      `toml:"log"`
	Metrics  Metrics  `toml:"metrics"`
	Webhook  Webhook  `toml:"webhook"`
	Notify   Notify   `toml:"notify"`

	// File is where the config was read from (for messages).
	File string `toml:"-"`
}

// Git holds transport credentials and trust settings.
type Git struct {
	SSHKeyFile        string `toml:"ssh_key_file"`
	KnownHostsFile    string `toml:"known_hosts_file"`
	Username          string `toml:"username"`
	TokenFile         string `toml:"token_file"`
	RequireSignatures bool   `toml:"require_signatures"`
	// SignedHistory extends require_signatures from the head to every new
	// commit a sync brings in.
	SignedHistory  bool   `toml:"signed_history"`
	AllowedSigners string `toml:"allowed_signers"` // ssh allowed_signers file
	PGPKeyring     string `toml:"pgp_keyring"`     // armored public keys
	NotesAuthor    string `toml:"notes_author"`
}

// RouterOS says how to reach the router's API.
type RouterOS struct {
	Address            string   `toml:"address"` // host:port; 8729 for api-ssl
	Username           string   `toml:"username"`
	PasswordFile       string   `toml:"password_file"`
	TLS                *bool    `toml:"tls"` // default true
	CAFile             string   `toml:"ca_file"`
	Fingerprint        string   `toml:"fingerprint"` // sha256 of the router certificate, hex
	InsecureSkipVerify bool     `toml:"insecure_skip_verify"`
	Timeout            Duration `toml:"timeout"` // per API call, default 10s
	// RawMenusAllow lists guarded menus (users, services, scripts, files…)
	// that the repo's raw items may change on this router; none by default.
	RawMenusAllow []string `toml:"raw_menus_allow"`
}

// Linux configures the Linux host device.
type Linux struct {
	Root       string `toml:"root"`        // prefix for every path (tests, chroots); default "/"
	KeyDir     string `toml:"key_dir"`     // default <state_dir>/keys
	BirdSocket string `toml:"bird_socket"` // default /run/bird/bird.ctl
}

// Gate overrides the network's health settings on this agent.
type Gate struct {
	HandshakeMaxAge Duration `toml:"handshake_max_age"`
	Deadline        Duration `toml:"deadline"`
	StableWindow    Duration `toml:"stable_window"`
	DeadmanMargin   Duration `toml:"deadman_margin"`
}

// Log configures logging.
type Log struct {
	Level  string `toml:"level"`  // debug | info | warn | error
	Format string `toml:"format"` // json | console
}

// Metrics is the Prometheus endpoint.
type Metrics struct {
	Listen string `toml:"listen"` // e.g. 127.0.0.1:9477; empty = off
}

// Webhook forces a sync on POST /hooks/sync.
type Webhook struct {
	Listen     string `toml:"listen"`
	SecretFile string `toml:"secret_file"`
}

// Notify posts outcomes an operator must hear of to a webhook.
type Notify struct {
	URL         string   `toml:"url"`          // empty = off
	Format      string   `toml:"format"`       // json | text; default json
	Results     []string `toml:"results"`      // default reverted, rejected, revert-failed, drift
	TokenFile   string   `toml:"token_file"`   // sent as "Authorization: Bearer <token>"
	HeadersFile string   `toml:"headers_file"` // "Name: value" lines
	Priority    string   `toml:"priority"`     // text mode: Priority header; empty = not sent
	Attempts    int      `toml:"attempts"`     // tries per message, default 5
	Timeout     Duration `toml:"timeout"`      // per attempt, default 10s
	QueueSize   int      `toml:"queue_size"`   // default 64
}

// NotifyResults are the outcomes [notify] results may name.
var NotifyResults = []string{"applied", "reverted", "rejected", "unchanged", "repaired", "drift",
	"revert-failed", "recovered", "adopted", "adopt-reverted"}

// Duration decodes "15s" or an integer number of seconds.
type Duration struct{ time.Duration }

func (d *Duration) UnmarshalTOML(v any) error {
	switch x := v.(type) {
	case int64:
		d.Duration = time.Duration(x) * time.Second
	case string:
		p, err := time.ParseDuration(x)
		if err != nil {
			return fmt.Errorf("%q is not a duration like 15s", x)
		}
		d.Duration = p
	default:
		return fmt.Errorf("want a duration like \"15s\", got %T", v)
	}
	if d.Duration < 0 {
		return errors.New("duration cannot be negative")
	}
	return nil
}

// Load reads and checks a config file, applying defaults.
func Load(path string) (*Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("read agent config: %w", err)
	}
	return Parse(path, data)
}

// Parse decodes config text; path is used in messages only.
func Parse(path string, data []byte) (*Config, error) {
	c := &Config{File: path}
	md, err := toml.Decode(string(data), c)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	var problems []string
	for _, k := range md.Undecoded() {
		problems = append(problems, fmt.Sprintf("%s: unknown key %q", path, k.String()))
	}
	c.applyDefaults()
	problems = append(problems, c.check()...)
	if len(problems) > 0 {
		sort.Strings(problems)
		return nil, errors.New(strings.Join(problems, "\n"))
	}
	return c, nil
}

func (c *Config) applyDefaults() {
	if c.Branch == "" {
		c.Branch = "main"
	}
	if c.Path == "" {
		c.Path = "."
	}
	if c.StateDir == "" {
		c.StateDir = "/var/lib/tether"
	}
	if c.DriftInterval.Duration == 0 {
		c.DriftInterval.Duration = 5 * time.Minute
	}
	if c.PollInterval.Duration == 0 {
		c.PollInterval.Duration = 15 * time.Second
	}
	if c.RouterOS.TLS == nil {
		t := true
		c.RouterOS.TLS = &t
	}
	if c.RouterOS.Timeout.Duration == 0 {
		c.RouterOS.Timeout.Duration = 10 * time.Second
	}
	if c.RouterOS.Username == "" {
		c.RouterOS.Username = "tether"
	}
	if c.Linux.Root == "" {
		c.Linux.Root = "/"
	}
	if c.Linux.KeyDir == "" {
		c.Linux.KeyDir = filepath.Join(c.StateDir, "keys")
	}
	if c.Linux.BirdSocket == "" {
		c.Linux.BirdSocket = "/run/bird/bird.ctl"
	}
	if c.Log.Level == "" {
		c.Log.Level = "info"
	}
	if c.Log.Format == "" {
		c.Log.Format = "console"
	}
	if c.Git.NotesAuthor == "" {
		c.Git.NotesAuthor = "tether"
	}
	if c.Notify.Format == "" {
		c.Notify.Format = "json"
	}
	if c.Notify.Results == nil {
		c.Notify.Results = []string{"reverted", "rejected", "revert-failed", "drift"}
	}
	if c.Notify.Attempts == 0 {
		c.Notify.Attempts = 5
	}
	if c.Notify.Timeout.Duration == 0 {
		c.Notify.Timeout.Duration = 10 * time.Second
	}
	if c.Notify.QueueSize == 0 {
		c.Notify.QueueSize = 64
	}
}

func (c *Config) check() []string {
	var p []string
	bad := func(key, msg string) { p = append(p, fmt.Sprintf("%s: %s: %s", c.File, key, msg)) }
	if c.Repo == "" {
		bad("repo", "is required (a directory or a git URL)")
	}
	if c.Site == "" {
		bad("site", "is required (the site this agent runs, a sites/<name>.toml of the network)")
	}
	if c.PollInterval.Duration < time.Second {
		bad("poll_interval", "must be at least 1s")
	}
	switch c.Log.Level {
	case "debug", "info", "warn", "error":
	default:
		bad("log.level", "must be debug, info, warn or error")
	}
	switch c.Log.Format {
	case "json", "console":
	default:
		bad("log.format", "must be json or console")
	}
	if c.Git.SignedHistory && !c.Git.RequireSignatures {
		bad("git.signed_history", "needs git.require_signatures = true")
	}
	if c.Git.RequireSignatures && c.Git.AllowedSigners == "" && c.Git.PGPKeyring == "" {
		bad("git.require_signatures", "needs git.allowed_signers or git.pgp_keyring")
	}
	if c.RouterOS.InsecureSkipVerify && (c.RouterOS.CAFile != "" || c.RouterOS.Fingerprint != "") {
		bad("routeros.insecure_skip_verify", "conflicts with ca_file/fingerprint")
	}
	c.checkNotify(bad)
	return p
}

func (c *Config) checkNotify(bad func(key, msg string)) {
	n := c.Notify
	if n.URL != "" {
		u, err := url.Parse(n.URL)
		switch {
		case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
			bad("notify.url", "must be an http:// or https:// URL")
		case u.User != nil:
			bad("notify.url", "must not carry credentials; put them in notify.token_file or notify.headers_file")
		}
	}
	switch n.Format {
	case "json", "text":
	default:
		bad("notify.format", "must be json or text")
	}
	if n.URL != "" && n.Results != nil && len(n.Results) == 0 {
		bad("notify.results", "is empty, so nothing would ever be sent; name the outcomes to send, or remove notify.url to turn notifications off")
	}
	for _, r := range n.Results {
		if !slices.Contains(NotifyResults, r) {
			bad("notify.results", fmt.Sprintf("%q is not an outcome (%s)", r, strings.Join(NotifyResults, ", ")))
		}
	}
	if n.Attempts < 1 {
		bad("notify.attempts", "must be at least 1")
	}
	if n.QueueSize < 1 {
		bad("notify.queue_size", "must be at least 1")
	}
}
