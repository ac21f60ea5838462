package lab

import "syscall"

// sysProcAttr puts every child in its own process group (so it can be
// killed with its helpers, and a terminal's Ctrl-C reaches our signal
// handler rather than racing it) and asks the kernel to SIGKILL it when the
// test process dies without cleaning up (SIGKILL, -timeout panic). The death
// signal is tied to the OS thread that started the child; the Go runtime
// does not retire threads except those locked with LockOSThread, which the
// lab never uses. It is not inherited across fork, so daemons that
// background themselves are left for Close or Sweep.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
