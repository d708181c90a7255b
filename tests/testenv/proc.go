package testenv

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// process is a child process in its own process group, with its stdout and
// stderr captured in out.
type process struct {
	cmd  *exec.Cmd
	out  *SyncBuffer
	done chan struct{} // closed once the process has exited and err is set
	err  error
}

// startProcess starts name with args. env nil means the test's environment.
// The caller must arrange for kill to run (t.Cleanup).
func startProcess(t testing.TB, out *SyncBuffer, dir string, env []string, name string, args ...string) *process {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Dir = dir
	cmd.Env = env
	cmd.Stdout = out
	cmd.Stderr = out
	cmd.SysProcAttr = sysProcAttr()
	// A grandchild that inherited the output pipe must not keep Wait blocked.
	cmd.WaitDelay = 2 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatalf("testenv: starting %s: %v", name, err)
	}
	p := &process{cmd: cmd, out: out, done: make(chan struct{})}
	go func() {
		p.err = cmd.Wait()
		close(p.done)
	}()
	return p
}

func (p *process) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// kill stops the process, its process group and every descendant that moved
// to a group of its own (aws-lambda-rie starts the bootstrap with Setpgid, so
// killing the emulator's group alone would leave the bootstrap running until
// its invocation ends). It waits at most a few seconds for the exit.
func (p *process) kill(t testing.TB) {
	t.Helper()
	if p.exited() {
		return
	}
	pid := p.cmd.Process.Pid
	// Freeze the group first so nobody forks while we collect the tree.
	_ = syscall.Kill(-pid, syscall.SIGSTOP)
	groups := []int{pid}
	for _, c := range descendants(pid) {
		if pgid, err := syscall.Getpgid(c); err == nil && pgid != pid {
			groups = append(groups, pgid)
		}
	}
	for _, g := range groups {
		_ = syscall.Kill(-g, syscall.SIGKILL)
	}
	select {
	case <-p.done:
	case <-time.After(5 * time.Second):
		t.Errorf("testenv: %s (pid %d) did not exit within 5s of SIGKILL", p.cmd.Path, pid)
	}
}

// descendants lists the processes below pid by reading /proc (Linux). Where
// there is no /proc it returns nothing, and only the process group is killed.
func descendants(pid int) []int {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	children := map[int][]int{}
	for _, f := range stats {
		b, err := os.ReadFile(f)
		if err != nil {
			continue // the process is gone
		}
		// Format: "pid (comm) state ppid ..."; comm may hold spaces and ')'.
		s := string(b)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		fields := strings.Fields(s[i+1:])
		if len(fields) < 2 {
			continue
		}
		child, err1 := strconv.Atoi(strings.Fields(s)[0])
		parent, err2 := strconv.Atoi(fields[1])
		if err1 == nil && err2 == nil {
			children[parent] = append(children[parent], child)
		}
	}
	var out []int
	queue := []int{pid}
	for len(queue) > 0 {
		next := queue[0]
		queue = queue[1:]
		for _, c := range children[next] {
			out = append(out, c)
			queue = append(queue, c)
		}
	}
	return out
}
