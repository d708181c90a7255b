package testenv

import (
	"context"
	"regexp"
	"testing"
	"time"

	"github.com/sentiance-authcode/backend/devtools/local"
)

// Local is local mode running in this process (local.Run), as `make run`
// runs it, with exactly the environment it was given.
type Local struct {
	URL            string
	Stdout, Stderr *SyncBuffer // logs, banner
}

// RunLocal starts local mode with env (LOCAL_ADDR defaults to a free
// loopback port) and waits until it serves; it stops, and must stop
// cleanly, when the test ends.
func RunLocal(t testing.TB, env map[string]string) *Local {
	t.Helper()
	if _, ok := env["LOCAL_ADDR"]; !ok {
		env["LOCAL_ADDR"] = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	l := &Local{Stdout: &SyncBuffer{}, Stderr: &SyncBuffer{}}
	ready, done := make(chan string, 1), make(chan error, 1)
	go func() {
		done <- local.Run(ctx, local.Options{
			Getenv: func(k string) string { return env[k] }, Stdout: l.Stdout, Stderr: l.Stderr,
			Ready: func(u string) { ready <- u },
		})
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case err := <-done:
			if err != nil {
				t.Errorf("testenv: local.Run: %v", err)
			}
		case <-time.After(local.ShutdownTimeout + 5*time.Second):
			t.Error("testenv: local.Run did not stop")
		}
		if t.Failed() {
			t.Logf("local mode output:\n%s%s", l.Stderr, l.Stdout)
		}
	})
	select {
	case l.URL = <-ready:
	case err := <-done:
		t.Fatalf("testenv: local.Run returned before serving: %v\n%s", err, l.Stderr)
	case <-time.After(15 * time.Second):
		t.Fatal("testenv: local mode did not serve within 15 s")
	}
	return l
}

// TokenLine matches the demo user's token in local mode's banner.
var TokenLine = regexp.MustCompile(`(?m)^(eyJ[\w-]+\.[\w-]+\.[\w-]+)$`)

// Token is the demo user's token the banner printed.
func (l *Local) Token(t testing.TB) string {
	t.Helper()
	m := TokenLine.FindStringSubmatch(l.Stderr.String())
	if m == nil {
		t.Fatalf("testenv: no token in local mode's banner:\n%s", l.Stderr)
	}
	return m[1]
}
