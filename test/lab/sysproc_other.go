//go:build unix && !linux

package lab

import "syscall"

// sysProcAttr: see sysproc_linux.go. Only Linux has namespaces, so this
// exists only to keep the package compiling elsewhere; Available reports the
// lab as unusable.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
