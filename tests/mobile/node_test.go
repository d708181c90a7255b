package mobile_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sentiance-authcode/backend/internal/authcode"
)

// The React Native snippet, run as written under Node.js: its import of
// @sentiance-react-native/core resolves to a shim in node_modules that, like
// the package's lib/index.d.ts, exports only a default object, and records
// createUser and reset. The app's side (authCodeUrl, token) is a prelude.

const (
	// nodeTimeout bounds one run; the slowest scenario waits about 1 s.
	nodeTimeout = 20 * time.Second
	// hardCap ends a runaway loop: past it, the server answers 403, which
	// every snippet old and new gives up on, and the count shows the loop.
	hardCap     = 10
	platformURL = "https://api.sentiance.com"
	cachedJWT   = "cached-jwt"
	freshJWT    = "fresh-jwt"
)

const shimPackageJSON = `{"name": "@sentiance-react-native/core", "version": "6.0.3-shim", "type": "module", "exports": "./index.js"}`

const shimIndexJS = `// Stands in for @sentiance-react-native/core 6.x: as its lib/index.d.ts
// declares, the module's only export is a default object.
const calls = (globalThis.__sentianceCalls ??= []);
export default {
  async createUser(options) {
    calls.push({ fn: "createUser", options });
    return { userInfo: { userId: "shim-user" } };
  },
  async reset() {
    calls.push({ fn: "reset" });
    return { initState: "NOT_INITIALIZED" };
  },
};
`

// The app's side, as docs/mobile.md assumes it.
const prelude = `const authCodeUrl = process.env.AUTH_CODE_URL;
const __tokenCalls = [];
async function token(forceRefresh) {
  __tokenCalls.push(forceRefresh);
  return forceRefresh ? "` + freshJWT + `" : "` + cachedJWT + `";
}
`

// The driver: one sign-in, optionally a logout, and what happened as JSON.
const driver = `
const __out = { tokenCalls: __tokenCalls };
try {
  __out.result = await linkSentianceUser();
} catch (e) {
  __out.error = { message: String(e?.message ?? e), status: e?.status ?? 0 };
}
if (process.env.LOG_OUT === "1") await unlinkSentianceUser();
__out.calls = globalThis.__sentianceCalls ?? [];
console.log(JSON.stringify(__out));
`

// answer is one scripted response.
type answer struct {
	status     int
	retryAfter string // "" sends none
	body       string
	ctype      string
}

// authCode is a 128-hex authentication code; authCodeLegacy differs from it
// only so that a snippet reading auth_code instead shows.
const (
	authCode       = "bf3061a4b210139a7eb731bb92517b7b22a116109148579e35105d62f09d86546732dfb0dd778738f61e29c3f6f3f3b6c511de1987158dc7333e6c1860a62482"
	authCodeLegacy = "00000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000000"
)

func ok200() answer {
	body, _ := json.Marshal(map[string]string{
		"authentication_code": authCode,
		"auth_code":           authCodeLegacy,
		"expires_at":          "2030-01-02T03:04:05Z",
		"platform_url":        platformURL,
		"app_id":              "app-1",
	})
	return answer{status: http.StatusOK, body: string(body), ctype: "application/json"}
}

// problem is the function's answer for reason, from its one definition;
// retryAfter is the test's own (the function sends at least 1 s).
func problem(reason authcode.Reason, retryAfter string) answer {
	spec := reason.Spec()
	body, _ := json.Marshal(authcode.Problem{
		Type:      authcode.ProblemTypePrefix + string(reason),
		Title:     http.StatusText(spec.Status),
		Status:    spec.Status,
		Detail:    spec.Detail,
		RequestID: "req-1",
	})
	return answer{status: spec.Status, retryAfter: retryAfter, body: string(body), ctype: "application/problem+json"}
}

// gateway is an answer API Gateway gives itself, before the function.
func gateway(status int, message string) answer {
	return answer{status: status, body: `{"message":"` + message + `"}`, ctype: "application/json"}
}

// seen is one request as the server saw it.
type seen struct {
	at                 time.Time
	method, path, auth string
}

// server plays a script: the n-th request gets script[n], the last answer
// repeats, and past hardCap every request gets 403.
type server struct {
	*httptest.Server
	mu     sync.Mutex
	script []answer
	reqs   []seen
}

func startServer(t *testing.T, script []answer) *server {
	s := &server{script: script}
	s.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.mu.Lock()
		n := len(s.reqs)
		s.reqs = append(s.reqs, seen{time.Now(), r.Method, r.URL.Path, r.Header.Get("Authorization")})
		s.mu.Unlock()
		a := s.script[min(n, len(s.script)-1)]
		if n >= hardCap {
			a = problem(authcode.ExternalIDClaim, "")
		}
		w.Header().Set("Content-Type", a.ctype)
		if a.retryAfter != "" {
			w.Header().Set("Retry-After", a.retryAfter)
		}
		w.WriteHeader(a.status)
		_, _ = w.Write([]byte(a.body))
	}))
	t.Cleanup(s.Close)
	return s
}

func (s *server) requests() []seen {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.reqs)
}

// run is what the driver printed.
type run struct {
	TokenCalls []bool `json:"tokenCalls"`
	Error      *struct {
		Message string `json:"message"`
		Status  int    `json:"status"`
	} `json:"error"`
	Calls []struct {
		Fn      string         `json:"fn"`
		Options map[string]any `json:"options"`
	} `json:"calls"`
	elapsed time.Duration
}

// requireNode returns node's path, or fails: a skipped test here would
// leave the one snippet that can run untested without anyone noticing.
func requireNode(t *testing.T) string {
	t.Helper()
	const hint = "the React Native snippet of docs/mobile.md runs under Node.js 18 or later (for its global fetch): install it (apt-get install nodejs) or put node on PATH"
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatalf("no node on PATH (%v); %s", err, hint)
	}
	out, err := exec.Command(node, "--version").Output()
	if err != nil {
		t.Fatalf("%s --version: %v; %s", node, err, hint)
	}
	v := strings.TrimSpace(string(out))
	major, err := strconv.Atoi(regexp.MustCompile(`^v(\d+)\.`).FindStringSubmatch(v + "v0.")[1])
	if err != nil || major < 18 {
		t.Fatalf("node is %s; %s", v, hint)
	}
	return node
}

// runSnippet runs js (a snippet) under node against url and returns what
// the driver printed.
func runSnippet(t *testing.T, node, js, url string, logout bool) run {
	t.Helper()
	dir := t.TempDir()
	shim := filepath.Join(dir, "node_modules", "@sentiance-react-native", "core")
	if err := os.MkdirAll(shim, 0o755); err != nil {
		t.Fatal(err)
	}
	for name, content := range map[string]string{
		filepath.Join(shim, "package.json"): shimPackageJSON,
		filepath.Join(shim, "index.js"):     shimIndexJS,
		filepath.Join(dir, "main.mjs"):      prelude + js + driver,
	} {
		if err := os.WriteFile(name, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithTimeout(t.Context(), nodeTimeout)
	t.Cleanup(cancel)
	cmd := exec.CommandContext(ctx, node, "main.mjs")
	cmd.Dir = dir
	// Node's fetch takes no proxy from the environment; NO_PROXY is belt and braces.
	cmd.Env = append(os.Environ(), "AUTH_CODE_URL="+url+"/auth-code", "NO_PROXY=127.0.0.1", "LOG_OUT=0")
	if logout {
		cmd.Env = append(cmd.Env, "LOG_OUT=1")
	}
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	cmd.WaitDelay = 2 * time.Second
	start := time.Now()
	err := cmd.Run()
	elapsed := time.Since(start)
	if err != nil {
		t.Fatalf("node main.mjs: %v (after %v)\nstderr:\n%s\nstdout:\n%s", err, elapsed.Round(time.Millisecond), stderr.String(), stdout.String())
	}
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	var r run
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &r); err != nil {
		t.Fatalf("driver output: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
	}
	r.elapsed = elapsed
	return r
}

// scenario is one scripted sign-in and what the snippet must do with it.
type scenario struct {
	name   string
	script []answer
	logout bool
	// What must happen: the requests, the token(forceRefresh) calls, the
	// status of the error thrown (0: none), and createUser called or not.
	requests int
	tokens   []bool
	status   int
	created  bool
	minGap   time.Duration // between the first two requests: a Retry-After honoured
	maxTime  time.Duration // the whole run: a wait skipped (under the cap, so a capped wait shows)
	old      bool          // also run on the old snippet, which must fail it
}

func scenarios() []scenario {
	return []scenario{
		{name: "200: createUser once with the declared options, reset at logout",
			script: []answer{ok200()}, logout: true, old: true,
			requests: 1, tokens: []bool{false}, created: true},
		{name: "401 then 200: one refreshed token",
			script:   []answer{problem(authcode.InvalidToken, ""), ok200()},
			requests: 2, tokens: []bool{false, true}, created: true},
		{name: "401 twice: one refresh, then sign in again",
			script:   []answer{problem(authcode.InvalidToken, ""), gateway(http.StatusUnauthorized, "Unauthorized")},
			requests: 2, tokens: []bool{false, true}, status: http.StatusUnauthorized},
		{name: "403: no retry",
			script:   []answer{problem(authcode.ExternalIDClaim, "")},
			requests: 1, tokens: []bool{false}, status: http.StatusForbidden},
		{name: "503 key_unavailable forever: gives up after the bounded attempts",
			script:   []answer{problem(authcode.KeyUnavailable, "0")},
			requests: maxAttempts, tokens: slices.Repeat([]bool{false}, maxAttempts), status: http.StatusServiceUnavailable, old: true},
		{name: "429 then 200: waits Retry-After",
			script:   []answer{problem(authcode.UserRateLimited, "1"), ok200()},
			requests: 2, tokens: []bool{false, false}, created: true, minGap: 900 * time.Millisecond},
		{name: "gateway 429 without Retry-After: waits 1 s",
			script:   []answer{gateway(http.StatusTooManyRequests, "Too Many Requests"), ok200()},
			requests: 2, tokens: []bool{false, false}, created: true, minGap: 900 * time.Millisecond},
		{name: "Retry-After over the cap: stops at once",
			script:   []answer{problem(authcode.SentianceRateLimited, strconv.Itoa(60*maxWaitS))},
			requests: 1, tokens: []bool{false}, status: http.StatusTooManyRequests, maxTime: maxWaitS * time.Second * 8 / 10},
		{name: "502 key_rejected: no retry",
			script:   []answer{problem(authcode.KeyRejected, "")},
			requests: 1, tokens: []bool{false}, status: http.StatusBadGateway},
	}
}

// problems lists how r and the server's requests differ from sc.
func (sc scenario) problems(r run, reqs []seen) []string {
	var p []string
	add := func(format string, args ...any) { p = append(p, fmt.Sprintf(format, args...)) }
	if len(reqs) != sc.requests {
		add("%d requests, want %d", len(reqs), sc.requests)
	}
	for i, q := range reqs {
		want := "Bearer " + cachedJWT
		if i < len(r.TokenCalls) && r.TokenCalls[i] {
			want = "Bearer " + freshJWT
		}
		if q.method != http.MethodPost || q.path != "/auth-code" || q.auth != want {
			add("request %d: %s %s with Authorization %q, want POST /auth-code with %q", i+1, q.method, q.path, q.auth, want)
		}
	}
	if !slices.Equal(r.TokenCalls, sc.tokens) {
		add("token(forceRefresh) calls %v, want %v", r.TokenCalls, sc.tokens)
	}
	switch {
	case sc.status == 0 && r.Error != nil:
		add("threw %q, want success", r.Error.Message)
	case sc.status != 0 && r.Error == nil:
		add("succeeded, want an error with status %d", sc.status)
	case sc.status != 0 && r.Error.Status != sc.status:
		add("threw %q with status %d, want %d", r.Error.Message, r.Error.Status, sc.status)
	}
	var fns []string
	for _, c := range r.Calls {
		fns = append(fns, c.Fn)
		if c.Fn == "createUser" {
			want := map[string]any{"authCode": authCode, "platformUrl": platformURL}
			if !reflect.DeepEqual(c.Options, want) {
				add("createUser(%v), want createUser(%v)", c.Options, want)
			}
		}
	}
	var wantFns []string
	if sc.created {
		wantFns = append(wantFns, "createUser")
	}
	if sc.logout {
		wantFns = append(wantFns, "reset")
	}
	if !slices.Equal(fns, wantFns) {
		add("SDK calls %v, want %v", fns, wantFns)
	}
	if sc.minGap > 0 && len(reqs) >= 2 && reqs[1].at.Sub(reqs[0].at) < sc.minGap {
		add("retried after %v, want at least %v (Retry-After)", reqs[1].at.Sub(reqs[0].at).Round(time.Millisecond), sc.minGap)
	}
	if sc.maxTime > 0 && r.elapsed > sc.maxTime {
		add("took %v, want under %v", r.elapsed.Round(time.Millisecond), sc.maxTime)
	}
	return p
}

func TestReactNativeSnippetUnderNode(t *testing.T) {
	node := requireNode(t)
	js := snippet(t, readDoc(t), "js")
	for _, sc := range scenarios() {
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			s := startServer(t, sc.script)
			r := runSnippet(t, node, js, s.URL, sc.logout)
			for _, p := range sc.problems(r, s.requests()) {
				t.Error(p)
			}
		})
	}
}

// The scenarios have teeth: the snippet docs/mobile.md replaced retried a
// 503 forever and called a createUser it never imported.
func TestNodeScenariosOnTheOldSnippet(t *testing.T) {
	node := requireNode(t)
	js := snippet(t, readOldDoc(t), "js")
	for _, sc := range scenarios() {
		if !sc.old {
			continue
		}
		t.Run(sc.name, func(t *testing.T) {
			t.Parallel()
			sc.logout = false // the old snippet reset only in a comment
			s := startServer(t, sc.script)
			p := sc.problems(runSnippet(t, node, js, s.URL, false), s.requests())
			if len(p) == 0 {
				t.Fatal("the old snippet passes; the scenario must reject it")
			}
			t.Logf("rejected: %s", strings.Join(p, "; "))
		})
	}
}

// The runtime scenarios show the bound and that a long Retry-After is not
// waited for; the constants themselves must also be the ones the doc states.
func TestReactNativeSnippetConstants(t *testing.T) {
	js := code(snippet(t, readDoc(t), "js"))
	for _, want := range []string{
		fmt.Sprintf("const MAX_ATTEMPTS = %d;", maxAttempts),
		fmt.Sprintf("const MAX_WAIT_S = %d;", maxWaitS),
	} {
		if !strings.Contains(js, want) {
			t.Errorf("the React Native snippet has no %q", want)
		}
	}
}
