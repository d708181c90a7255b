//go:build unix && !linux

package testenv

import "syscall"

// sysProcAttr puts the child in its own process group, so cleanup can kill
// everything it started. Only Linux has Pdeathsig.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
