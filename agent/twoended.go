package agent

import "github.com/tether-net/tether/policy"

// TwoEndedLinks is the agent's own judgement of which links of site a
// change from prev to n reaches at the far end (see twoEndedLinks), for
// tools that review a change before any agent sees it (`tether diff`).
func TwoEndedLinks(prev, n *policy.Network, site string) map[string]bool {
	return twoEndedLinks(prev, n, site)
}
