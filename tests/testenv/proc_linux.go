package testenv

import "syscall"

// sysProcAttr puts the child in its own process group (so cleanup can kill
// everything it started) and has the kernel kill it if the test binary dies
// without running cleanups (a -timeout panic, os.Exit, SIGKILL).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
