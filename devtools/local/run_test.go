package local

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"regexp"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sentiance-authcode/backend/devtools/devsentiance"
	"github.com/sentiance-authcode/backend/internal/app"
)

// syncBuffer is an io.Writer the server writes while a test reads it.
type syncBuffer struct {
	mu  sync.Mutex
	buf strings.Builder
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// noLeak fails the test when secret appears in text, without repeating it.
func noLeak(t *testing.T, text, secret string) {
	t.Helper()
	if secret != "" && strings.Contains(text, secret) {
		t.Errorf("a secret of %d characters appears in the output", len(secret))
	}
}

// server is Run in a goroutine, as local mode runs it.
type server struct {
	url            string
	stdout, stderr *syncBuffer
	cancel         context.CancelFunc
	done           chan error
	stopOnce       sync.Once
	stopErr        error
}

// startRun starts Run with exactly env (LOCAL_ADDR defaults to a free port)
// and waits until it serves.
func startRun(t *testing.T, env map[string]string) *server {
	t.Helper()
	if _, ok := env["LOCAL_ADDR"]; !ok {
		env["LOCAL_ADDR"] = "127.0.0.1:0"
	}
	ctx, cancel := context.WithCancel(context.Background())
	s := &server{stdout: &syncBuffer{}, stderr: &syncBuffer{}, cancel: cancel, done: make(chan error, 1)}
	ready := make(chan string, 1)
	go func() {
		s.done <- Run(ctx, Options{
			Getenv: func(k string) string { return env[k] },
			Stdout: s.stdout, Stderr: s.stderr,
			Ready: func(u string) { ready <- u },
		})
	}()
	select {
	case s.url = <-ready:
	case err := <-s.done:
		cancel()
		t.Fatalf("Run returned before serving: %v\nstderr:\n%s", err, s.stderr)
	case <-time.After(15 * time.Second):
		cancel()
		t.Fatal("Run did not serve within 15 s")
	}
	t.Cleanup(func() {
		if err := s.stop(t); err != nil {
			t.Errorf("Run: %v", err)
		}
		if t.Failed() {
			t.Logf("local mode stderr:\n%s\nstdout:\n%s", s.stderr, s.stdout)
		}
	})
	return s
}

// stop cancels Run and waits (bounded) for it to return.
func (s *server) stop(t *testing.T) error {
	t.Helper()
	s.stopOnce.Do(func() {
		s.cancel()
		select {
		case s.stopErr = <-s.done:
		case <-time.After(ShutdownTimeout + 5*time.Second):
			s.stopErr = errors.New("Run did not return after the context ended")
		}
	})
	return s.stopErr
}

var tokenLine = regexp.MustCompile(`(?m)^(eyJ[\w-]+\.[\w-]+\.[\w-]+)$`)

// token is the demo token the banner prints.
func (s *server) token(t *testing.T) string {
	t.Helper()
	m := tokenLine.FindStringSubmatch(s.stderr.String())
	if m == nil {
		t.Fatalf("no token in the banner:\n%s", s.stderr)
	}
	return m[1]
}

// call sends one request with client and returns status, headers and body.
func call(t *testing.T, client *http.Client, method, u, token, contentType, body string) (int, http.Header, string) {
	t.Helper()
	req, err := http.NewRequest(method, u, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	if contentType != "" {
		req.Header.Set("Content-Type", contentType)
	}
	resp, err := client.Do(req)
	if err != nil {
		t.Errorf("%s %s: %v", method, u, err)
		return 0, nil, ""
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, string(b)
}

// With nothing configured, local mode brings its own issuer and Sentiance.
func TestRunDefaults(t *testing.T) {
	t.Parallel()
	s := startRun(t, map[string]string{})
	token := s.token(t)
	client := &http.Client{Timeout: 10 * time.Second}
	for _, r := range []struct{ method, path string }{{"POST", "/auth-code"}, {"GET", "/auth/code"}} {
		status, h, body := call(t, client, r.method, s.url+r.path, token, "", "")
		var got map[string]string
		if status != 200 || json.Unmarshal([]byte(body), &got) != nil || len(got["auth_code"]) != 128 || h.Get("Cache-Control") != "no-store" {
			t.Errorf("%s %s: %d %v %s", r.method, r.path, status, h, body)
		}
	}
	// The development issuer's documents are served on the API's port.
	status, _, body := call(t, client, "GET", s.url+"/.well-known/openid-configuration", "", "", "")
	if status != 200 || !strings.Contains(body, `"issuer":"`+s.url+`"`) {
		t.Errorf("discovery: %d %s", status, body)
	}
	banner := s.stderr.String()
	for _, want := range []string{"LOCAL STAND-IN", "NOT real", "curl -sS -X POST -H 'Authorization: Bearer " + token + "' " + s.url + "/auth-code"} {
		if !strings.Contains(banner, want) {
			t.Errorf("banner lacks %q:\n%s", want, banner)
		}
	}
	logs := s.stdout.String()
	if !strings.Contains(logs, `"level":"WARN","msg":"Sentiance is a local stand-in`) {
		t.Errorf("no stand-in warning in the logs:\n%s", logs)
	}
	noLeak(t, logs, token)
}

func TestRunBadConfig(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		env      map[string]string
		variable string
	}{
		{"address without port", map[string]string{"LOCAL_ADDR": "localhost"}, "LOCAL_ADDR"},
		{"port out of range", map[string]string{"LOCAL_ADDR": "127.0.0.1:70000"}, "LOCAL_ADDR"},
		{"key and secret", map[string]string{"SENTIANCE_USER_LINK_KEY": "k", "USER_LINK_SECRET_ID": "s"}, "SENTIANCE_USER_LINK_KEY"},
		{"API URL without a key", map[string]string{"SENTIANCE_API_URL": "http://127.0.0.1:1"}, "SENTIANCE_API_URL"},
		{"plain http upstream", map[string]string{"SENTIANCE_USER_LINK_KEY": "k", "SENTIANCE_API_URL": "http://example.com"}, "SENTIANCE_API_URL"},
		{"bad region", map[string]string{"SENTIANCE_REGION": "mars"}, "SENTIANCE_REGION"},
		{"issuer without audience", map[string]string{"JWT_ISSUER": "https://id.example.com"}, "JWT_AUDIENCE"},
		{"plain http issuer", map[string]string{"JWT_ISSUER": "http://id.example.com", "JWT_AUDIENCE": "a"}, "JWT_ISSUER"},
		{"HS256", map[string]string{"JWT_ALGORITHMS": "HS256"}, "JWT_ALGORITHMS"},
		{"bad TTL", map[string]string{"USER_LINK_SECRET_ID": "s", "SECRET_CACHE_TTL": "soon"}, "SECRET_CACHE_TTL"},
		{"unknown log level", map[string]string{"AWS_LAMBDA_LOG_LEVEL": "verbose"}, "AWS_LAMBDA_LOG_LEVEL"},
	} {
		if _, ok := tt.env["LOCAL_ADDR"]; !ok {
			tt.env["LOCAL_ADDR"] = "127.0.0.1:0" // never the developer's port 3000
		}
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			var stderr syncBuffer
			err := Run(t.Context(), Options{Getenv: func(k string) string { return tt.env[k] }, Stdout: io.Discard, Stderr: &stderr})
			if !errors.Is(err, app.ErrInvalid) || !strings.Contains(err.Error(), tt.variable) || strings.Contains(err.Error(), "\n") {
				t.Errorf("err = %v, want one line naming %s", err, tt.variable)
			}
			if stderr.String() != "" {
				t.Errorf("printed %q before failing", stderr.String())
			}
		})
	}
}

// A port in use is one line that says to pick another with LOCAL_ADDR.
func TestRunPortInUse(t *testing.T) {
	t.Parallel()
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { taken.Close() })
	err = Run(t.Context(), Options{Getenv: func(k string) string {
		return map[string]string{"LOCAL_ADDR": taken.Addr().String()}[k]
	}, Stdout: io.Discard, Stderr: io.Discard})
	if err == nil || !strings.Contains(err.Error(), "in use") || !strings.Contains(err.Error(), "LOCAL_ADDR=") || strings.Contains(err.Error(), "\n") {
		t.Errorf("err = %v, want one line saying to pick another port with LOCAL_ADDR", err)
	}
}

// A body over the gateway's limit gets its 413 whatever its size and
// whether the client waits for 100 Continue: never a connection reset
// under a client still sending. The client here is curl's: it writes the
// whole request (or, with Expect, waits for 100 Continue or an answer)
// before it reads.
func TestOversizedBodies(t *testing.T) {
	t.Parallel()
	s := startRun(t, map[string]string{})
	host := strings.TrimPrefix(s.url, "http://")
	for _, tt := range []struct {
		size   int64
		expect bool
		tries  int
	}{
		{2 << 20, false, 20}, {2 << 20, true, 20}, {100 << 20, true, 20}, {100 << 20, false, 20},
	} {
		t.Run(fmt.Sprintf("%d MB, Expect %v", tt.size>>20, tt.expect), func(t *testing.T) {
			for range tt.tries {
				conn, err := net.DialTimeout("tcp", host, time.Second)
				if err != nil {
					t.Fatal(err)
				}
				_ = conn.SetDeadline(time.Now().Add(30 * time.Second))
				head := fmt.Sprintf("POST /auth-code HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n", host, tt.size)
				if tt.expect {
					head += "Expect: 100-continue\r\n"
				}
				if _, err := io.WriteString(conn, head+"\r\n"); err != nil {
					t.Fatal(err)
				}
				br := bufio.NewReader(conn)
				if !tt.expect {
					if _, err := io.CopyN(conn, zeros{}, tt.size); err != nil {
						t.Fatalf("sending the body: %v", err)
					}
				}
				resp, err := http.ReadResponse(br, nil)
				if err != nil {
					t.Fatalf("reading the answer: %v", err)
				}
				resp.Body.Close()
				conn.Close()
				if resp.StatusCode != http.StatusRequestEntityTooLarge {
					t.Fatalf("status %d, want 413 (a 100 Continue means the body was asked for)", resp.StatusCode)
				}
			}
		})
	}
}

// zeros reads as an endless run of zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// SIGINT (here: the context) stops accepting, lets the requests in flight
// finish, and leaves no goroutine behind. Not parallel: it counts the
// process's goroutines.
func TestShutdown(t *testing.T) {
	stand := devsentiance.Start(t, "key.shutdown")
	const delay = 700 * time.Millisecond
	stand.Script(devsentiance.Step{Delay: delay}, devsentiance.Step{Delay: delay}, devsentiance.Step{Delay: delay}) // one per request in flight
	client := &http.Client{Transport: &http.Transport{}, Timeout: 10 * time.Second}
	baseline := runtime.NumGoroutine()

	s := startRun(t, map[string]string{"SENTIANCE_USER_LINK_KEY": "key.shutdown", "SENTIANCE_API_URL": stand.URL})
	token := s.token(t)
	const inFlight = 3
	statuses := make(chan int, inFlight)
	for range inFlight {
		go func() {
			status, _, _ := call(t, client, "POST", s.url+"/auth-code", token, "", "")
			statuses <- status
		}()
	}
	deadline := time.Now().Add(5 * time.Second)
	for len(stand.Calls()) < inFlight {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d requests reached Sentiance", len(stand.Calls()), inFlight)
		}
		time.Sleep(10 * time.Millisecond)
	}

	stopped := time.Now()
	stopErr := make(chan error, 1)
	go func() { stopErr <- s.stop(t) }()
	// New connections are refused while the requests in flight still wait...
	host := strings.TrimPrefix(s.url, "http://")
	for {
		c, err := net.DialTimeout("tcp", host, 100*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if len(statuses) > 0 {
			t.Fatal("still accepting connections when a request in flight finished")
		}
		time.Sleep(5 * time.Millisecond)
	}
	// ...while the requests in flight finish.
	for range inFlight {
		if status := <-statuses; status != http.StatusOK {
			t.Errorf("request in flight at shutdown: status %d, want 200", status)
		}
	}
	if err := <-stopErr; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if took := time.Since(stopped); took >= ShutdownTimeout {
		t.Errorf("shutdown took %v: it waited for its deadline, not for the requests", took)
	}
	if logs := s.stdout.String(); !strings.Contains(logs, `"msg":"stopped"`) {
		t.Errorf("no stop line in the logs:\n%s", logs)
	}

	client.CloseIdleConnections()
	deadline = time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > baseline {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left, %d before Run:\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// The banner's URL reaches the listener from this machine.
func TestURLOf(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct{ addr, want string }{
		{"127.0.0.1:3000", "http://127.0.0.1:3000"},
		{"0.0.0.0:3000", "http://127.0.0.1:3000"},
		{"[::]:3000", "http://127.0.0.1:3000"},
		{"[::1]:3000", "http://[::1]:3000"},
	} {
		a, err := net.ResolveTCPAddr("tcp", tt.addr)
		if err != nil {
			t.Fatal(err)
		}
		if got := urlOf(a); got != tt.want {
			t.Errorf("urlOf(%s) = %s, want %s", tt.addr, got, tt.want)
		}
	}
}
