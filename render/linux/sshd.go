package linux

import (
	"cmp"
	"strings"
)

// SSHDPath is the sshd drop-in [management.ssh] renders. sshd keeps the
// first value it reads for a keyword and reads sshd_config.d in name order,
// so 00- sorts before the distribution's and cloud-init's drop-ins (which
// may say PasswordAuthentication yes).
const SSHDPath = "/etc/ssh/sshd_config.d/00-tether.conf"

// sshd renders [management.ssh] as an sshd drop-in, activated by reloading
// the ssh unit when it runs: a reload makes sshd re-read its config for new
// connections and keeps the sessions already open, the operator's included;
// dropping the section reloads without the file and never stops sshd.
func (r *renderer) sshd() {
	s := r.s.Management.SSH
	if s == nil {
		return
	}
	var b buf
	b.WriteString(header("#", r.s.Name))
	if s.Port != 0 {
		b.line(0, "Port %d", s.Port)
	}
	for _, a := range s.ListenAddresses {
		b.line(0, "ListenAddress %s", a)
	}
	if s.PasswordAuthentication != nil {
		b.line(0, "PasswordAuthentication %s", yesNo(*s.PasswordAuthentication))
		if !*s.PasswordAuthentication {
			// Keyboard-interactive is PAM's password prompt by another name.
			b.line(0, "KbdInteractiveAuthentication no")
		}
	}
	if s.PermitRootLogin != "" {
		b.line(0, "PermitRootLogin %s", s.PermitRootLogin)
	}
	if s.MaxAuthTries > 0 {
		b.line(0, "MaxAuthTries %d", s.MaxAuthTries)
	}
	if len(s.AllowUsers) > 0 {
		b.line(0, "AllowUsers %s", strings.Join(s.AllowUsers, " "))
	}
	r.add(File{Path: SSHDPath, Mode: 0o644, Content: b.Bytes(),
		Activate: Action{Kind: ActServiceConfig, Target: unitName(cmp.Or(s.Unit, "ssh"))}})
}

func yesNo(v bool) string {
	if v {
		return "yes"
	}
	return "no"
}
