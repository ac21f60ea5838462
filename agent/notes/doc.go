// Package notes records what each site agent did with each commit, as Git
// notes: one notes ref per site (refs/notes/tether/<site>), whose note for a
// config commit is a TOML document with one [[attempt]] table per attempt,
// so `git log --notes='tether/*'` reads as the fleet's audit history and
// `tether history` parses it back.
//
// Notes are written with go-git plumbing (blobs, fan-out-aware trees and
// commits; no git CLI), kept in the local clone first, and published with a
// compare-and-swap push that merges when another writer got there first. The
// remote's notes are fetched into a separate namespace
// (refs/tether-remote/notes/<site>) so a fetch can never overwrite a note
// that is not published yet; an unpublished note is pushed by the next Push.
// A store fetches and pushes only its own site's ref, and FetchSites reads
// named sites, so no operation costs more as the fleet grows.
//
// The package does not decide outcomes or run checks; it stores and reads
// what the transaction reports. Each site writes only its own ref.
package notes
