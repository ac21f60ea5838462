package main

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"go.uber.org/zap"
	"go.uber.org/zap/zapcore"

	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/agent/config"
	"github.com/tether-net/tether/agent/gitsource"
	"github.com/tether-net/tether/agent/linuxhost"
	"github.com/tether-net/tether/agent/metrics"
	"github.com/tether-net/tether/agent/mikrotik"
	"github.com/tether-net/tether/agent/notebook"
	"github.com/tether-net/tether/agent/notes"
	"github.com/tether-net/tether/agent/notify"
	"github.com/tether-net/tether/agent/sdnotify"
	"github.com/tether-net/tether/agent/secret"
	"github.com/tether-net/tether/agent/webhook"
)

func init() {
	register(&command{
		name:    "run",
		summary: "run the agent: pull the repo, apply new commits behind the gate, write notes",
		usage:   "--config FILE",
		help: `The daemon. Polls the repo every poll_interval (with jitter; at once on a
local repo change, SIGHUP or the webhook), verifies each new commit, applies
the site's configuration behind a dead-man and the health gate, reverts what
breaks, and records every outcome as a note in refs/notes/tether/<site>.
A transaction interrupted by a crash is finished or reverted at start.`,
		run: runRun,
	})
}

// newLogger builds the zap logger the config asks for: JSON for a log
// shipper, console for people; without its own timestamp under journald,
// and never with a field twice (the site is added at several layers).
func newLogger(c config.Log) (*zap.Logger, error) {
	var level zapcore.Level
	if err := level.UnmarshalText([]byte(c.Level)); err != nil {
		return nil, err
	}
	zc := zap.NewProductionConfig()
	if c.Format == "console" {
		zc = zap.NewDevelopmentConfig()
		zc.DisableStacktrace = true
	}
	zc.Level = zap.NewAtomicLevelAt(level)
	// The agent logs a line per state transition, far below the rate
	// sampling thins (100 alike a second); its counters are 450 KB of
	// live heap for nothing.
	zc.Sampling = nil
	if sdnotify.JournalStream(os.Stderr) {
		// journald stamps every line itself.
		zc.EncoderConfig.TimeKey = ""
	}
	zc.OutputPaths, zc.ErrorOutputPaths = []string{"stderr"}, []string{"stderr"}
	return zc.Build(zap.WrapCore(uniqueFields))
}

// setup is everything `run` and `apply --once` share: the source, the notes,
// the device and the agent.
type setup struct {
	cfg     *config.Config
	log     *zap.Logger
	source  *gitsource.Source
	agent   *agent.Agent
	metrics *metrics.Metrics
	obs     *observer
	// notifier delivers [notify] messages while Run runs (nil: off).
	notifier *notify.Notifier
	close    func()
}

func newSetup(ctx context.Context, cfgPath string) (*setup, error) {
	cfg, err := config.Load(cfgPath)
	if err != nil {
		return nil, err
	}
	log, err := newLogger(cfg.Log)
	if err != nil {
		return nil, err
	}
	// The agent adds the site to its own lines; everything else gets it here.
	agentLog := log
	log = log.With(zap.String("site", cfg.Site))
	var (
		src    agent.Source
		gitSrc *gitsource.Source
		book   agent.Notebook
		own    *notes.Store
	)
	if isPlainDir(cfg.Repo) {
		src = dirSource{dir: cfg.Repo}
		log.Info("repo is a plain directory: no trust checks, notes or history", zap.String("step", "start"))
	} else {
		policyName := signaturePolicy(cfg.Git)
		gitSrc, err = gitsource.Open(ctx, gitsource.Config{
			URL: cfg.Repo, Branch: cfg.Branch, StateDir: cfg.StateDir, Logger: log,
			Auth:  gitsource.AuthConfig{SSHKeyFile: cfg.Git.SSHKeyFile, KnownHostsFile: cfg.Git.KnownHostsFile, TokenFile: cfg.Git.TokenFile, Username: cfg.Git.Username},
			Trust: gitsource.TrustConfig{Policy: policyName, AllowedSignersFile: cfg.Git.AllowedSigners, PGPKeyRingFile: cfg.Git.PGPKeyring},
		})
		if err != nil {
			return nil, err
		}
		newStore := func(site string) (*notes.Store, error) {
			return notes.New(notes.Config{Repo: gitSrc.Repository(), Site: site, RemoteURL: cfg.Repo, Auth: gitSrc.Auth(),
				Wire: gitSrc.Wire(), MinFetchInterval: notes.PeerFetchInterval,
				AuthorName: cfg.Git.NotesAuthor, Logger: log})
		}
		if own, err = newStore(cfg.Site); err != nil {
			return nil, err
		}
		src, book = gitSrc, &notebook.Git{Own: own, Other: newStore}
	}
	dev, prober, closeDev, err := newDevice(cfg, cfgPath, log)
	if err != nil {
		return nil, err
	}
	m := metrics.New(metrics.Options{Site: cfg.Site, Version: version, PollInterval: cfg.PollInterval.Duration})
	obs := &observer{m: m, notes: own, attention: agent.NewAttentionStore(cfg.StateDir),
		wanTraps: agent.NewWANTrapStore(cfg.StateDir)}
	if rd, ok := dev.(*mikrotik.Device); ok {
		obs.apiStats = rd.Stats
	}
	notifier, err := newNotifier(cfg.Notify, log, m)
	if err != nil {
		closeDev()
		return nil, err
	}
	if notifier != nil {
		obs.notify = notifier
	}
	host, _ := os.Hostname()
	a := &agent.Agent{
		Site: cfg.Site, Path: cfg.Path, Source: timedSource{Source: src, m: m}, Device: dev, Prober: prober, Observer: obs,
		Notes: book,
		Clock: agent.RealClock{}, Log: agentLog,
		Journal: agent.NewJournal(cfg.StateDir), States: agent.NewStateStore(cfg.StateDir),
		Gate: agent.GateConfig{Deadline: cfg.Gate.Deadline.Duration, StableWindow: cfg.Gate.StableWindow.Duration,
			HandshakeMaxAge: cfg.Gate.HandshakeMaxAge.Duration},
		Margin:        cfg.Gate.DeadmanMargin.Duration,
		DriftInterval: cfg.DriftInterval.Duration,
		Version:       version, Host: host,
	}
	return &setup{cfg: cfg, log: log, source: gitSrc, agent: a, metrics: m, obs: obs, notifier: notifier, close: closeDev}, nil
}

// newDevice picks the backend: a RouterOS router when [routeros] address
// is set, otherwise this Linux host.
func newDevice(cfg *config.Config, cfgPath string, log *zap.Logger) (agent.Device, agent.Prober, func(), error) {
	switch {
	case cfg.RouterOS.Address != "":
		conn, err := routerOSConn(cfg.RouterOS)
		if err != nil {
			return nil, nil, nil, err
		}
		d := mikrotik.New(mikrotik.Options{Logger: log, Conn: conn, RawMenusAllow: cfg.RouterOS.RawMenusAllow})
		return d, d, func() { _ = d.Close() }, nil
	default:
		d := linuxhost.New(linuxhost.Options{Root: cfg.Linux.Root, KeyDir: cfg.Linux.KeyDir, StateDir: cfg.StateDir,
			BirdSocket: cfg.Linux.BirdSocket, ConfigFile: cfgPath, Log: log})
		return d, d, func() {}, nil
	}
}

func runRun(ctx context.Context, env *cliEnv, args []string) int {
	c := commands["run"]
	fs := newFlags(c, env)
	cfgPath := fs.String("config", "/etc/tether/agent.toml", "agent config file")
	if code, ok := parseFlags(fs, env, args); !ok {
		return code
	}
	limitMemory()
	s, err := newSetup(ctx, *cfgPath)
	if err != nil {
		fmt.Fprintf(env.stderr, "tether run: %v\n", err)
		return 1
	}
	defer s.close()
	kick := make(chan struct{}, 1)
	poke := func() {
		select {
		case kick <- struct{}{}:
		default:
		}
	}
	if s.source != nil {
		go func() {
			for range s.source.Watch(ctx) {
				poke()
			}
		}()
	}
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	defer signal.Stop(hup)
	go func() {
		for {
			select {
			case <-ctx.Done():
				return
			case <-hup:
				s.log.Info("SIGHUP: syncing now", zap.String("step", "kick"))
				poke()
			}
		}
	}()
	if s.cfg.Webhook.Listen != "" {
		secret, err := secret.Read(s.cfg.Webhook.SecretFile)
		if err != nil || secret == "" {
			fmt.Fprintf(env.stderr, "tether run: webhook.secret_file must hold a secret: %v\n", err)
			return 1
		}
		srv := webhook.NewServer(s.cfg.Webhook.Listen, secret, kick)
		go func() {
			if err := srv.ListenAndServe(); err != nil && !errors.Is(err, http.ErrServerClosed) {
				s.log.Error("webhook server stopped", zap.Error(err))
			}
		}()
		defer srv.Close()
	}
	if s.cfg.Metrics.Listen != "" {
		srv, err := s.metrics.Listen(s.cfg.Metrics.Listen)
		if err != nil {
			fmt.Fprintf(env.stderr, "tether run: metrics: %v\n", err)
			return 1
		}
		go func() { _ = srv.Serve(ctx) }()
		s.log.Info("metrics listening", zap.String("step", "start"), zap.String("addr", srv.Addr().String()))
	}
	if s.notifier != nil {
		go s.notifier.Run(ctx)
	}
	notify := sdnotify.FromEnv()
	s.obs.sd, s.obs.states, s.obs.poll = notify, s.agent.States, s.cfg.PollInterval.Duration
	go s.obs.watchdog(ctx, notify, 2*(s.cfg.PollInterval.Duration+10*time.Minute))
	s.log.Info("agent started", zap.String("step", "start"), zap.String("repo", secret.Redact(s.cfg.Repo)), zap.Duration("poll_interval", s.cfg.PollInterval.Duration))
	// READY=1 only once an interrupted transaction is finished or undone
	// (tether.service's TimeoutStartSec allows for it); Run recovers again,
	// which is a no-op after a success and a retry after a failure.
	if o, err := s.agent.Recover(ctx); err != nil {
		s.log.Error("recovery failed", zap.String("step", "recover"), zap.Error(err))
	} else if o != nil {
		s.obs.Synced(o, nil) // metrics and notifications see the recovered outcome
	}
	_ = notify.Ready()
	s.obs.status(nil, time.Now())
	err = s.agent.Run(ctx, s.cfg.PollInterval.Duration, kick)
	_ = notify.Stopping()
	if err != nil && !errors.Is(err, context.Canceled) {
		fmt.Fprintf(env.stderr, "tether run: %v\n", err)
		return 1
	}
	s.log.Info("agent stopped", zap.String("step", "stop"))
	return 0
}

// routerOSConn turns the agent's [routeros] settings into a connection,
// reading the password file. An address without a port gets the API's:
// 8729 for api-ssl, 8728 for plain api.
func routerOSConn(rc config.RouterOS) (mikrotik.Conn, error) {
	if rc.Address == "" {
		return mikrotik.Conn{}, errors.New("routeros.address is required (host:port, 8729 for api-ssl)")
	}
	pw, err := secret.Read(rc.PasswordFile)
	if err != nil {
		return mikrotik.Conn{}, fmt.Errorf("routeros password: %w", err)
	}
	c := mikrotik.Conn{
		Address: rc.Address, Username: rc.Username, Password: pw,
		TLS: rc.TLS == nil || *rc.TLS, CAFile: rc.CAFile, Fingerprint: rc.Fingerprint,
		InsecureSkipVerify: rc.InsecureSkipVerify, Timeout: rc.Timeout.Duration,
	}
	if _, _, err := net.SplitHostPort(c.Address); err != nil {
		port := "8729"
		if !c.TLS {
			port = "8728"
		}
		c.Address = net.JoinHostPort(strings.Trim(c.Address, "[]"), port)
	}
	return c, nil
}

// signaturePolicy maps the agent's [git] settings to the trust policy.
func signaturePolicy(g config.Git) gitsource.SignaturePolicy {
	switch {
	case g.SignedHistory:
		return gitsource.SignAll
	case g.RequireSignatures:
		return gitsource.SignHead
	}
	return gitsource.SignNone
}
