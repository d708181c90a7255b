package identity_test

import (
	"context"
	"encoding/base64"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sentiance-authcode/backend/devtools/devidp"
	"github.com/sentiance-authcode/backend/internal/identity"
	"github.com/sentiance-authcode/backend/internal/outbound"
)

const audience = "mobile-app"

// newVerifier is a verifier of tokens from issuer as the function makes it
// (a capped outbound client), changed by mod.
func newVerifier(t testing.TB, issuer string, mod func(*identity.VerifierOptions)) *identity.Verifier {
	t.Helper()
	o := identity.VerifierOptions{
		Issuer: issuer, Audiences: []string{audience, "second-app"}, Algorithms: []string{"RS256", "ES256"},
		Client: outbound.NewClient(outbound.Options{MaxBody: identity.MaxJWKSBytes}), Logger: slog.New(slog.DiscardHandler),
	}
	if mod != nil {
		mod(&o)
	}
	v := identity.NewVerifier(o)
	t.Cleanup(v.Close)
	return v
}

// seg base64url-encodes a raw JSON segment, for hand-made tokens.
func seg(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func mustDecode(t *testing.T, s string) []byte {
	t.Helper()
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestVerify(t *testing.T) {
	iss := devidp.Start(t, false)
	now := time.Now()
	claims := func(kv ...any) jwt.MapClaims {
		c := jwt.MapClaims{"iss": iss.URL, "sub": "user-1", "aud": audience, "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
		for i := 0; i < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
				continue
			}
			c[kv[i].(string)] = kv[i+1]
		}
		return c
	}
	valid := iss.Sign(t, jwt.SigningMethodRS256, "rsa-1", claims(), nil)
	parts := strings.Split(valid, ".")
	rs256 := `{"alg":"RS256","typ":"JWT","kid":"rsa-1"}` // the header of a token with raw JSON claims

	tests := []struct {
		name  string
		token string
		ok    bool
	}{
		{"valid RS256", valid, true},
		{"valid ES256", iss.Sign(t, jwt.SigningMethodES256, "ec-1", claims(), nil), true},
		{"second audience in an array", iss.Sign(t, jwt.SigningMethodRS256, "rsa-1", claims("aud", []string{"x", "second-app"}), nil), true},
		{"client_id when aud is absent", iss.Sign(t, jwt.SigningMethodRS256, "rsa-1", claims("aud", nil, "client_id", audience), nil), true},
		{"nbf within leeway", iss.Sign(t, jwt.SigningMethodRS256, "rsa-1", claims("nbf", now.Add(30*time.Second).Unix()), nil), true},
		{"empty", "", false},
		{"over 8 KiB", iss.Sign(t, jwt.SigningMethodRS256, "rsa-1", claims("pad", strings.Repeat("a", 8<<10)), nil), false},
		{"RS384 not allowed", iss.Sign(t, jwt.SigningMethodRS384, "rsa-1", claims(), nil), false},
		{"alg none", seg(`{"alg":"none","kid":"rsa-1"}`) + "." + parts[1] + ".", false},
		{"expired", iss.Sign(t, jwt.SigningMethodRS256, "rsa-1", claims("exp", now.Add(-2*time.Minute).Unix()), nil), false},
		{"exp missing", iss.Sign(t, jwt.SigningMethodRS256, "rsa-1", claims("exp", nil), nil), false},
		{"nbf beyond leeway", iss.Sign(t, jwt.SigningMethodRS256, "rsa-1", claims("nbf", now.Add(5*time.Minute).Unix()), nil), false},
		{"iat in the future", iss.Sign(t, jwt.SigningMethodRS256, "rsa-1", claims("iat", now.Add(5*time.Minute).Unix()), nil), false},
		{"issuer prefix", iss.Sign(t, jwt.SigningMethodRS256, "rsa-1", claims("iss", strings.TrimSuffix(iss.URL, iss.URL[len(iss.URL)-1:])), nil), false},
		{"issuer suffix", iss.Sign(t, jwt.SigningMethodRS256, "rsa-1", claims("iss", iss.URL+"/"), nil), false},
		{"wrong audience", iss.Sign(t, jwt.SigningMethodRS256, "rsa-1", claims("aud", "other"), nil), false},
		{"audience array without ours", iss.Sign(t, jwt.SigningMethodRS256, "rsa-1", claims("aud", []string{"a", "b"}), nil), false},
		{"no aud and wrong client_id", iss.Sign(t, jwt.SigningMethodRS256, "rsa-1", claims("aud", nil, "client_id", "other"), nil), false},
		{"crit header", iss.Sign(t, jwt.SigningMethodRS256, "rsa-1", claims(), map[string]any{"crit": []string{"exp"}}), false},
		{"unknown kid", iss.Sign(t, jwt.SigningMethodRS256, "nope", claims(), nil), false},
		{"tampered payload", parts[0] + "." + seg(`{"sub":"admin"}`) + "." + parts[2], false},
		{"duplicate sub", func() string {
			p := `{"iss":"` + iss.URL + `","aud":"` + audience + `","sub":"user-1","sub":"victim","exp":` + strconv.FormatInt(now.Add(time.Minute).Unix(), 10) + `}`
			return iss.SignSegments(t, jwt.SigningMethodRS256, rs256, p)
		}(), false},
		{"sub and SUB", func() string {
			p := `{"iss":"` + iss.URL + `","aud":"` + audience + `","sub":"user-1","SUB":"victim","exp":` + strconv.FormatInt(now.Add(time.Minute).Unix(), 10) + `}`
			return iss.SignSegments(t, jwt.SigningMethodRS256, rs256, p)
		}(), false},
		{"duplicate nested member", func() string {
			p := `{"iss":"` + iss.URL + `","aud":"` + audience + `","sub":"user-1","x":{"r":1,"r":2},"exp":` + strconv.FormatInt(now.Add(time.Minute).Unix(), 10) + `}`
			return iss.SignSegments(t, jwt.SigningMethodRS256, rs256, p)
		}(), false},
		{"duplicate member in an array's object", func() string {
			p := `{"iss":"` + iss.URL + `","aud":"` + audience + `","sub":"user-1","x":[{"r":1,"r":2}],"exp":` + strconv.FormatInt(now.Add(time.Minute).Unix(), 10) + `}`
			return iss.SignSegments(t, jwt.SigningMethodRS256, rs256, p)
		}(), false},
		{"nested case variants are distinct members", func() string {
			// Only the top level folds case: nested objects (e.g. Keycloak's
			// resource_access, keyed by client id) may hold "app" and "App".
			p := `{"iss":"` + iss.URL + `","aud":"` + audience + `","sub":"user-1","x":{"app":1,"App":2},"exp":` + strconv.FormatInt(now.Add(time.Minute).Unix(), 10) + `}`
			return iss.SignSegments(t, jwt.SigningMethodRS256, rs256, p)
		}(), true},
		{"duplicate alg in the header", iss.SignSegments(t, jwt.SigningMethodRS256, `{"alg":"none","alg":"RS256","kid":"rsa-1"}`, string(mustDecode(t, parts[1]))), false},
		{"payload with trailing data", iss.SignSegments(t, jwt.SigningMethodRS256, `{"alg":"RS256","kid":"rsa-1"}`, string(mustDecode(t, parts[1]))+` {"sub":"victim"}`), false},
		{"one segment", "not-a-jwt", false},
		{"two segments", parts[0] + "." + parts[1], false},
		{"four segments", valid + ".x", false},
		{"bad base64", parts[0] + ".%%%." + parts[2], false},
		{"payload a JSON array", iss.SignSegments(t, jwt.SigningMethodRS256, rs256, `["sub"]`), false},
	}
	v := newVerifier(t, iss.URL, nil)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := v.Verify(context.Background(), tt.token)
			if tt.ok {
				if err != nil || got["sub"] != "user-1" {
					t.Fatalf("Verify = %v, %v", got, err)
				}
				return
			}
			if !errors.Is(err, identity.ErrInvalidToken) {
				t.Fatalf("err = %v, want ErrInvalidToken", err)
			}
		})
	}
}

func TestKeys(t *testing.T) {
	ctx := context.Background()
	t.Run("provider down at cold start, then back", func(t *testing.T) {
		iss := devidp.Start(t, false)
		token := iss.Token(t, jwt.MapClaims{"sub": "u", "aud": audience})
		iss.SetDown(true)
		var mu sync.Mutex
		now := time.Now()
		v := newVerifier(t, iss.URL, func(o *identity.VerifierOptions) {
			o.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
		})
		if _, err := v.Verify(ctx, token); !errors.Is(err, identity.ErrKeysUnavailable) {
			t.Fatalf("err = %v, want ErrKeysUnavailable (503, not 401)", err)
		}
		iss.SetDown(false)
		// Within the retry interval the provider is not asked again.
		fetches := iss.JWKSFetches()
		if _, err := v.Verify(ctx, token); !errors.Is(err, identity.ErrKeysUnavailable) || iss.JWKSFetches() != fetches {
			t.Fatalf("right after a failed load: err = %v, %d new fetches; want ErrKeysUnavailable, none", err, iss.JWKSFetches()-fetches)
		}
		mu.Lock()
		now = now.Add(3 * time.Second)
		mu.Unlock()
		if _, err := v.Verify(ctx, token); err != nil {
			t.Fatalf("after recovery: %v", err)
		}
	})
	t.Run("rotation fetches the new kid once, then rate-limits", func(t *testing.T) {
		iss := devidp.Start(t, false)
		v := newVerifier(t, iss.URL, nil)
		if _, err := v.Verify(ctx, iss.Token(t, jwt.MapClaims{"sub": "u", "aud": audience})); err != nil {
			t.Fatal(err)
		}
		before := iss.JWKSFetches()
		iss.RotateKey(t)
		for i := 0; i < 20; i++ {
			if _, err := v.Verify(ctx, iss.Token(t, jwt.MapClaims{"sub": "u", "aud": audience})); err != nil {
				t.Fatalf("token with the new kid: %v", err)
			}
		}
		if got := iss.JWKSFetches() - before; got != 1 {
			t.Fatalf("JWKS fetches after rotation = %d, want 1", got)
		}
		for i := 0; i < 20; i++ {
			v.Verify(ctx, iss.Sign(t, jwt.SigningMethodRS256, "forged-kid", jwt.MapClaims{"sub": "u", "aud": audience, "iss": iss.URL, "exp": time.Now().Add(time.Minute).Unix()}, nil))
		}
		if got := iss.JWKSFetches() - before; got != 1 {
			t.Fatalf("JWKS fetches after 20 unknown kids = %d, want still 1 (rate-limited)", got)
		}
	})
	t.Run("provider down later keeps the keys", func(t *testing.T) {
		iss := devidp.Start(t, false)
		v := newVerifier(t, iss.URL, nil)
		token := iss.Token(t, jwt.MapClaims{"sub": "u", "aud": audience})
		if _, err := v.Verify(ctx, token); err != nil {
			t.Fatal(err)
		}
		iss.Close()
		if _, err := v.Verify(ctx, token); err != nil {
			t.Fatalf("with the provider gone: %v", err)
		}
	})
	t.Run("discovery naming another issuer", func(t *testing.T) {
		iss := devidp.Start(t, false)
		v := newVerifier(t, iss.URL+"/other", nil)
		if err := v.Warm(ctx); !errors.Is(err, identity.ErrKeysUnavailable) {
			t.Fatalf("err = %v, want ErrKeysUnavailable", err)
		}
	})
	t.Run("explicit JWKS URL skips discovery", func(t *testing.T) {
		iss := devidp.Start(t, false)
		v := newVerifier(t, iss.URL, func(o *identity.VerifierOptions) { o.JWKSURL = iss.JWKSURL })
		if err := v.Warm(ctx); err != nil {
			t.Fatal(err)
		}
		if _, err := v.Verify(ctx, iss.Token(t, jwt.MapClaims{"sub": "u", "aud": audience})); err != nil {
			t.Fatal(err)
		}
	})
}
