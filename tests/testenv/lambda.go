package testenv

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"maps"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// builds caches BuildBootstrap's results for the life of the test binary, so
// the tests of one package link each bootstrap once. It is the package's only
// mutable global.
var builds struct {
	sync.Mutex
	paths map[string]string // "<module root>\x00<pkg>" -> bootstrap path
}

// BuildBootstrap builds the Lambda in pkg (a path relative to the
// repository's root, e.g. "./functions/authcode" or, in this module,
// "./tests/bench/floor/hello") as the deployment does (static, no RPC
// shim, trimmed paths) for the host, and returns the path of the executable,
// named bootstrap.
//
// The binary goes to a directory under os.TempDir named after the module root
// and pkg, and is never deleted: there is no hook that runs when the test
// binary ends, and a fixed place means repeated runs overwrite one file
// instead of leaving one more behind each time. Concurrent test binaries do
// not clash because each links to a temporary name and renames it into place.
func BuildBootstrap(t testing.TB, pkg string) string {
	t.Helper()
	root := RepoRoot(t)
	key := root + "\x00" + pkg
	builds.Lock()
	defer builds.Unlock()
	if p, ok := builds.paths[key]; ok {
		return p
	}
	sum := sha256.Sum256([]byte(key))
	dir := filepath.Join(os.TempDir(), "testenv-bootstrap", hex.EncodeToString(sum[:8]))
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	tmp, err := os.CreateTemp(dir, "bootstrap-*.tmp")
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	tmp.Close()
	defer os.Remove(tmp.Name()) // only still there if the build failed

	// Same flags as the Makefile's LAMBDA_GOFLAGS, plus -buildvcs=false so a
	// checkout without commits (or without git) builds too. No deadline of
	// its own: a cold build cache on a busy machine takes minutes, and go
	// test's -timeout bounds the whole run.
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false",
		"-tags", "lambda.norpc", "-ldflags", "-s -w", "-o", tmp.Name(), pkg)
	cmd.Dir = root
	if rest, ok := strings.CutPrefix(pkg, "./tests/"); ok {
		cmd.Dir, cmd.Args[len(cmd.Args)-1] = filepath.Join(root, "tests"), "./"+rest
	}
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS="+runtime.GOOS, "GOARCH="+runtime.GOARCH)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("testenv: go build %s: %v\n%s", pkg, err, out)
	}
	path := filepath.Join(dir, "bootstrap")
	if err := os.Rename(tmp.Name(), path); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	if builds.paths == nil {
		builds.paths = map[string]string{}
	}
	builds.paths[key] = path
	return path
}

// RIEPath finds the pinned aws-lambda-rie: $AWS_LAMBDA_RIE (make test sets
// it), else where `make tools` installs it, in the user's cache folder
// (outside the repository, so sam build does not copy it). Another copy on
// PATH is not used: its version would be anyone's guess.
func RIEPath(t testing.TB) string {
	t.Helper()
	p := os.Getenv("AWS_LAMBDA_RIE")
	if p == "" {
		cache, err := os.UserCacheDir()
		if err != nil {
			t.Fatalf("testenv: %v: set AWS_LAMBDA_RIE", err)
		}
		p = filepath.Join(cache, "sentiance-authcode", "bin", "aws-lambda-rie")
	}
	if !isFile(p) {
		t.Fatalf("testenv: aws-lambda-rie not found at %s: run `make tools` (installs the pinned version there)", p)
	}
	return p
}

func isFile(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.Mode().IsRegular()
}

// Lambda is a bootstrap running under aws-lambda-rie. The emulator starts the
// bootstrap on the first Invoke (that invoke includes the cold start), and
// starts it again after an invocation times out.
type Lambda struct {
	URL string // the emulator's address, http://127.0.0.1:P

	out  *SyncBuffer
	proc *process
	// The emulator handles one invocation at a time and crashes (nil pointer
	// panic after "ReserveFailed: AlreadyReserved") when a second one
	// arrives, so Invoke queues callers, as Lambda would run one invocation
	// per instance.
	invoke sync.Mutex
}

// StartLambda runs bootstrap under aws-lambda-rie. The child's environment is
// env plus PATH, HOME and TMPDIR, and AWS_LAMBDA_FUNCTION_TIMEOUT=30 and
// AWS_LAMBDA_FUNCTION_MEMORY_SIZE=128 unless env sets them: nothing else of
// the test's environment leaks in. The emulator passes all of it to the
// bootstrap. Set LOG_LEVEL in env to change the emulator's own logging.
func StartLambda(t testing.TB, bootstrap string, env map[string]string) *Lambda {
	t.Helper()
	if !isFile(bootstrap) {
		t.Fatalf("testenv: bootstrap %s does not exist", bootstrap)
	}
	rie := RIEPath(t)
	full := map[string]string{
		"PATH":                            os.Getenv("PATH"),
		"TMPDIR":                          os.TempDir(),
		"AWS_LAMBDA_FUNCTION_TIMEOUT":     "30",
		"AWS_LAMBDA_FUNCTION_MEMORY_SIZE": "128",
	}
	if home, ok := os.LookupEnv("HOME"); ok {
		full["HOME"] = home
	}
	maps.Copy(full, env)
	var environ []string
	for k, v := range full {
		environ = append(environ, k+"="+v)
	}

	addr := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	api := "127.0.0.1:" + strconv.Itoa(FreePort(t))
	l := &Lambda{URL: "http://" + addr, out: &SyncBuffer{}}
	// The working directory is the bootstrap's, as /var/task is on Lambda.
	l.proc = startProcess(t, l.out, filepath.Dir(bootstrap), environ, rie,
		"--runtime-interface-emulator-address", addr,
		"--runtime-api-address", api,
		bootstrap)
	t.Cleanup(func() {
		l.Stop(t)
		if t.Failed() {
			t.Logf("aws-lambda-rie output (tail):\n%s", l.out.tail(8000))
		}
	})
	waitFor(t, "aws-lambda-rie", 10*time.Second, l.proc, func() bool { return portOpen(addr) })
	return l
}

// Invoke sends event (JSON-encoded unless it is []byte or json.RawMessage) to
// the function and returns the emulator's answer. A function error is a 200
// with {"errorMessage","errorType"}; a timeout is a 200 with the plain text
// "Task timed out after N.00 seconds". Any other status fails the test: a
// bootstrap that exits during init gives a 502 with an empty body (the
// emulator's output, shown in the failure, says why). Concurrent calls are
// queued, one invocation at a time.
func (l *Lambda) Invoke(t testing.TB, event any) []byte {
	t.Helper()
	var body []byte
	switch e := event.(type) {
	case []byte:
		body = e
	case json.RawMessage:
		body = e
	default:
		var err error
		if body, err = json.Marshal(event); err != nil {
			t.Fatalf("testenv: encoding event: %v", err)
		}
	}
	l.invoke.Lock()
	defer l.invoke.Unlock()
	ended := strings.Count(l.out.String(), invocationEnd)
	defer l.awaitEnd(ended+1, 2*time.Second)
	client := &http.Client{Timeout: 60 * time.Second}
	resp, err := client.Post(l.URL+"/2015-03-31/functions/function/invocations", "application/json", bytes.NewReader(body))
	if err != nil {
		t.Fatalf("testenv: invoke: %v; emulator output:\n%s", err, l.out.tail(4000))
	}
	defer resp.Body.Close()
	out, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatalf("testenv: reading invoke answer: %v", err)
	}
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("testenv: invoke: emulator answered %s: %s; emulator output:\n%s", resp.Status, out, l.out.tail(4000))
	}
	return out
}

// invocationEnd starts the line the emulator prints after each invocation,
// at every LOG_LEVEL. The bootstrap's output reaches the same pipe before
// it, so once it has been read, Logs holds all the invocation wrote.
const invocationEnd = "END RequestId: "

// awaitEnd waits, at most timeout, until the output holds n END lines, so
// a test reading Logs after Invoke sees every line of the invocation (the
// pipe is copied into the buffer asynchronously). An invocation that ends
// without one (a crash) just returns after the timeout.
func (l *Lambda) awaitEnd(n int, timeout time.Duration) {
	for deadline := time.Now().Add(timeout); strings.Count(l.out.String(), invocationEnd) < n && time.Now().Before(deadline); {
		time.Sleep(5 * time.Millisecond)
	}
}

// Logs returns everything the emulator and the bootstrap have written to
// stdout and stderr so far. The bootstrap's stdout and stderr both arrive on
// the emulator's stdout, between its START/END/REPORT lines; the emulator's
// own log lines look like "25 Nov 2026 08:55:02,045 [INFO] (rapid) ...".
func (l *Lambda) Logs() string {
	return l.out.String()
}

// Stop kills the emulator and the bootstrap. Stopping twice does nothing.
func (l *Lambda) Stop(t testing.TB) {
	t.Helper()
	l.proc.kill(t)
}
