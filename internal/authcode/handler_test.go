package authcode_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sentiance-authcode/backend/devtools/devidp"
	"github.com/sentiance-authcode/backend/devtools/devsecrets"
	"github.com/sentiance-authcode/backend/devtools/devsentiance"
	"github.com/sentiance-authcode/backend/internal/authcode"
)

func TestHandle(t *testing.T) {
	sm := devsecrets.New()
	sm.Put("user-link", `{"user_link_api_key":"`+apiKey+`"}`)
	sm.Put("empty", `{"user_link_api_key":""}`)
	other := devidp.Start(t, false) // a real identity provider, but not ours

	type tc struct {
		name    string
		opts    stackOptions
		event   func(s *stack) events.APIGatewayV2HTTPRequest
		steps   []devsentiance.Step
		ctx     func() (context.Context, context.CancelFunc)
		before  func(s *stack)
		status  int
		reason  authcode.Reason // problem type suffix; empty for 200
		calls   int             // Sentiance calls expected
		headers map[string]string
	}
	verify := stackOptions{verify: true}
	gateway := stackOptions{}
	tok := func(s *stack, claims jwt.MapClaims) string {
		base := jwt.MapClaims{"sub": user, "aud": audience}
		for k, v := range claims {
			base[k] = v
		}
		return s.issuer.Token(t, base)
	}
	post := func(f func(s *stack) string, body string) func(s *stack) events.APIGatewayV2HTTPRequest {
		return func(s *stack) events.APIGatewayV2HTTPRequest { return event("POST", "/auth-code", f(s), body) }
	}
	good := func(s *stack) string { return tok(s, nil) }

	tests := []tc{
		// 200
		{name: "POST, empty body", opts: verify, event: post(good, ""), status: 200, calls: 1},
		{name: "POST, {}", opts: verify, event: post(good, "{}"), status: 200, calls: 1},
		{name: "POST, matching external_id", opts: verify, event: post(good, `{"external_id":"`+user+`"}`), status: 200, calls: 1},
		{name: "GET /auth/code", opts: verify, event: func(s *stack) events.APIGatewayV2HTTPRequest { return event("GET", "/auth/code", tok(s, nil), "") }, status: 200, calls: 1},
		{name: "ES256 token", opts: verify, event: post(func(s *stack) string {
			return s.issuer.TokenES256(t, jwt.MapClaims{"sub": user, "aud": audience})
		}, ""), status: 200, calls: 1},
		{name: "client_id instead of aud", opts: verify, event: post(func(s *stack) string {
			return s.issuer.Token(t, jwt.MapClaims{"sub": user, "client_id": audience})
		}, ""), status: 200, calls: 1},
		{name: "gateway claims only", opts: gateway, event: func(s *stack) events.APIGatewayV2HTTPRequest {
			return withClaims(event("POST", "/auth-code", "", ""), map[string]string{"sub": user})
		}, status: 200, calls: 1},
		{name: "gateway and token agree", opts: verify, event: func(s *stack) events.APIGatewayV2HTTPRequest {
			return withClaims(event("POST", "/auth-code", tok(s, nil), ""), map[string]string{"sub": user})
		}, status: 200, calls: 1},
		{name: "base64 body", opts: verify, event: func(s *stack) events.APIGatewayV2HTTPRequest {
			ev := event("POST", "/auth-code", tok(s, nil), base64.StdEncoding.EncodeToString([]byte(`{"external_id":"`+user+`"}`)))
			ev.IsBase64Encoded = true
			return ev
		}, status: 200, calls: 1},
		{name: "$default route key", opts: verify, event: func(s *stack) events.APIGatewayV2HTTPRequest {
			ev := event("POST", "/auth-code", tok(s, nil), "")
			ev.RouteKey = "$default"
			return ev
		}, status: 200, calls: 1},

		// 400
		{name: "body not JSON", opts: verify, event: post(good, "{"), status: 400, reason: "bad_request"},
		{name: "body a JSON array", opts: verify, event: post(good, `["x"]`), status: 400, reason: "bad_request"},
		{name: "external_id a number", opts: verify, event: post(good, `{"external_id":42}`), status: 400, reason: "bad_request"},
		{name: "external_id null", opts: verify, event: post(good, `{"external_id":null}`), status: 400, reason: "bad_request"},
		{name: "bad base64", opts: verify, event: func(s *stack) events.APIGatewayV2HTTPRequest {
			ev := event("POST", "/auth-code", tok(s, nil), "%%%")
			ev.IsBase64Encoded = true
			return ev
		}, status: 400, reason: "bad_request"},

		// 401
		{name: "no token", opts: verify, event: post(func(*stack) string { return "" }, ""), status: 401, reason: "invalid_token",
			headers: map[string]string{"WWW-Authenticate": `Bearer error="invalid_token"`}},
		{name: "malformed token", opts: verify, event: post(func(*stack) string { return "not.a.jwt" }, ""), status: 401, reason: "invalid_token"},
		{name: "signed by another provider", opts: verify, event: post(func(s *stack) string {
			return other.Sign(t, jwt.SigningMethodRS256, "rsa-1", jwt.MapClaims{"iss": s.issuer.URL, "sub": user, "aud": audience, "exp": time.Now().Add(time.Minute).Unix()}, nil)
		}, ""), status: 401, reason: "invalid_token"},
		{name: "expired", opts: verify, event: post(func(s *stack) string {
			return tok(s, jwt.MapClaims{"exp": time.Now().Add(-2 * time.Minute).Unix(), "iat": time.Now().Add(-time.Hour).Unix()})
		}, ""), status: 401, reason: "invalid_token"},
		{name: "wrong issuer", opts: verify, event: post(func(s *stack) string { return tok(s, jwt.MapClaims{"iss": s.issuer.URL + "/evil"}) }, ""), status: 401, reason: "invalid_token"},
		{name: "wrong audience", opts: verify, event: post(func(s *stack) string { return tok(s, jwt.MapClaims{"aud": "someone-else"}) }, ""), status: 401, reason: "invalid_token"},
		{name: "no verified claims at all", opts: gateway, event: post(good, ""), status: 401, reason: "no_identity"},
		{name: "gateway and token disagree", opts: verify, event: func(s *stack) events.APIGatewayV2HTTPRequest {
			return withClaims(event("POST", "/auth-code", tok(s, nil), ""), map[string]string{"sub": "someone-else"})
		}, status: 401, reason: "identity_conflict"},

		// 403
		{name: "claim missing", opts: verify, event: post(func(s *stack) string { return s.issuer.Token(t, jwt.MapClaims{"aud": audience}) }, ""), status: 403, reason: "external_id_claim"},
		{name: "claim empty", opts: verify, event: post(func(s *stack) string { return tok(s, jwt.MapClaims{"sub": ""}) }, ""), status: 403, reason: "external_id_claim"},
		{name: "claim a number", opts: verify, event: post(func(s *stack) string { return tok(s, jwt.MapClaims{"sub": 42}) }, ""), status: 403, reason: "external_id_claim"},
		{name: "claim over 256 bytes", opts: verify, event: post(func(s *stack) string { return tok(s, jwt.MapClaims{"sub": strings.Repeat("a", 257)}) }, ""), status: 403, reason: "external_id_claim"},
		{name: "claim with control characters", opts: verify, event: post(func(s *stack) string { return tok(s, jwt.MapClaims{"sub": "user\n42"}) }, ""), status: 403, reason: "external_id_claim"},
		{name: "gateway claim empty", opts: gateway, event: func(s *stack) events.APIGatewayV2HTTPRequest {
			return withClaims(event("POST", "/auth-code", "", ""), map[string]string{"sub": "", "email": "a@b.c"})
		}, status: 403, reason: "external_id_claim"},
		{name: "body external_id differs", opts: verify, event: post(good, `{"external_id":"someone-else"}`), status: 403, reason: "external_id_mismatch"},

		// 404, 405
		{name: "unknown route", opts: verify, event: func(s *stack) events.APIGatewayV2HTTPRequest { return event("POST", "/admin", tok(s, nil), "") }, status: 404, reason: "not_found"},
		{name: "wrong method", opts: verify, event: func(s *stack) events.APIGatewayV2HTTPRequest { return event("DELETE", "/auth-code", tok(s, nil), "") }, status: 405, reason: "method_not_allowed",
			headers: map[string]string{"Allow": "POST"}},

		// 413, 415
		{name: "body over 4 KiB", opts: verify, event: post(good, `{"external_id":"`+strings.Repeat("a", 4100)+`"}`), status: 413, reason: "body_too_large"},
		{name: "body not JSON media type", opts: verify, event: func(s *stack) events.APIGatewayV2HTTPRequest {
			ev := event("POST", "/auth-code", tok(s, nil), "external_id=user-42")
			ev.Headers["content-type"] = "application/x-www-form-urlencoded"
			return ev
		}, status: 415, reason: "unsupported_media_type"},

		// 429
		{name: "Sentiance rate limit", opts: verify, event: post(good, ""), steps: []devsentiance.Step{{Status: 429, Header: http.Header{"Retry-After": {"7"}}}},
			status: 429, reason: "sentiance_rate_limited", calls: 1, headers: map[string]string{"Retry-After": "7"}},

		// 502
		{name: "Sentiance error", opts: verify, event: post(good, ""), steps: []devsentiance.Step{{Status: 400, Body: `{"message":"bad external id ` + user + `"}`}}, status: 502, reason: "sentiance_error", calls: 1},
		{name: "Sentiance 5xx after retries", opts: verify, event: post(good, ""), steps: []devsentiance.Step{{Status: 503}, {Status: 503}, {Status: 503}}, status: 502, reason: "sentiance_error", calls: 3},
		{name: "Sentiance 200 without code", opts: verify, event: post(good, ""), steps: []devsentiance.Step{{Status: 200, Body: `{}`}}, status: 502, reason: "sentiance_error", calls: 1},
		{name: "key rejected after refresh", opts: verify, event: post(good, ""), before: func(s *stack) { s.sentiance.SetKey("another-key") }, status: 502, reason: "key_rejected", calls: 1},

		// 503
		{name: "secret missing", opts: stackOptions{verify: true, secretID: "no-such-secret"}, event: post(good, ""), status: 503, reason: "key_unavailable", headers: map[string]string{"Retry-After": "5"}},
		{name: "secret empty", opts: stackOptions{verify: true, secretID: "empty"}, event: post(good, ""), status: 503, reason: "key_unavailable"},
		{name: "identity provider down", opts: verify, event: post(good, ""), before: func(s *stack) { s.issuer.SetDown(true) }, status: 503, reason: "jwks_unavailable", headers: map[string]string{"Retry-After": "5"}},

		// 504
		{name: "Sentiance too slow for the deadline", opts: verify, event: post(good, ""), steps: []devsentiance.Step{{Delay: 5 * time.Second}},
			ctx: func() (context.Context, context.CancelFunc) {
				return context.WithTimeout(context.Background(), 1500*time.Millisecond)
			}, status: 504, reason: "sentiance_timeout", calls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, sm, tt.opts)
			ev := tt.event(s) // tokens are minted before the provider may be taken down
			if tt.before != nil {
				tt.before(s)
			}
			s.sentiance.Script(tt.steps...)
			ctx, cancel := context.WithCancel(context.Background())
			if tt.ctx != nil {
				ctx, cancel = tt.ctx()
			}
			defer cancel()
			start := time.Now()
			resp, err := s.handler.Handle(ctx, ev)
			if err != nil {
				t.Fatalf("Handle returned an error: %v", err)
			}
			if dl, ok := ctx.Deadline(); ok && time.Now().After(dl) {
				t.Errorf("answered after the invocation deadline (took %v)", time.Since(start))
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, resp.Body)
			}
			checkResponse(t, resp, tt.reason, s)
			for k, v := range tt.headers {
				if resp.Headers[k] != v {
					t.Errorf("header %s = %q, want %q", k, resp.Headers[k], v)
				}
			}
			if n := len(s.sentiance.Calls()); n != tt.calls {
				t.Errorf("Sentiance calls = %d, want %d", n, tt.calls)
			}
			for _, c := range s.sentiance.Calls() {
				if c.ExternalID != user {
					t.Errorf("Sentiance asked for %q, want the verified %q", c.ExternalID, user)
				}
			}
			leaks := []string{apiKey, ev.Headers["authorization"]}
			leaks = append(leaks, s.sentiance.Codes()...)
			noLeak(t, s.logs.String(), leaks...)
			if resp.StatusCode != 200 {
				noLeak(t, resp.Body, leaks...)
			}
		})
	}
}

func TestAppID(t *testing.T) {
	sm := devsecrets.New()
	sm.Put("user-link", apiKey)
	s := newStack(t, sm, stackOptions{verify: true, appID: "app-123"})
	resp, _ := s.handler.Handle(context.Background(), event("POST", "/auth-code", s.issuer.Token(t, jwt.MapClaims{"sub": user, "aud": audience}), ""))
	var body map[string]string
	if err := json.Unmarshal([]byte(resp.Body), &body); err != nil || resp.StatusCode != 200 || body["app_id"] != "app-123" {
		t.Fatalf("status %d, body %s: want app_id app-123", resp.StatusCode, resp.Body)
	}
}

// When the key is rotated, the first request that meets Sentiance's
// rejection refreshes the secret once and retries once.
func TestKeyRotation(t *testing.T) {
	sm := devsecrets.New()
	sm.Put("user-link", apiKey)
	s := newStack(t, sm, stackOptions{verify: true})
	ev := event("POST", "/auth-code", s.issuer.Token(t, jwt.MapClaims{"sub": user, "aud": audience}), "")
	if resp, _ := s.handler.Handle(context.Background(), ev); resp.StatusCode != 200 {
		t.Fatalf("before rotation: %d %s", resp.StatusCode, resp.Body)
	}
	const rotated = "rotated-user-link-key-9876543210"
	sm.Put("user-link", rotated)
	s.sentiance.SetKey(rotated)
	fetches := sm.Calls()

	resp, _ := s.handler.Handle(context.Background(), ev)
	if resp.StatusCode != 200 {
		t.Fatalf("after rotation: %d %s", resp.StatusCode, resp.Body)
	}
	if n := sm.Calls() - fetches; n != 1 {
		t.Errorf("GetSecretValue calls for the rotation = %d, want 1", n)
	}
	calls := s.sentiance.Calls()
	if len(calls) != 3 || calls[1].Authorization != "Bearer "+apiKey || calls[2].Authorization != "Bearer "+rotated {
		t.Errorf("Sentiance calls = %d, want 3: ok, rejected old key, ok with the new key", len(calls))
	}
	noLeak(t, s.logs.String(), apiKey, rotated)
}
