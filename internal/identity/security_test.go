package identity_test

import (
	"context"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sentiance-authcode/backend/devtools/devidp"
	"github.com/sentiance-authcode/backend/internal/identity"
)

// ECDSA signatures are malleable: (r, n-s) verifies whenever (r, s) does.
// That is no forgery (it needs a genuine signature first), but it means a
// token's text is not unique; nothing here uses a token string as a key
// (no replay cache, no logging of tokens), and this test records the fact.
func TestES256Malleability(t *testing.T) {
	iss := devidp.Start(t, false)
	v := newVerifier(t, iss.URL, nil)
	tok := iss.TokenES256(t, jwt.MapClaims{"sub": "user-1", "aud": audience})
	i := strings.LastIndex(tok, ".")
	sig, _ := base64.RawURLEncoding.DecodeString(tok[i+1:])
	s := new(big.Int).SetBytes(sig[32:])
	s.Sub(elliptic.P256().Params().N, s)
	s.FillBytes(sig[32:])
	twin := tok[:i+1] + base64.RawURLEncoding.EncodeToString(sig)
	if twin == tok {
		t.Fatal("the mutation changed nothing")
	}
	if _, err := v.Verify(context.Background(), twin); err != nil {
		t.Fatalf("the (r, n-s) twin was refused (%v): if the library now enforces low-s, update SECURITY.md", err)
	}
}

// The leeway on exp, nbf and iat is capped at a minute whatever the
// options say, so a misconfiguration cannot revive expired tokens.
func TestLeewayIsCapped(t *testing.T) {
	iss := devidp.Start(t, false)
	v := newVerifier(t, iss.URL, func(o *identity.VerifierOptions) { o.Leeway = time.Hour })
	now := time.Now()
	expired := iss.Token(t, jwt.MapClaims{"sub": "user-1", "aud": audience, "exp": now.Add(-5 * time.Minute).Unix(), "iat": now.Add(-time.Hour).Unix()})
	if _, err := v.Verify(context.Background(), expired); !errors.Is(err, identity.ErrInvalidToken) {
		t.Fatalf("token expired 5 minutes ago with Leeway: 1h: err = %v, want ErrInvalidToken", err)
	}
	within := iss.Token(t, jwt.MapClaims{"sub": "user-1", "aud": audience, "exp": now.Add(-30 * time.Second).Unix(), "iat": now.Add(-time.Hour).Unix()})
	if _, err := v.Verify(context.Background(), within); err != nil {
		t.Fatalf("token expired 30 s ago (within the capped leeway): %v", err)
	}
}

// countingServer counts every request it gets; redirect targets point here.
func countingServer(t *testing.T) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// The JWKS and discovery requests go through the default outbound client:
// no redirect followed, the document capped at 150,000 bytes (API Gateway's
// own limit), and a jwks_uri over plain http to a non-loopback host refused.
// Each failure is ErrKeysUnavailable (503), never a crash or a 401.
func TestJWKSOutboundSafety(t *testing.T) {
	ctx := context.Background()
	// pad makes the JWKS document exactly n bytes with an extra member.
	pad := func(doc []byte, n int) []byte {
		head := string(doc[:len(doc)-1]) + `,"pad":"`
		return []byte(head + strings.Repeat("x", n-len(head)-2) + `"}`)
	}
	for _, size := range []int{150_000, 150_001} {
		for _, declared := range []bool{true, false} {
			t.Run(fmt.Sprintf("JWKS of %d bytes, Content-Length %v", size, declared), func(t *testing.T) {
				iss := devidp.Start(t, false)
				iss.OverrideJWKS(func(w http.ResponseWriter, r *http.Request, jwks []byte) {
					body := pad(jwks, size)
					if len(body) != size {
						t.Errorf("padded JWKS is %d bytes", len(body))
					}
					w.Header().Set("Content-Type", "application/json")
					if declared {
						w.Header().Set("Content-Length", fmt.Sprint(len(body)))
					} else {
						w.(http.Flusher).Flush() // chunked: the cap must hold while reading
					}
					w.Write(body)
				})
				v := newVerifier(t, iss.URL, nil)
				_, err := v.Verify(ctx, iss.Token(t, jwt.MapClaims{"sub": "user-1", "aud": audience}))
				if size <= 150_000 && err != nil {
					t.Fatalf("JWKS at the cap refused: %v", err)
				}
				if size > 150_000 && !errors.Is(err, identity.ErrKeysUnavailable) {
					t.Fatalf("JWKS over the cap: err = %v, want ErrKeysUnavailable", err)
				}
			})
		}
	}
	t.Run("JWKS redirect not followed", func(t *testing.T) {
		target, hits := countingServer(t)
		iss := devidp.Start(t, false)
		iss.OverrideJWKS(func(w http.ResponseWriter, r *http.Request, _ []byte) {
			http.Redirect(w, r, target.URL+"/jwks.json", http.StatusFound)
		})
		v := newVerifier(t, iss.URL, nil)
		if _, err := v.Verify(ctx, iss.Token(t, jwt.MapClaims{"sub": "user-1", "aud": audience})); !errors.Is(err, identity.ErrKeysUnavailable) {
			t.Fatalf("err = %v, want ErrKeysUnavailable", err)
		}
		if n := hits.Load(); n != 0 {
			t.Fatalf("the redirect target was contacted %d time(s)", n)
		}
	})
	t.Run("discovery redirect not followed", func(t *testing.T) {
		target, hits := countingServer(t)
		idp := httptest.NewServer(http.RedirectHandler(target.URL+"/.well-known/openid-configuration", http.StatusMovedPermanently))
		t.Cleanup(idp.Close)
		v := newVerifier(t, idp.URL, nil)
		if err := v.Warm(ctx); !errors.Is(err, identity.ErrKeysUnavailable) {
			t.Fatalf("err = %v, want ErrKeysUnavailable", err)
		}
		if n := hits.Load(); n != 0 {
			t.Fatalf("the redirect target was contacted %d time(s)", n)
		}
	})
	for _, uri := range []string{"http://keys.example/jwks.json", "ftp://127.0.0.1/jwks.json", "/jwks.json", "file:///etc/passwd"} {
		t.Run("discovery naming jwks_uri "+uri, func(t *testing.T) {
			var idp *httptest.Server
			idp = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprintf(w, `{"issuer":%q,"jwks_uri":%q}`, idp.URL, uri)
			}))
			t.Cleanup(idp.Close)
			v := newVerifier(t, idp.URL, nil)
			if err := v.Warm(ctx); !errors.Is(err, identity.ErrKeysUnavailable) || !strings.Contains(err.Error(), "jwks_uri") {
				t.Fatalf("err = %v, want ErrKeysUnavailable about jwks_uri", err)
			}
		})
	}
}

// Many identity providers publish keys without "alg". keyfunc then no longer
// refuses a token whose alg differs from the key's, and only the verifier's
// allow-list stops our RSA key being used with an algorithm we did not allow.
func TestAlgorithmAllowListWithoutJWKAlg(t *testing.T) {
	iss := devidp.Start(t, false)
	iss.OverrideJWKS(func(w http.ResponseWriter, r *http.Request, jwks []byte) {
		var set map[string][]map[string]any
		if err := json.Unmarshal(jwks, &set); err != nil {
			t.Error(err)
		}
		for _, k := range set["keys"] {
			delete(k, "alg")
		}
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(set)
	})
	v := newVerifier(t, iss.URL, func(o *identity.VerifierOptions) { o.Algorithms = []string{"RS256"} })
	claims := jwt.MapClaims{"iss": iss.URL, "sub": "user-1", "aud": audience, "exp": time.Now().Add(time.Minute).Unix()}
	if _, err := v.Verify(context.Background(), iss.Sign(t, jwt.SigningMethodRS256, "rsa-1", claims, nil)); err != nil {
		t.Fatalf("RS256, allowed: %v", err)
	}
	for _, m := range []jwt.SigningMethod{jwt.SigningMethodRS384, jwt.SigningMethodRS512, jwt.SigningMethodPS256, jwt.SigningMethodES256} {
		kid := "rsa-1"
		if m == jwt.SigningMethodES256 {
			kid = "ec-1"
		}
		if _, err := v.Verify(context.Background(), iss.Sign(t, m, kid, claims, nil)); !errors.Is(err, identity.ErrInvalidToken) {
			t.Errorf("%s, signed by our key but not allowed: err = %v, want ErrInvalidToken", m.Alg(), err)
		}
	}
}

// When the provider's keys were loaded once but a later refresh left none
// (it served an empty key set), the verifier cannot judge tokens: 503
// (ErrKeysUnavailable), not 401 for every user.
func TestKeysGoneAfterRefresh(t *testing.T) {
	iss := devidp.Start(t, false)
	v := newVerifier(t, iss.URL, nil)
	ctx := context.Background()
	good := iss.Token(t, jwt.MapClaims{"sub": "user-1", "aud": audience})
	if _, err := v.Verify(ctx, good); err != nil {
		t.Fatal(err)
	}
	iss.OverrideJWKS(func(w http.ResponseWriter, r *http.Request, _ []byte) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"keys":[]}`)
	})
	// An unknown kid makes the verifier refresh, and the refresh empties the keys.
	unknown := iss.Sign(t, jwt.SigningMethodRS256, "rsa-new", jwt.MapClaims{"iss": iss.URL, "sub": "user-1", "aud": audience, "exp": time.Now().Add(time.Minute).Unix()}, nil)
	if _, err := v.Verify(ctx, unknown); !errors.Is(err, identity.ErrKeysUnavailable) {
		t.Fatalf("unknown kid, empty key set: err = %v, want ErrKeysUnavailable", err)
	}
	if _, err := v.Verify(ctx, good); !errors.Is(err, identity.ErrKeysUnavailable) {
		t.Fatalf("known kid, keys gone: err = %v, want ErrKeysUnavailable", err)
	}
}
