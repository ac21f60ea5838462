// Package gitsource keeps a site agent's view of the config repository: a
// full (non-shallow) bare clone in the agent's state dir, a cheap poll that
// lists only the watched branch (package wire: protocol v2 where the server
// speaks it) and fetches only when it moved, an
// fsnotify watch for repositories on the local filesystem, the trust checks
// a new commit must pass (fast-forward only, optional SSH or OpenPGP
// signatures against an allowed-signers list from the agent's local config)
// and read-only access to a commit's network folder as an io/fs.FS, read
// straight from the object store without a checkout.
//
// It does not decide what to apply, remember which commit was accepted (the
// caller's journal does), or write anything to the remote; notes live in
// package notes. It never prints credentials: URLs are stripped of userinfo
// before they reach an error or a log line.
package gitsource
