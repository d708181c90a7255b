package authcode_test

import (
	"bytes"
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sentiance-authcode/backend/devtools/devidp"
	"github.com/sentiance-authcode/backend/devtools/devsecrets"
	"github.com/sentiance-authcode/backend/devtools/devsentiance"
	"github.com/sentiance-authcode/backend/internal/app"
	"github.com/sentiance-authcode/backend/internal/authcode"
)

// The stack the handler tests (handler_test.go, security_test.go and the
// fuzz target) run against, and the checks every answer must pass.

const (
	apiKey   = "test-user-link-key-0123456789"
	audience = "mobile-app"
	user     = "user-42"
)

// stack is the whole function as app.New wires it, with the fake Secrets
// Manager, an identity provider stand-in and a Sentiance stand-in.
type stack struct {
	handler   *authcode.Function
	issuer    *devidp.Issuer
	sentiance *devsentiance.Server
	logs      *logBuffer
}

// logBuffer holds the JSON log lines; the verifier's background key
// refresh may write while a test reads.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *logBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

func (b *logBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}

// noLeak fails the test for every secret that appears in text, naming it
// by position and length only, so the failure does not repeat the leak.
func noLeak(t testing.TB, text string, secrets ...string) {
	t.Helper()
	for i, s := range secrets {
		if n := strings.Count(text, s); s != "" && n > 0 {
			t.Errorf("secret #%d (%d characters) appears %d time(s)", i+1, len(s), n)
		}
	}
}

type stackOptions struct {
	verify   bool   // in-function token verification
	secretID string // default "user-link"
	appID    string
}

func newStack(t testing.TB, sm *devsecrets.SecretsManager, o stackOptions) *stack {
	t.Helper()
	buf := &logBuffer{}
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("logs:\n%s", buf)
		}
	})
	log := slog.New(slog.NewJSONHandler(buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	s := &stack{issuer: devidp.Start(t, false), sentiance: devsentiance.Start(t, apiKey), logs: buf}
	if o.secretID == "" {
		o.secretID = "user-link"
	}
	env := map[string]string{
		"USER_LINK_SECRET_ID": o.secretID,
		"SENTIANCE_API_URL":   s.sentiance.URL,
		"SENTIANCE_APP_ID":    o.appID,
	}
	if o.verify {
		env["JWT_ISSUER"], env["JWT_AUDIENCE"] = s.issuer.URL, audience
	}
	cfg, err := app.Load(func(name string) string { return env[name] })
	if err != nil {
		t.Fatal(err)
	}
	fn, err := app.New(context.Background(), cfg, app.Options{Logger: log, SecretsManager: sm})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fn.Close)
	s.handler = fn.Function
	return s
}

// event builds an API Gateway HTTP API event as the gateway would send it.
func event(method, path, token, body string) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{
		Version:  "2.0",
		RouteKey: method + " " + path,
		RawPath:  path,
		Headers:  map[string]string{},
		Body:     body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: "req-1",
			HTTP:      events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path},
		},
	}
	if token != "" {
		ev.Headers["authorization"] = "Bearer " + token
	}
	if body != "" {
		ev.Headers["content-type"] = "application/json"
	}
	return ev
}

func withClaims(ev events.APIGatewayV2HTTPRequest, claims map[string]string) events.APIGatewayV2HTTPRequest {
	ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
	}
	return ev
}

// checkResponse checks the shape every answer must have.
func checkResponse(t testing.TB, resp events.APIGatewayV2HTTPResponse, reason authcode.Reason, s *stack) {
	t.Helper()
	if resp.Headers["Cache-Control"] != "no-store" || resp.Headers["X-Content-Type-Options"] != "nosniff" {
		t.Errorf("headers = %v, want Cache-Control: no-store and X-Content-Type-Options: nosniff", resp.Headers)
	}
	if resp.StatusCode == 200 {
		if resp.Headers["Content-Type"] != "application/json" {
			t.Errorf("Content-Type = %q", resp.Headers["Content-Type"])
		}
		var body map[string]string
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
			t.Fatalf("200 body %q: %v", resp.Body, err)
		}
		codes := s.sentiance.Codes()
		if len(codes) == 0 || body["authentication_code"] != codes[len(codes)-1] || body["auth_code"] != body["authentication_code"] {
			t.Errorf("body codes = %q/%q, want Sentiance's %v", body["authentication_code"], body["auth_code"], codes)
		}
		if _, err := time.Parse(time.RFC3339, body["expires_at"]); err != nil {
			t.Errorf("expires_at = %q", body["expires_at"])
		}
		if body["platform_url"] != s.sentiance.URL {
			t.Errorf("platform_url = %q, want %q", body["platform_url"], s.sentiance.URL)
		}
		if _, ok := body["app_id"]; ok {
			t.Errorf("app_id present though not configured")
		}
		if len(body) != 4 {
			t.Errorf("body has fields %v, want exactly authentication_code, auth_code, expires_at, platform_url", body)
		}
		return
	}
	if resp.Headers["Content-Type"] != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", resp.Headers["Content-Type"])
	}
	var p authcode.Problem
	dec := json.NewDecoder(strings.NewReader(resp.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem body %q: %v", resp.Body, err)
	}
	if p.Status != resp.StatusCode || p.Title != http.StatusText(resp.StatusCode) || p.Type != authcode.ProblemTypePrefix+string(reason) || p.RequestID != "req-1" {
		t.Errorf("problem = %+v, want status %d reason %s", p, resp.StatusCode, reason)
	}
	// The detail is the reason's fixed text, so no upstream error (the AWS
	// SDK's, the JWKS fetch's, Sentiance's body), token or key can reach the
	// client through it.
	if p.Detail != reason.Spec().Detail {
		t.Errorf("problem detail = %q, want the fixed text for %s %q", p.Detail, reason, reason.Spec().Detail)
	}
}
