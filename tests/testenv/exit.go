package testenv

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"
)

// CheckOneLineExit runs the command name args with env (space-separated
// NAME=value, plus PATH) and expects it to stop at once with exit code 2 and
// exactly one line on stderr containing want: a bad setting or a wrong start
// is one line a person can act on. A command still running after 10 s is
// killed and fails the test.
func CheckOneLineExit(t testing.TB, env, want, name string, args ...string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.Env = append([]string{"PATH=" + os.Getenv("PATH")}, strings.Fields(env)...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if !errors.As(err, &exit) || exit.ExitCode() != 2 {
		t.Fatalf("%s: err = %v, want exit code 2; stderr %q", name, err, stderr.String())
	}
	lines := strings.Split(strings.TrimSpace(stderr.String()), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], want) {
		t.Fatalf("stderr = %q, want one line containing %q", stderr.String(), want)
	}
}
