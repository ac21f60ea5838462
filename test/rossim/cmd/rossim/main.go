// Command rossim runs the RouterOS API simulator standalone, for demos and
// manual testing of tether against a "router" on loopback. It uses the wall
// clock; with --state it loads the configuration at start (if the file
// exists) and saves it on exit (SIGINT/SIGTERM).
//
//	go run ./test/rossim/cmd/rossim --listen 127.0.0.1:8728 --version 7.22.3 \
//	    --scenario test/rossim/testdata/relay.toml --state /tmp/router.json
//
// With --dataplane linux the router's WireGuard interfaces, addresses,
// static routes, firewall and policy routing become real (wireguard-go,
// ip, nft; see package linuxdp) in the network namespace rossim runs in,
// and its pings are real. That needs
// root and changes the namespace's network configuration, so run it in a
// namespace of its own; --link-names maps RouterOS interfaces to the
// namespace's links:
//
//	ip netns exec home rossim --bare --dataplane linux --link-names ether1=eth0
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"log"
	"os"
	"os/signal"
	"strings"
	"syscall"
	"time"

	"github.com/tether-net/tether/test/rossim"
	"github.com/tether-net/tether/test/rossim/linuxdp"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], nil); err != nil {
		log.Fatal(err)
	}
}

// run serves until ctx ends; ready, if set, gets the listening address.
func run(ctx context.Context, args []string, ready func(addr string)) error {
	fl := flag.NewFlagSet("rossim", flag.ContinueOnError)
	listen := fl.String("listen", "127.0.0.1:8728", "address to serve the API on")
	version := fl.String("version", "7.22.3", "RouterOS version to simulate")
	state := fl.String("state", "", "JSON state file to load at start and save on exit")
	scenario := fl.String("scenario", "", "TOML scenario file (world model and faults)")
	user := fl.String("user", "admin", "API user name")
	password := fl.String("password", "", "API password")
	group := fl.String("group", "full", "the user's group: full, write, read, or a new one with --group-policy")
	groupPolicy := fl.String("group-policy", "", `policies of a new --group, e.g. "api,read,write,test" (docs/routeros.md)`)
	bare := fl.Bool("bare", false, "start without the defconf configuration")
	dataplane := fl.String("dataplane", "", `"linux": realise WireGuard, addresses, routes, firewall and policy routing in this network namespace (root)`)
	linkNames := fl.String("link-names", "", "with --dataplane: RouterOS=Linux interface pairs, e.g. ether1=eth0,ether2=eth1")
	if err := fl.Parse(args); err != nil {
		return err
	}

	cfg := rossim.Config{Version: *version, User: *user, Password: *password, Group: *group, GroupPolicy: *groupPolicy, Bare: *bare, Logf: log.Printf}
	switch *dataplane {
	case "":
		if *linkNames != "" {
			return errors.New("--link-names needs --dataplane")
		}
	case "linux":
		names := map[string]string{}
		for pair := range strings.SplitSeq(*linkNames, ",") {
			if pair == "" {
				continue
			}
			ros, lin, ok := strings.Cut(pair, "=")
			if !ok || ros == "" || lin == "" {
				return fmt.Errorf("--link-names: %q is not ROUTEROS=LINUX", pair)
			}
			names[ros] = lin
		}
		cfg.Dataplane = linuxdp.New(linuxdp.Local(), linuxdp.Options{Logf: log.Printf, LinkNames: names})
	default:
		return fmt.Errorf("--dataplane: %q is not supported (only \"linux\")", *dataplane)
	}
	if *scenario != "" {
		w, f, err := rossim.LoadScenario(*scenario)
		if err != nil {
			return err
		}
		cfg.World, cfg.Faults = w, f
	}
	sim, err := rossim.New(cfg)
	if err != nil {
		if cfg.Dataplane != nil {
			cfg.Dataplane.Close()
		}
		return err
	}
	if *state != "" {
		if err := sim.LoadStateFile(*state); err != nil && !errors.Is(err, fs.ErrNotExist) {
			sim.Close()
			return err
		}
	}
	if err := sim.Start(*listen); err != nil {
		sim.Close()
		return err
	}
	log.Printf("rossim: RouterOS %s API on %s (user %q)", *version, sim.Addr(), *user)
	if ready != nil {
		ready(sim.Addr())
	}

	tick := time.NewTicker(time.Second)
	defer tick.Stop()
	for {
		select {
		case <-tick.C:
			sim.Tick() // schedulers fire even when no client is talking
		case <-ctx.Done():
			if err := sim.Close(); err != nil {
				log.Printf("rossim: close: %v", err)
			}
			st := sim.Stats()
			log.Printf("rossim: %d connections, %d commands, %d writes", st.Connections, st.Commands, st.Writes)
			if *state != "" {
				return sim.SaveStateFile(*state)
			}
			return nil
		}
	}
}
