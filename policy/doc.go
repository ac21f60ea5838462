// Package policy is tether's intent model: the TOML schema of a network
// folder (network.toml, sites/, links/, peers/), its strict loader, semantic
// validation and lint rules.
//
// Load decodes every file strictly (unknown keys are errors, with the closest
// valid key suggested), parses values into typed forms (netip prefixes and
// addresses, WireGuard keys, endpoints, durations), validates the network as a
// whole and reports every problem at once with file:line:col and a field path.
// On success it fills in defaults, so renderers never guess.
//
// policy does no I/O of its own: it reads through an io/fs.FS the caller
// provides, returns warnings as data, and imports no os, net or logger
// packages (a test enforces this). Rendering lives in render/, side effects
// in agent/.
package policy
