package rossim

// /ip/ssh is a settings menu (print has no .id; set takes no numbers), like
// /ip/dns. Its attribute names come from the schema of each version: 7.22
// replaced always-allow-password-login with password-authentication
// (yes | no | yes-if-no-key), so a set of the wrong one traps on the other
// line. See CONFORMANCE.md S1.
func init() {
	specs["/ip/ssh"] = menuSpec{singleton: true}
}

// initSSH puts the /ip/ssh settings row of the simulated version.
func (s *Sim) initSSH() {
	row := map[string]string{"forwarding-enabled": "no", "strong-crypto": "false", "host-key-type": "rsa", "host-key-size": "2048"}
	if s.tree.HasArg("/ip/ssh", "set", "password-authentication") {
		row["password-authentication"] = "yes-if-no-key"
	} else {
		row["always-allow-password-login"] = "false"
	}
	s.put("/ip/ssh", row)
}
