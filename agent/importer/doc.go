// Package importer turns what a router or host already runs into a tether
// site file: RouterOS rows read through the API (or Linux wg-quick, sysctl
// and nftables files) become a policy.Site, plus the links and external
// peers its WireGuard peers imply, written as TOML in the examples' style.
//
// The conversion is pure: it takes rows or file contents and returns the
// model and the files' bytes. Reading the router is the caller's (Read takes
// a reader seam); nothing here writes to a device or the disk. Secrets are
// never read: the menus are printed with a .proplist that leaves
// private-key and preshared-key out, and the output names the key files the
// operator must provide instead.
package importer
