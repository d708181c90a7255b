package sentiance_test

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sentiance-authcode/backend/devtools/devsentiance"
	"github.com/sentiance-authcode/backend/internal/outbound"
	"github.com/sentiance-authcode/backend/internal/sentiance"
)

const apiKey = "test-user-link-key"

func TestAuthCode(t *testing.T) {
	hex128 := strings.Repeat("ab", 64)
	tests := []struct {
		name      string
		key       string
		steps     []devsentiance.Step
		budget    time.Duration
		wantErr   error
		wantCalls int
		check     func(t *testing.T, code, expiresAt string, err error)
	}{
		{name: "issued", key: apiKey, wantCalls: 1, check: func(t *testing.T, code, expiresAt string, err error) {
			if len(code) != 128 || expiresAt == "" {
				t.Errorf("code = %q, expires_at %q", code, expiresAt)
			}
			// The stand-in's, passed on: devsentiance's own test checks its value.
			if _, perr := time.Parse(time.RFC3339, expiresAt); perr != nil {
				t.Errorf("expires_at = %q, want RFC 3339", expiresAt)
			}
		}},
		{name: "no expires_at", key: apiKey, wantCalls: 1,
			steps: []devsentiance.Step{{Status: 200, Body: `{"authentication_code":"` + hex128 + `"}`}},
			check: func(t *testing.T, code, expiresAt string, err error) {
				if code != hex128 || expiresAt != "" {
					t.Errorf("code = %q, expires_at %q", code, expiresAt)
				}
			}},
		{name: "wrong key", key: "wrong", wantErr: sentiance.ErrKeyRejected, wantCalls: 1},
		{name: "forbidden", key: apiKey, steps: []devsentiance.Step{{Status: 403, Body: `{"message":"no scope"}`}}, wantErr: sentiance.ErrKeyRejected, wantCalls: 1},
		{name: "rate limited", key: apiKey, wantCalls: 1,
			steps: []devsentiance.Step{{Status: 429, Header: http.Header{"Retry-After": {"7"}}}},
			check: func(t *testing.T, _, _ string, err error) {
				var rl *sentiance.RateLimitError
				if !errors.As(err, &rl) || rl.RetryAfter != 7*time.Second {
					t.Errorf("err = %v, want RateLimitError with 7s", err)
				}
			}},
		{name: "503 then success", key: apiKey, steps: []devsentiance.Step{{Status: 503}}, wantCalls: 2},
		{name: "reset then success", key: apiKey, steps: []devsentiance.Step{{Reset: true}}, wantCalls: 2},
		{name: "500 three times", key: apiKey, steps: []devsentiance.Step{{Status: 500}, {Status: 502}, {Status: 504}}, wantErr: sentiance.ErrUpstream, wantCalls: 3},
		{name: "redirect neither followed nor retried", key: apiKey, steps: []devsentiance.Step{{Status: 302, Header: http.Header{"Location": {"/users/auth-code?again"}}}}, wantErr: sentiance.ErrUpstream, wantCalls: 1},
		{name: "400 not retried", key: apiKey, steps: []devsentiance.Step{{Status: 400, Body: `{"errorCode":"validation_error"}`}}, wantErr: sentiance.ErrUpstream, wantCalls: 1},
		{name: "200 not JSON", key: apiKey, steps: []devsentiance.Step{{Status: 200, Body: "<html>"}}, wantErr: sentiance.ErrUpstream, wantCalls: 1},
		{name: "200 without code", key: apiKey, steps: []devsentiance.Step{{Status: 200, Body: `{"expires_at":"2030-01-01T00:00:00Z"}`}}, wantErr: sentiance.ErrUpstream, wantCalls: 1},
		{name: "200 with a non-hex code", key: apiKey, steps: []devsentiance.Step{{Status: 200, Body: `{"authentication_code":"<script>alert(1)</script>aaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}`}}, wantErr: sentiance.ErrUpstream, wantCalls: 1},
		{name: "200 huge", key: apiKey, steps: []devsentiance.Step{{Status: 200, Body: `{"authentication_code":"` + strings.Repeat("a", 200_000) + `"}`}}, wantErr: sentiance.ErrUpstream, wantCalls: 1},
		{name: "slow beyond budget", key: apiKey, budget: 300 * time.Millisecond, steps: []devsentiance.Step{{Delay: 2 * time.Second}}, wantErr: sentiance.ErrTimeout, wantCalls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stand := devsentiance.Start(t, apiKey)
			stand.Script(tt.steps...)
			c := sentiance.New(stand.URL, outbound.NewClient(outbound.Options{}), nil)
			ctx := context.Background()
			if tt.budget > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.budget)
				defer cancel()
			}
			code, expiresAt, err := c.AuthCode(ctx, tt.key, "user-42")
			if tt.wantErr != nil && !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && tt.check == nil && err != nil {
				t.Fatalf("err = %v", err)
			}
			if tt.check != nil {
				tt.check(t, code, expiresAt, err)
			}
			calls := stand.Calls()
			if len(calls) != tt.wantCalls {
				t.Fatalf("Sentiance got %d calls, want %d", len(calls), tt.wantCalls)
			}
			for _, call := range calls {
				if call.Method != http.MethodPost || call.Path != sentiance.Path || call.ContentType != "application/json" || call.Authorization != "Bearer "+tt.key {
					t.Errorf("call = %+v", call)
				}
				var body map[string]any
				if err := json.Unmarshal(call.Body, &body); err != nil || len(body) != 1 || body["external_id"] != "user-42" {
					t.Errorf("body = %s, want exactly {\"external_id\":\"user-42\"}", call.Body)
				}
			}
			if err == nil && code != "" {
				if codes := stand.Codes(); tt.steps == nil && (len(codes) != 1 || codes[0] != code) {
					t.Errorf("code %q is not the one Sentiance issued (%v)", code, codes)
				}
			}
		})
	}
}

func TestValidCode(t *testing.T) {
	tests := []struct {
		code string
		ok   bool
	}{
		{strings.Repeat("0f", 64), true},
		{strings.Repeat("AB", 16), true},
		{strings.Repeat("a", 31), false},
		{strings.Repeat("a", 513), false},
		{strings.Repeat("g", 64), false},
		{strings.Repeat("a", 63) + " ", false},
		{"", false},
	}
	for _, tt := range tests {
		if got := sentiance.ValidCode(tt.code); got != tt.ok {
			t.Errorf("ValidCode(%q) = %v, want %v", tt.code, got, tt.ok)
		}
	}
}
