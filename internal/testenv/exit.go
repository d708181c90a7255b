package testenv

import (
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// CheckOneLineExit runs cmd with env (space-separated NAME=value, plus
// PATH) and expects it to stop at once with exit code 2 and exactly one
// line on stderr containing want. The commands' promise: a bad setting or
// a wrong start is one line a person can act on, never a stack trace.
func CheckOneLineExit(t testing.TB, cmd *exec.Cmd, env, want string) {
	t.Helper()
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, strings.Fields(env)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	done := make(chan error, 1)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	go func() { done <- cmd.Wait() }()
	var err error
	select {
	case err = <-done:
	case <-time.After(10 * time.Second):
		_ = cmd.Process.Kill()
		<-done
		t.Fatalf("%s did not exit within 10 s; stderr %q", cmd.Path, stderr.String())
	}
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("err = %v, want exit code 2; stderr %q", err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], want) {
		t.Fatalf("stderr = %q, want one line containing %q", stderr.String(), want)
	}
}
