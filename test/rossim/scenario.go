package rossim

import (
	"fmt"
	"time"

	"github.com/BurntSushi/toml"
)

// Scenario is the --scenario TOML file: the world plus optional faults.
//
//	[[far-end]]
//	name = "relay"
//	public-key = "…"
//	accept-any-key = true
//	endpoint-address = "198.51.100.7"
//	endpoint-port = 51820
//	transit-address = "fd00:1::1"
//	asn = 65001
//	announces = ["2001:db8:100::/48"]
//	handshake-after = "5s"
//
//	[faults]
//	drop-after = 10
type Scenario struct {
	World  `toml:",inline"`
	Faults struct {
		DropAfter int            `toml:"drop-after"`
		Latency   Duration       `toml:"latency"`
		Traps     []TrapRuleTOML `toml:"trap"`
	} `toml:"faults"`
}

// TrapRuleTOML is a TrapRule in a scenario file.
type TrapRuleTOML struct {
	Menu    string `toml:"menu"`
	Command string `toml:"command"`
	Message string `toml:"message"`
	Times   int    `toml:"times"`
}

// LoadScenario reads a scenario TOML file; unknown keys are errors.
func LoadScenario(path string) (World, Faults, error) {
	var sc Scenario
	md, err := toml.DecodeFile(path, &sc)
	if err != nil {
		return World{}, Faults{}, fmt.Errorf("rossim: scenario %s: %w", path, err)
	}
	if und := md.Undecoded(); len(und) > 0 {
		return World{}, Faults{}, fmt.Errorf("rossim: scenario %s: unknown keys %v", path, und)
	}
	f := Faults{DropAfter: sc.Faults.DropAfter, Latency: time.Duration(sc.Faults.Latency)}
	for _, t := range sc.Faults.Traps {
		f.Traps = append(f.Traps, TrapRule(t))
	}
	return sc.World, f, nil
}
