package localmode_test

import (
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os/exec"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sentiance-authcode/backend/devtools/devidp"
	"github.com/sentiance-authcode/backend/internal/authcode"
	"github.com/sentiance-authcode/backend/tests/testenv"
)

// What the README promises a newcomer: `make run` with nothing configured
// serves the API and prints a token and curl commands that work as printed.
// `make run` builds this package and runs it; so does this test, with an
// empty environment but for LOCAL_ADDR.
func TestLocalModeAsTheREADMESays(t *testing.T) {
	t.Parallel()
	bin := testenv.BuildBootstrap(t, "./devtools/cmd/local")
	base := "http://127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	var stdout, stderr testenv.SyncBuffer
	cmd := exec.Command(bin)
	cmd.Env = []string{"LOCAL_ADDR=" + strings.TrimPrefix(base, "http://")}
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Kill() // no-op once it has exited
		if t.Failed() {
			t.Logf("stderr:\n%s\nstdout:\n%s", stderr.String(), stdout.String())
		}
	})

	// The banner ends with how to stop it.
	deadline := time.Now().Add(15 * time.Second)
	for !strings.Contains(stderr.String(), "Ctrl-C stops.") {
		select {
		case err := <-exited:
			t.Fatalf("exited before serving: %v", err)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatal("no banner within 15 s")
		}
		time.Sleep(20 * time.Millisecond)
	}
	banner := stderr.String()
	m := regexp.MustCompile(`(?m)^(eyJ[\w-]+\.[\w-]+\.[\w-]+)$`).FindStringSubmatch(banner)
	if m == nil {
		t.Fatalf("no token line in the banner:\n%s", banner)
	}
	token := m[1]
	curls := regexp.MustCompile(`(?m)^curl .*$`).FindAllString(banner, -1)
	if len(curls) != 2 || !strings.Contains(curls[0], base+"/auth-code") || !strings.Contains(curls[1], base+"/auth/code") {
		t.Fatalf("curl lines %q, want POST %s/auth-code and GET %s/auth/code", curls, base, base)
	}

	client := &http.Client{Timeout: 10 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	do := func(method, path, token, body string) (int, map[string]any) {
		t.Helper()
		req, _ := http.NewRequest(method, base+path, strings.NewReader(body))
		if token != "" {
			req.Header.Set("Authorization", "Bearer "+token)
		}
		if body != "" {
			req.Header.Set("Content-Type", "application/json")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s: %v", method, path, err)
		}
		defer resp.Body.Close()
		raw, _ := io.ReadAll(resp.Body)
		var doc map[string]any
		if err := json.Unmarshal(raw, &doc); err != nil {
			t.Fatalf("%s %s: %d %q is not JSON", method, path, resp.StatusCode, raw)
		}
		return resp.StatusCode, doc
	}
	isCode := regexp.MustCompile(`^[0-9a-f]{128}$`).MatchString

	// Both routes with the printed token.
	for _, r := range []struct{ method, path string }{{"POST", "/auth-code"}, {"GET", "/auth/code"}} {
		status, doc := do(r.method, r.path, token, "")
		code, _ := doc["auth_code"].(string)
		if status != 200 || !isCode(code) || doc["authentication_code"] != code || doc["expires_at"] == nil {
			t.Errorf("%s %s: %d %v", r.method, r.path, status, doc)
		}
	}
	// The curl lines, copied and pasted into a shell.
	if _, err := exec.LookPath("curl"); err != nil {
		t.Log("curl not installed: the printed commands were not run")
	} else {
		for _, line := range curls {
			out, err := exec.Command("sh", "-c", line).Output()
			var doc map[string]string
			if err != nil || json.Unmarshal(out, &doc) != nil || !isCode(doc["auth_code"]) {
				t.Errorf("printed command failed: %v: %s", err, out)
			}
		}
	}

	// Another issuer's token: the gateway's 401.
	other := devidp.Start(t, false).Token(t, jwt.MapClaims{"sub": "demo-user", "aud": "local-dev"})
	if status, doc := do("POST", "/auth-code", other, ""); status != 401 || doc["message"] != "Unauthorized" {
		t.Errorf("foreign token: %d %v", status, doc)
	}
	// Someone else's external_id in the body: the function's 403.
	if status, doc := do("POST", "/auth-code", token, `{"external_id":"someone-else"}`); status != 403 || doc["type"] != authcode.ProblemTypePrefix+string("external_id_mismatch") {
		t.Errorf("someone else's external_id: %d %v", status, doc)
	}

	// Ctrl-C: exit 0, promptly.
	sent := time.Now()
	if err := cmd.Process.Signal(syscall.SIGINT); err != nil {
		t.Fatal(err)
	}
	select {
	case err := <-exited:
		if err != nil {
			t.Errorf("after SIGINT: %v, want exit code 0", err)
		}
		t.Logf("stopped %v after SIGINT", time.Since(sent).Round(time.Millisecond))
	case <-time.After(5 * time.Second):
		t.Fatal("still running 5 s after SIGINT")
	}

	// Logs: JSON lines (stdout is not a terminal), without the token.
	logs := stdout.String()
	for _, line := range strings.Split(strings.TrimSpace(logs), "\n") {
		if !json.Valid([]byte(line)) {
			t.Errorf("log line is not JSON: %q", line)
		}
	}
	testenv.AssertNoLeak(t, logs, token)
}

// In local mode too, bad configuration is one line on stderr and exit code 2.
func TestLocalModeBadConfig(t *testing.T) {
	t.Parallel()
	bin := testenv.BuildBootstrap(t, "./devtools/cmd/local")
	for _, tt := range []struct{ name, env, variable string }{
		{"bad address", "LOCAL_ADDR=nowhere", "LOCAL_ADDR"},
		{"bad region", "SENTIANCE_REGION=mars", "SENTIANCE_REGION"},
		{"key and secret", "SENTIANCE_USER_LINK_KEY=k USER_LINK_SECRET_ID=s", "SENTIANCE_USER_LINK_KEY"},
		{"issuer without audience", "JWT_ISSUER=https://id.example.com", "JWT_AUDIENCE"},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			testenv.CheckOneLineExit(t, tt.env, tt.variable, bin)
		})
	}
}

// -h lists the variables local mode reads, points to the function's own,
// and exits 0 without serving; any other argument is one line and exit code 2.
func TestLocalModeArguments(t *testing.T) {
	t.Parallel()
	bin := testenv.BuildBootstrap(t, "./devtools/cmd/local")
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	for _, flag := range []string{"-h", "--help"} {
		cmd := exec.Command(bin, flag)
		cmd.Env = []string{"LOCAL_ADDR=" + addr}
		out, err := cmd.Output()
		if err != nil || !strings.Contains(string(out), "LOCAL_ADDR") || !strings.Contains(string(out), "SENTIANCE_USER_LINK_KEY_EXPIRES_AT") || !strings.Contains(string(out), "docs/operations.md#configuration") {
			t.Errorf("%s: %v\n%s", flag, err, out)
		}
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			t.Fatalf("%s: something listens on %s", flag, addr)
		}
	}
	testenv.CheckOneLineExit(t, "LOCAL_ADDR="+addr, "-h", bin, "--port=3001")
}
