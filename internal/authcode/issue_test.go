package authcode_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sentiance-authcode/backend/internal/authcode"
	"github.com/sentiance-authcode/backend/internal/identity"
	"github.com/sentiance-authcode/backend/internal/metrics"
	"github.com/sentiance-authcode/backend/internal/sentiance"
)

// verifier accepts the token "good" with claims, and fails any other with err.
type verifier struct {
	claims map[string]any
	err    error
}

func (v verifier) Verify(_ context.Context, token string) (map[string]any, error) {
	if token == "good" {
		return v.claims, nil
	}
	return nil, v.err
}

// keys hands out key; Refresh hands out refreshed (or fails with err).
type keys struct {
	key, refreshed string
	err            error
}

func (k keys) Key(context.Context) (string, error) { return k.key, k.err }
func (k keys) Refresh(context.Context, string) (string, error) {
	return k.refreshed, nil
}

// issuer answers by key: a code for the accepted key, else rejects it;
// err, when set, is every answer.
type issuer struct {
	accepted string
	err      error
	calls    *[]string // the keys it was asked with
}

func (i issuer) AuthCode(_ context.Context, key, externalID string) (string, string, error) {
	*i.calls = append(*i.calls, key)
	if i.err != nil {
		return "", "", i.err
	}
	if key != i.accepted {
		return "", "", fmt.Errorf("%w: status 401", sentiance.ErrKeyRejected)
	}
	return "code-for-" + externalID, "2030-01-01T00:00:00Z", nil
}

// stubLimiter answers every check with wait and err.
type stubLimiter struct {
	wait time.Duration
	err  error
}

func (l stubLimiter) Allow(context.Context, string) (time.Duration, error) { return l.wait, l.err }

func TestIssue(t *testing.T) {
	id := func(s string) *string { return &s }
	good := verifier{claims: map[string]any{"sub": "user-1"}, err: fmt.Errorf("%w: bad signature", identity.ErrInvalidToken)}
	tests := []struct {
		name       string
		opts       func(o *authcode.Options)
		req        authcode.Request
		want       authcode.Reason // "" for a code
		retryAfter time.Duration
		keysUsed   []string // keys Sentiance was asked with
		rejected   int      // KeyRejected reports
		limitErrs  int
	}{
		{name: "token verified", req: authcode.Request{BearerToken: "good"}, keysUsed: []string{"k1"}},
		{name: "gateway claims only", opts: noVerifier, req: authcode.Request{GatewayClaims: map[string]string{"sub": "user-1"}}, keysUsed: []string{"k1"}},
		{name: "gateway and token agree", req: authcode.Request{BearerToken: "good", GatewayClaims: map[string]string{"sub": "user-1"}}, keysUsed: []string{"k1"}},
		{name: "body external_id matches", req: authcode.Request{BearerToken: "good", BodyExternalID: id("user-1")}, keysUsed: []string{"k1"}},
		{name: "invalid token", req: authcode.Request{BearerToken: "forged"}, want: authcode.InvalidToken},
		{name: "identity provider keys unavailable", opts: func(o *authcode.Options) {
			o.Verifier = verifier{err: fmt.Errorf("%w: timeout", identity.ErrKeysUnavailable)}
		}, req: authcode.Request{BearerToken: "x"}, want: authcode.JWKSUnavailable, retryAfter: 5 * time.Second},
		{name: "no identity at all", opts: noVerifier, req: authcode.Request{BearerToken: "good"}, want: authcode.NoIdentity},
		{name: "identities disagree", req: authcode.Request{BearerToken: "good", GatewayClaims: map[string]string{"sub": "user-2"}}, want: authcode.IdentityConflict},
		{name: "claim missing", opts: func(o *authcode.Options) {
			o.Verifier = verifier{claims: map[string]any{"email": "a@b"}}
		}, req: authcode.Request{BearerToken: "good"}, want: authcode.ExternalIDClaim},
		{name: "gateway claim empty", opts: noVerifier, req: authcode.Request{GatewayClaims: map[string]string{"sub": ""}}, want: authcode.ExternalIDClaim},
		{name: "body external_id differs", req: authcode.Request{BearerToken: "good", BodyExternalID: id("user-2")}, want: authcode.ExternalIDMismatch},
		{name: "user over the limit", opts: func(o *authcode.Options) {
			o.Limiter = stubLimiter{wait: 42 * time.Second}
		}, req: authcode.Request{BearerToken: "good"}, want: authcode.UserRateLimited, retryAfter: 42 * time.Second},
		{name: "limiter down, fail open", opts: func(o *authcode.Options) {
			o.Limiter = stubLimiter{err: errors.New("table unreachable")}
		}, req: authcode.Request{BearerToken: "good"}, keysUsed: []string{"k1"}, limitErrs: 1},
		{name: "limiter down, fail closed", opts: func(o *authcode.Options) {
			o.Limiter, o.LimiterFailClosed = stubLimiter{err: errors.New("table unreachable")}, true
		}, req: authcode.Request{BearerToken: "good"}, want: authcode.RateLimitUnavailable, retryAfter: 5 * time.Second, limitErrs: 1},
		{name: "key unavailable", opts: func(o *authcode.Options) {
			o.Keys = keys{err: errors.New("secrets manager down")}
		}, req: authcode.Request{BearerToken: "good"}, want: authcode.KeyUnavailable, retryAfter: 5 * time.Second},
		{name: "key rotated: one refresh, one retry", opts: func(o *authcode.Options) {
			o.Keys = keys{key: "old", refreshed: "k1"}
		}, req: authcode.Request{BearerToken: "good"}, keysUsed: []string{"old", "k1"}, rejected: 1},
		{name: "key rejected, nothing newer", opts: func(o *authcode.Options) {
			o.Keys = keys{key: "old", refreshed: "old"}
		}, req: authcode.Request{BearerToken: "good"}, want: authcode.KeyRejected, keysUsed: []string{"old"}, rejected: 1},
		{name: "new key rejected too", opts: func(o *authcode.Options) {
			o.Keys = keys{key: "old", refreshed: "older"}
		}, req: authcode.Request{BearerToken: "good"}, want: authcode.KeyRejected, keysUsed: []string{"old", "older"}, rejected: 2},
		{name: "Sentiance rate-limits", opts: sentianceFails(&sentiance.RateLimitError{RetryAfter: 7 * time.Second}),
			req: authcode.Request{BearerToken: "good"}, want: authcode.SentianceRateLimited, retryAfter: 7 * time.Second, keysUsed: []string{"k1"}},
		{name: "Sentiance rate-limits without Retry-After", opts: sentianceFails(&sentiance.RateLimitError{}),
			req: authcode.Request{BearerToken: "good"}, want: authcode.SentianceRateLimited, retryAfter: time.Second, keysUsed: []string{"k1"}},
		{name: "Sentiance too slow", opts: sentianceFails(fmt.Errorf("%w: deadline", sentiance.ErrTimeout)),
			req: authcode.Request{BearerToken: "good"}, want: authcode.SentianceTimeout, keysUsed: []string{"k1"}},
		{name: "Sentiance error", opts: sentianceFails(fmt.Errorf("%w: status 500", sentiance.ErrUpstream)),
			req: authcode.Request{BearerToken: "good"}, want: authcode.SentianceError, keysUsed: []string{"k1"}},
	}
	returned := map[authcode.Reason]bool{}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var used []string
			var counted bytes.Buffer
			o := authcode.Options{
				Verifier: good, Keys: keys{key: "k1", refreshed: "k1"}, Sentiance: issuer{accepted: "k1", calls: &used},
				ExternalIDClaim: "sub", PlatformURL: "https://api.sentiance.com",
				Logger: slog.New(slog.DiscardHandler), Metrics: metrics.New(&counted, "Test"),
			}
			if tt.opts != nil {
				tt.opts(&o)
				if i, ok := o.Sentiance.(issuer); ok {
					i.calls = &used
					o.Sentiance = i
				}
			}
			res, err := authcode.New(o).Issue(context.Background(), tt.req)
			if tt.want == "" {
				if err != nil || res.Code != "code-for-user-1" || res.PlatformURL != o.PlatformURL {
					t.Fatalf("Issue = %+v, %v; want a code for user-1", res, err)
				}
			} else {
				var e *authcode.Error
				if !errors.As(err, &e) || e.Reason != tt.want {
					t.Fatalf("Issue error = %v, want reason %s", err, tt.want)
				}
				if e.Wait() != tt.retryAfter {
					t.Errorf("Retry-After = %v, want %v", e.Wait(), tt.retryAfter)
				}
				returned[e.Reason] = true
			}
			if !slices.Equal(used, tt.keysUsed) {
				t.Errorf("Sentiance asked with keys %v, want %v", used, tt.keysUsed)
			}
			rejected := strings.Count(counted.String(), `"`+metrics.KeyRejected+`":1`)
			limitErrs := strings.Count(counted.String(), `"`+metrics.RateLimitErrors+`":1`)
			if rejected != tt.rejected || limitErrs != tt.limitErrs {
				t.Errorf("counted %d key rejections and %d limiter errors, want %d and %d", rejected, limitErrs, tt.rejected, tt.limitErrs)
			}
		})
	}
	// Every reason but the adapter's own (and Internal, for errors that are
	// not *Error) must be reachable from the use case, and covered above.
	adapters := []authcode.Reason{authcode.BadRequest, authcode.NotFound, authcode.MethodNotAllowed, authcode.BodyTooLarge, authcode.UnsupportedMediaType, authcode.Internal}
	for _, r := range authcode.Reasons() {
		if !returned[r] && !slices.Contains(adapters, r) {
			t.Errorf("no case returns %s", r)
		}
	}
}

func noVerifier(o *authcode.Options) { o.Verifier = nil }

func sentianceFails(err error) func(o *authcode.Options) {
	return func(o *authcode.Options) { o.Sentiance = issuer{accepted: "k1", err: err} }
}

// The use case keeps a margin before the invocation's deadline to answer in.
func TestBudget(t *testing.T) {
	var left time.Duration
	o := authcode.Options{
		Verifier: verifier{claims: map[string]any{"sub": "u"}}, Keys: keys{key: "k"}, ExternalIDClaim: "sub",
		Sentiance: deadlineIssuer(func(d time.Duration) { left = d }), Logger: slog.New(slog.DiscardHandler),
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := authcode.New(o).Issue(ctx, authcode.Request{BearerToken: "good"}); err != nil {
		t.Fatal(err)
	}
	if left > 10*time.Second-500*time.Millisecond || left < 9*time.Second {
		t.Errorf("Sentiance got %v of a 10 s invocation, want about 9.5 s", left)
	}
}

type deadlineIssuer func(time.Duration)

func (f deadlineIssuer) AuthCode(ctx context.Context, _, externalID string) (string, string, error) {
	d, _ := ctx.Deadline()
	f(time.Until(d))
	return "c", "", nil
}

// The reasons table: every reason has a status and a detail, and the
// statuses that carry Retry-After have one.
func TestReasons(t *testing.T) {
	for _, r := range authcode.Reasons() {
		s := r.Spec()
		if s.Status < 400 || s.Status > 599 || s.Detail == "" {
			t.Errorf("%s: %+v", r, s)
		}
		if (s.Status == 429 || s.Status == 503) != (s.RetryAfter > 0) {
			t.Errorf("%s: status %d with Retry-After %v", r, s.Status, s.RetryAfter)
		}
	}
	if authcode.Reason("no_such_reason").Spec() != authcode.Internal.Spec() {
		t.Error("an unknown reason does not answer as internal")
	}
}
