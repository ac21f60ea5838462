package linuxdp

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"slices"
	"strconv"
	"strings"

	"github.com/tether-net/tether/test/rossim"
)

// applyFirewall loads the nftables table for cfg's firewall when it
// differs from the one loaded last.
func (d *Dataplane) applyFirewall(ctx context.Context, cfg rossim.DataplaneConfig) error {
	text, warns := nftRuleset(cfg, d.linkName)
	d.warnOnce(warns)
	return d.loadNFT(ctx, text)
}

// loadNFT replaces the table NFTable by text ("" deletes it) in one
// transaction: declaring the table first makes the delete succeed when
// it does not exist yet, so packets never see a half-built firewall.
func (d *Dataplane) loadNFT(ctx context.Context, text string) error {
	if text == d.nft {
		return nil
	}
	prog := fmt.Sprintf("table inet %s\ndelete table inet %s\n%s", NFTable, NFTable, text)
	f, err := os.CreateTemp("", "rossim-nft-*")
	if err != nil {
		return fmt.Errorf("linuxdp: nft file: %w", err)
	}
	defer os.Remove(f.Name())
	_, werr := f.WriteString(prog)
	if err := errors.Join(werr, f.Close()); err != nil {
		return fmt.Errorf("linuxdp: nft file: %w", err)
	}
	if err := d.run(ctx, "nft", "-f", f.Name()); err != nil {
		d.nft = "\x00" // unknown: load again next time
		return fmt.Errorf("linuxdp: firewall: %w", err)
	}
	d.nft = text
	return nil
}

// applyRules makes the ip rules Apply owns (protocol RouteProto) match
// cfg's routing rules and tables; when anything differs from the last
// Apply they are all replaced.
func (d *Dataplane) applyRules(ctx context.Context, cfg rossim.DataplaneConfig) error {
	want, warns := ipRules(cfg, d.linkName)
	d.warnOnce(warns)
	lines := make([]string, 0, len(want))
	for _, w := range want {
		lines = append(lines, strings.Join(w, " "))
	}
	if d.rules != nil && slices.Equal(lines, d.rules) {
		return nil
	}
	d.rules = nil
	if err := d.deleteRules(ctx); err != nil {
		return err
	}
	var errs []error
	for _, w := range want {
		if err := d.run(ctx, "ip", w...); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) == 0 {
		d.rules = lines
	}
	return errors.Join(errs...)
}

// deleteRules removes every ip rule of protocol RouteProto.
func (d *Dataplane) deleteRules(ctx context.Context) error {
	var errs []error
	for _, fam := range []string{"-4", "-6"} {
		out, err := d.r.Run(ctx, "ip", "-j", fam, "rule", "show")
		if err != nil {
			errs = append(errs, err)
			continue
		}
		prios, err := parseOwnedRules(out)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, p := range prios {
			if err := d.run(ctx, "ip", fam, "rule", "del", "priority", strconv.Itoa(p), "protocol", strconv.Itoa(RouteProto)); err != nil {
				errs = append(errs, err)
			}
		}
	}
	return errors.Join(errs...)
}

// parseOwnedRules reads `ip -j rule show`: the priorities of the rules of
// protocol RouteProto, one entry per rule.
func parseOwnedRules(out []byte) ([]int, error) {
	var rs []struct {
		Priority int    `json:"priority"`
		Protocol string `json:"protocol"`
	}
	if err := json.Unmarshal(out, &rs); err != nil {
		return nil, fmt.Errorf("linuxdp: ip rule: %w", err)
	}
	var prios []int
	for _, r := range rs {
		if r.Protocol == strconv.Itoa(RouteProto) {
			prios = append(prios, r.Priority)
		}
	}
	return prios, nil
}

// warnOnce logs each message the first time it appears: a configuration
// the dataplane cannot realise is reported, not retried.
func (d *Dataplane) warnOnce(msgs []string) {
	for _, m := range msgs {
		if !d.warned[m] {
			d.warned[m] = true
			d.logf("linuxdp: %s", m)
		}
	}
}
