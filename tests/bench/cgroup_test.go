package bench

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// cgroupCPU is the cgroup-v1 CPU controller (see the background notes: these
// machines run the tests as root with it writable).
const cgroupCPU = "/sys/fs/cgroup/cpu"

// lambdaFullCoreMB is the memory size at which Lambda gives a function one
// full vCPU; below it, CPU is in proportion to memory.
const lambdaFullCoreMB = 1769

// cfsPeriod is the CFS period the quota is a share of.
const cfsPeriod = 100_000 // µs

// cpuGroup is a cgroup with the CPU share Lambda gives mb megabytes. Only
// processes started through wrap land in it: never the test binary.
type cpuGroup struct {
	dir string
	mb  int
}

// newCPUGroup creates the group and registers its removal with t.Cleanup,
// which runs even when the test fails. A cgroup tree that cannot be written
// fails the test with one message: the figures would be meaningless without
// the quota.
func newCPUGroup(t testing.TB, mb int) *cpuGroup {
	t.Helper()
	dir := filepath.Join(cgroupCPU, fmt.Sprintf("coldbench-%d-%dmb-%d", os.Getpid(), mb, time.Now().UnixNano()))
	if err := os.Mkdir(dir, 0o755); err != nil {
		t.Fatalf("emulating Lambda's CPU share needs a writable cgroup-v1 CPU controller at %s (run as root on a cgroup-v1 host): %v", cgroupCPU, err)
	}
	g := &cpuGroup{dir: dir, mb: mb}
	t.Cleanup(func() {
		if err := g.remove(50, 20*time.Millisecond); err != nil {
			t.Errorf("removing cgroup %s: %v", dir, err)
		}
	})
	quota := cfsPeriod * min(mb, lambdaFullCoreMB) / lambdaFullCoreMB
	for file, v := range map[string]int{"cpu.cfs_period_us": cfsPeriod, "cpu.cfs_quota_us": quota} {
		if err := os.WriteFile(filepath.Join(dir, file), []byte(strconv.Itoa(v)), 0o644); err != nil {
			t.Fatalf("setting %s of %s: %v", file, dir, err)
		}
	}
	return g
}

// remove moves every task still in the group back to the root group and
// removes the group, trying up to tries times, wait apart (a process that is
// exiting may linger in tasks for a moment).
func (g *cpuGroup) remove(tries int, wait time.Duration) error {
	var err error
	for range tries {
		raw, rerr := os.ReadFile(filepath.Join(g.dir, "tasks"))
		if errors.Is(rerr, fs.ErrNotExist) {
			return nil
		}
		for _, pid := range strings.Fields(string(raw)) {
			_ = os.WriteFile(filepath.Join(cgroupCPU, "tasks"), []byte(pid), 0o644) // gone already: fine
		}
		if err = os.Remove(g.dir); err == nil || errors.Is(err, fs.ErrNotExist) {
			return nil
		}
		time.Sleep(wait)
	}
	return err
}

// wrap writes a script that moves itself into the group and then becomes
// bin, so aws-lambda-rie's child (or any child started with it) runs in the
// quota alone while its parent stays outside.
func (g *cpuGroup) wrap(t testing.TB, bin string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "in-quota")
	script := "#!/bin/sh\necho $$ > " + shellQuote(filepath.Join(g.dir, "cgroup.procs")) + " || exit 97\nexec " + shellQuote(bin) + "\n"
	if err := os.WriteFile(path, []byte(script), 0o755); err != nil {
		t.Fatal(err)
	}
	return path
}

func shellQuote(s string) string { return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'" }

// cpuOf is the CPU time pid has used so far: the first field of each
// thread's schedstat (nanoseconds, finer than clock ticks), summed.
func cpuOf(t testing.TB, pid int) time.Duration {
	t.Helper()
	files, _ := filepath.Glob("/proc/" + strconv.Itoa(pid) + "/task/*/schedstat")
	if len(files) == 0 {
		t.Fatalf("no schedstat for pid %d", pid)
	}
	var sum time.Duration
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			continue // the thread ended
		}
		if fields := strings.Fields(string(raw)); len(fields) > 0 {
			ns, _ := strconv.ParseInt(fields[0], 10, 64)
			sum += time.Duration(ns)
		}
	}
	return sum
}
