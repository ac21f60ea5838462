package linuxdp

import "syscall"

// sysProcAttr: own process group; SIGKILL when the simulator dies, so a
// crashed run leaves no wireguard-go behind.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
