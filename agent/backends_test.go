package agent_test

import (
	"github.com/tether-net/tether/agent"
	"github.com/tether-net/tether/agent/linuxhost"
	"github.com/tether-net/tether/agent/mikrotik"
)

// The backends meet the loop's interfaces without importing the loop, so
// the check that they do lives here.
var (
	_ agent.Device   = (*mikrotik.Device)(nil)
	_ agent.Prober   = (*mikrotik.Device)(nil)
	_ agent.Provoker = (*mikrotik.Device)(nil)
	_ agent.Device   = (*linuxhost.Device)(nil)
	_ agent.Prober   = (*linuxhost.Prober)(nil)
	_ agent.Provoker = (*linuxhost.Prober)(nil)
	_ agent.Provoker = (*linuxhost.Device)(nil)
)
