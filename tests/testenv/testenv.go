// Package testenv starts the real components the integration tests run
// against: moto_server (Secrets Manager, DynamoDB, CloudFormation, Cognito)
// and the built binaries (the bootstrap under aws-lambda-rie, local mode,
// the doctor). The identity provider, Sentiance and Secrets Manager
// stand-ins are the developer tools' own (devtools/devidp, devsentiance,
// devsecrets), shared with local mode.
//
// Everything listens on 127.0.0.1, every process and server is stopped by
// t.Cleanup, and every wait has a deadline, so a broken component fails a
// test instead of hanging it.
package testenv

import (
	"bytes"
	"log/slog"
	"math/rand/v2"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sentiance-authcode/backend/internal/app"
)

// FreePort returns a TCP port that was free on 127.0.0.1 a moment ago, for
// child processes that must be told their port up front (in-process servers
// listen on port 0 instead). It picks below the ephemeral range (32768 and up
// on Linux, 49152 on macOS), where port-0 listeners and outgoing connections
// of this and any other test run land: one of them could take a port handed
// out from that range before the child binds it.
func FreePort(t testing.TB) int {
	t.Helper()
	for range 100 {
		port := 20000 + rand.IntN(12000)
		l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(port))
		if err != nil {
			continue // taken
		}
		if err := l.Close(); err != nil {
			t.Fatalf("testenv: releasing port %d: %v", port, err)
		}
		return port
	}
	t.Fatal("testenv: no free port among 100 tries in 20000-31999")
	return 0
}

// SyncBuffer is an io.Writer that several goroutines (a logger, a child
// process's output copiers) may write while a test reads it.
type SyncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p.
func (b *SyncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// String returns everything written so far.
func (b *SyncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// tail returns at most the last n bytes written, for failure messages.
func (b *SyncBuffer) tail(n int) string {
	s := b.String()
	if len(s) > n {
		s = "..." + s[len(s)-n:]
	}
	return s
}

// CaptureLogs returns a JSON logger at Debug level that writes into the
// returned buffer, so a test can check what the code under test logs (and
// that it logs no secrets). The captured lines are printed if the test fails.
func CaptureLogs(t testing.TB) (*slog.Logger, *SyncBuffer) {
	t.Helper()
	buf := &SyncBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("captured logs:\n%s", buf.String())
		}
	})
	return slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug})), buf
}

// AssertNoLeak reports an error for every non-empty secret that appears in
// text. The message names the secret by position and shape and shows only its
// length and first few characters, so the failure output does not repeat the
// leak.
func AssertNoLeak(t testing.TB, text string, secrets ...string) {
	t.Helper()
	for i, s := range secrets {
		if s == "" {
			continue
		}
		if n := strings.Count(text, s); n > 0 {
			t.Errorf("testenv: secret #%d (%s, %d chars, starts %q) appears %d time(s) in the text",
				i+1, secretKind(s), len(s), s[:min(4, len(s)/2)], n)
		}
	}
}

// secretKind guesses what a secret is from its shape, to make a leak report
// readable without printing the secret.
func secretKind(s string) string {
	switch {
	case strings.HasPrefix(s, "eyJ") && strings.Count(s, ".") == 2:
		return "JWT"
	case len(s) == 128 && strings.Trim(s, "0123456789abcdef") == "":
		return "Sentiance authentication code"
	case strings.Count(s, ".") == 1:
		return "API key"
	default:
		return "secret"
	}
}

// RepoRoot is the repository's root, the product module's directory: the
// parent of this module's, found by walking up from the working directory
// FunctionVariables are the environment variables app.Load reads, in the
// order it reads them: recorded, so no list in the code can drift from it.
func FunctionVariables(t testing.TB) []string {
	t.Helper()
	var names []string
	_, err := app.Load(func(name string) string {
		if !slices.Contains(names, name) {
			names = append(names, name)
		}
		if name == "USER_LINK_SECRET_ID" {
			return "recording" // required: without it Load stops early
		}
		return ""
	})
	if err != nil || len(names) < 10 {
		t.Fatalf("app.Load read %v and said %v; the recording proves nothing", names, err)
	}
	return names
}

// (go test runs each package in its own directory).
func RepoRoot(t testing.TB) string {
	t.Helper()
	return filepath.Dir(testsRoot(t))
}

// testsRoot is the directory holding this module's go.mod.
func testsRoot(t testing.TB) string {
	t.Helper()
	dir, err := os.Getwd()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			t.Fatalf("testenv: no go.mod above the working directory")
		}
		dir = parent
	}
}

// waitFor polls ready every 50 ms until it returns true, the process p (if
// any) exits, or the timeout passes. It fails the test in the last two cases,
// showing the tail of the process's output.
func waitFor(t testing.TB, what string, timeout time.Duration, p *process, ready func() bool) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		if ready() {
			return
		}
		if p != nil && p.exited() {
			t.Fatalf("testenv: %s exited before it was ready (%v); output:\n%s", what, p.err, p.out.tail(4000))
		}
		if time.Now().After(deadline) {
			var out string
			if p != nil {
				out = p.out.tail(4000)
			}
			t.Fatalf("testenv: %s not ready after %v; output:\n%s", what, timeout, out)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// Poll calls ready every 20 ms until it reports true, and fails the test
// if that takes longer than timeout: for a test waiting on something it can
// observe, instead of sleeping for a time it would have to guess.
func Poll(t testing.TB, what string, timeout time.Duration, ready func() bool) {
	t.Helper()
	for deadline := time.Now().Add(timeout); !ready(); time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("testenv: %s: not after %v", what, timeout)
		}
	}
}

// portOpen reports whether something accepts TCP connections on addr.
func portOpen(addr string) bool {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return false
	}
	c.Close()
	return true
}
