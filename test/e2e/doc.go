// Package e2e holds tether's end-to-end scenarios: a local bare Git repo is
// the remote, commits are pushed with the git CLI as an operator would, and
// real `tether run` agents (the binary, built once by TestMain) apply them —
// to in-process RouterOS API simulators (test/rossim; no root needed), or to
// Linux lab hosts (test/lab; root, wireguard-go, nftables, radvd,
// keepalived), each agent running inside its own host. The scenarios assert
// on what an operator sees: the devices' state, the traffic, and the notes
// in refs/notes/tether/<site> of the remote, parsed with agent/notes.
//
// Every scenario is bounded by a context deadline and removes what it
// created. It does not test units of the agent (their own packages do) and
// has no exported API: everything lives in the _test files.
package e2e
