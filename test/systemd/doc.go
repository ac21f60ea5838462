// Package systemd is a test bed that runs tether under a real systemd: a
// minimal Debian bookworm root (debootstrap, cached) booted with
// systemd-nspawn in a network namespace of its own, with the freshly built
// .deb installed. The machines this suite runs on do not have systemd as
// PID 1, so this is where Type=notify readiness, the watchdog, clean stops,
// enabled units and reboots are checked against systemd itself rather than
// fakes.
//
// # Lifecycle
//
// Root returns the cached root file system, building it on first use under
// /var/cache/tether-test (keyed by suite, mirror and package list, so a
// changed list builds a new root; a fresh machine builds it from scratch).
// Boot mounts an overlay on it (the cache is never written), creates a
// network namespace, starts `systemd-nspawn --register=no --keep-unit -b`
// and waits for `systemctl is-system-running` to say running. Commands run
// inside with `nsenter -t <container init> -a`. Cleanup halts the container
// (SIGTERM to nspawn, then SIGKILL), unmounts the overlay and deletes the
// namespace; nothing is left behind.
//
// Tests need root, debootstrap, systemd-nspawn and nsenter; without them
// they are skipped with the reason, except on CI as root, where a missing
// tool is a failure (as test/lab's Require).
package systemd
