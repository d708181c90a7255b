package testenv

import (
	"os"
	"strconv"
	"strings"
)

// FunctionPID returns the process id of the function the emulator started
// (the executable named bootstrap), or 0 while none runs, so a benchmark can
// read its memory from /proc. Linux only: elsewhere it returns 0.
func (l *Lambda) FunctionPID() int {
	if l.proc.exited() {
		return 0
	}
	for _, pid := range descendants(l.proc.cmd.Process.Pid) {
		comm, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/comm")
		if err == nil && strings.TrimSpace(string(comm)) == "bootstrap" {
			return pid
		}
	}
	return 0
}
