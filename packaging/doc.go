// Package packaging holds what installs and runs the agent on a host: the
// systemd units (tether.service for a Linux site, tether-routeros.service
// for an unprivileged RouterOS companion), tmpfiles.d, the example agent
// config, the .deb build (build-deb.sh) and the RouterOS API user script.
//
// It has no Go code of its own; its tests check those files with the real
// tools — systemd-analyze verify and security, systemd-tmpfiles, dpkg-deb,
// and an install/purge of the built .deb into a throwaway dpkg root — and
// check that agent.toml.example documents exactly the keys agent/config
// accepts, with the defaults it applies.
package packaging
