package local

import (
	"encoding/json"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sentiance-authcode/backend/devtools/devidp"
	"github.com/sentiance-authcode/backend/internal/identity"
)

func TestAuthorizer(t *testing.T) {
	t.Parallel()
	iss := devidp.Start(t, false)
	az := NewAuthorizer(AuthorizerOptions{Issuer: iss.URL, Audiences: []string{"app", "other-app"}, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(az.Close)
	now := time.Now()

	valid := iss.Token(t, jwt.MapClaims{"sub": "u-1", "aud": "app"})
	tests := []struct {
		name   string
		header string
		ok     bool
		desc   string // the www-authenticate error_description on refusal
	}{
		{"Bearer token", "Bearer " + valid, true, ""},
		{"token alone (the gateway allows it)", valid, true, ""},
		{"aud in a list", "Bearer " + iss.Token(t, jwt.MapClaims{"sub": "u", "aud": []string{"x", "other-app"}}), true, ""},
		{"client_id when aud is absent", "Bearer " + iss.Token(t, jwt.MapClaims{"sub": "u", "client_id": "app"}), true, ""},

		{"no header", "", false, "the token is missing"},
		{"wrong audience", "Bearer " + iss.Token(t, jwt.MapClaims{"aud": "someone-else"}), false, "the token does not have a valid audience"},
		{"aud wins over client_id", "Bearer " + iss.Token(t, jwt.MapClaims{"aud": "x", "client_id": "app"}), false, "the token does not have a valid audience"},
		{"no aud, wrong client_id", "Bearer " + iss.Token(t, jwt.MapClaims{"client_id": "x"}), false, "the token does not have a valid audience"},
		{"wrong issuer", "Bearer " + iss.Token(t, jwt.MapClaims{"aud": "app", "iss": iss.URL + "/"}), false, "the token does not have a valid issuer"},
		{"expired", "Bearer " + iss.Token(t, jwt.MapClaims{"aud": "app", "exp": now.Add(-5 * time.Second).Unix()}), false, "the token has expired"},
		// The function's own check allows 60 s of clock skew; the gateway none.
		{"nbf in 30 s", "Bearer " + iss.Token(t, jwt.MapClaims{"aud": "app", "nbf": now.Add(30 * time.Second).Unix()}), false, "the token is not valid yet"},
		{"iat in 30 s", "Bearer " + iss.Token(t, jwt.MapClaims{"aud": "app", "iat": now.Add(30 * time.Second).Unix()}), false, "the token is not valid yet"},
		{"no exp", "Bearer " + iss.Token(t, jwt.MapClaims{"aud": "app", "exp": nil}), false, "the token is not valid"},
		{"ES256: RSA only", "Bearer " + iss.TokenES256(t, jwt.MapClaims{"aud": "app"}), false, "the token is not valid"},
		{"PS256: RSA PKCS#1 only", "Bearer " + iss.Sign(t, jwt.SigningMethodPS256, "rsa-1", jwt.MapClaims{"iss": iss.URL, "aud": "app", "exp": now.Add(time.Minute).Unix()}, nil), false, "the token is not valid"},
		{"HS256 with the public key", "Bearer " + iss.Sign(t, jwt.SigningMethodHS256, "rsa-1", jwt.MapClaims{"iss": iss.URL, "aud": "app", "exp": now.Add(time.Minute).Unix()}, nil), false, "the token is not valid"},
		{"alg none", "Bearer " + iss.Sign(t, jwt.SigningMethodNone, "rsa-1", jwt.MapClaims{"iss": iss.URL, "aud": "app", "exp": now.Add(time.Minute).Unix()}, nil), false, "the token is not valid"},
		{"kid not in the JWKS", "Bearer " + iss.Sign(t, jwt.SigningMethodRS256, "rsa-9", jwt.MapClaims{"iss": iss.URL, "aud": "app", "exp": now.Add(time.Minute).Unix()}, nil), false, "the token is not valid"},
		// The function's verifier would try every key; the gateway needs the kid.
		{"no kid", "Bearer " + iss.Sign(t, jwt.SigningMethodRS256, "", jwt.MapClaims{"iss": iss.URL, "aud": "app", "exp": now.Add(time.Minute).Unix()}, nil), false, "the token is not valid"},
		{"kid not a string", "Bearer " + iss.Sign(t, jwt.SigningMethodRS256, "", jwt.MapClaims{"iss": iss.URL, "aud": "app", "exp": now.Add(time.Minute).Unix()}, map[string]any{"kid": 1}), false, "the token is not valid"},
		{"another issuer's key", "Bearer " + devidp.Start(t, false).Token(t, jwt.MapClaims{"iss": iss.URL, "aud": "app"}), false, "the token is not valid"},
		{"tampered", "Bearer " + valid[:len(valid)-4] + "AAAA", false, "the token is not valid"},
		{"garbage", "Bearer not.a.token", false, "the token is not valid"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			claims, err := az.Authorize(t.Context(), tt.header)
			if tt.ok {
				if err != nil || claims["iss"] != iss.URL {
					t.Fatalf("refused: %v (claims %v)", err, claims)
				}
				return
			}
			if err == nil {
				t.Fatalf("accepted with claims %v", claims)
			}
			if got := az.wwwAuthenticate(err); got != `Bearer scope="" error="invalid_token" error_description="`+tt.desc+`"` {
				t.Errorf("www-authenticate = %s (error: %v)", got, err)
			}
			if tt.header != "" && strings.Contains(err.Error(), strings.TrimPrefix(tt.header, "Bearer ")) {
				t.Error("the error contains the token")
			}
		})
	}

	// Claims reach the function as strings, as API Gateway renders them.
	tok := iss.Token(t, jwt.MapClaims{
		"sub": "u-1", "aud": "app", "exp": 4102444800, "email_verified": true,
		"cognito:groups": []string{"admins", "users"}, "ratio": 0.5,
		"address": map[string]any{"country": "BE", "zip": 1000}, "nothing": json.RawMessage("null"),
	})
	claims, err := az.Authorize(t.Context(), "Bearer "+tok)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"sub": "u-1", "aud": "app", "iss": iss.URL, "exp": "4102444800", "email_verified": "true",
		"cognito:groups": "[admins users]", "ratio": "0.5", "address": "map[country:BE zip:1000]", "nothing": "<nil>",
	}
	for k, v := range want {
		if claims[k] != v {
			t.Errorf("claim %s = %q, want %q", k, claims[k], v)
		}
	}

	// Keys that cannot be fetched: the gateway denies.
	iss.SetDown(true)
	down := NewAuthorizer(AuthorizerOptions{Issuer: iss.URL, Audiences: []string{"app"}, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(down.Close)
	_, err = down.Authorize(t.Context(), "Bearer "+valid)
	if !errors.Is(err, identity.ErrKeysUnavailable) || !strings.Contains(down.wwwAuthenticate(err), "signing keys") {
		t.Errorf("issuer down: %v", err)
	}
}

// With local mode's own issuer, a token it did not sign (as after a restart,
// which makes new keys) is refused with a description that says so.
func TestAuthorizerDevIssuerHint(t *testing.T) {
	t.Parallel()
	iss := devidp.Start(t, false)
	az := NewAuthorizer(AuthorizerOptions{Issuer: iss.URL, Audiences: []string{"app"}, Logger: slog.New(slog.DiscardHandler), DevIssuer: true})
	t.Cleanup(az.Close)
	earlierRun := devidp.Start(t, false) // same kid, other key: the issuer before a restart
	tok := earlierRun.Token(t, jwt.MapClaims{"iss": iss.URL, "aud": "app"})
	_, err := az.Authorize(t.Context(), "Bearer "+tok)
	if desc := az.wwwAuthenticate(err); !strings.Contains(desc, "a restart makes new keys") {
		t.Errorf("www-authenticate = %s", desc)
	}
	if _, err := az.Authorize(t.Context(), "Bearer "+iss.Token(t, jwt.MapClaims{"aud": "app"})); err != nil {
		t.Errorf("this run's token: %v", err)
	}
}

func TestClaimString(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		in   string // JSON
		want string
	}{
		{`"x y"`, "x y"},
		{`1612061676`, "1612061676"},
		{`-3`, "-3"},
		{`1.25`, "1.25"},
		{`1e3`, "1000"},
		{`true`, "true"},
		{`false`, "false"},
		{`null`, "<nil>"},
		{`[]`, "[]"},
		{`["a"]`, "[a]"},
		{`["a","b c",1,true]`, "[a b c 1 true]"},
		{`[["a"],{"k":"v"}]`, "[[a] map[k:v]]"},
		{`{"b":2,"a":"x"}`, "map[a:x b:2]"},
	} {
		var v any
		if err := json.Unmarshal([]byte(tt.in), &v); err != nil {
			t.Fatal(err)
		}
		if got := claimString(v); got != tt.want {
			t.Errorf("claimString(%s) = %q, want %q", tt.in, got, tt.want)
		}
	}
}
