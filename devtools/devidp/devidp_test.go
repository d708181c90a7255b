package devidp_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sentiance-authcode/backend/devtools/devidp"
	"github.com/sentiance-authcode/backend/internal/identity"
)

func TestIssuer(t *testing.T) {
	t.Parallel()
	iss := devidp.Start(t, false)

	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, iss.URL+identity.DiscoveryPath, &disc)
	if disc.Issuer != iss.URL || disc.JWKSURI != iss.JWKSURL {
		t.Errorf("discovery = %+v", disc)
	}
	var set struct{ Keys []map[string]string }
	getJSON(t, iss.JWKSURL, &set)
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k["kid"]+"/"+k["kty"]+"/"+k["alg"]+"/"+k["use"])
	}
	if want := []string{"rsa-1/RSA/RS256/sig", "ec-1/EC/ES256/sig"}; !slices.Equal(kids, want) {
		t.Errorf("JWKS keys = %v, want %v", kids, want)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // ends keyfunc's refresh goroutine
	kf, err := keyfunc.NewDefaultCtx(ctx, []string{iss.JWKSURL})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(tok string) error {
		_, err := jwt.Parse(tok, kf.Keyfunc,
			jwt.WithValidMethods([]string{"RS256", "ES256"}),
			jwt.WithIssuer(iss.URL),
			jwt.WithExpirationRequired())
		return err
	}
	if err := verify(iss.Token(t, jwt.MapClaims{"sub": "user-1"})); err != nil {
		t.Errorf("RS256 token: %v", err)
	}
	if err := verify(iss.TokenES256(t, jwt.MapClaims{"sub": "user-1"})); err != nil {
		t.Errorf("ES256 token: %v", err)
	}
	if err := verify(iss.Token(t, jwt.MapClaims{"exp": nil})); !errors.Is(err, jwt.ErrTokenRequiredClaimMissing) {
		t.Errorf("token without exp: %v", err)
	}
	if err := verify(iss.Token(t, jwt.MapClaims{"exp": time.Now().Add(-time.Minute).Unix()})); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Errorf("expired token: %v", err)
	}
	if err := verify(iss.Sign(t, jwt.SigningMethodHS256, "rsa-1", jwt.MapClaims{"iss": iss.URL}, nil)); err == nil {
		t.Error("HS256 token signed with the RSA public key verified")
	}
	raw := fmt.Sprintf(`{"iss":%q,"sub":"a","sub":"b","exp":%d}`, iss.URL, time.Now().Add(time.Minute).Unix())
	if err := verify(iss.SignSegments(t, jwt.SigningMethodRS256, `{"alg":"RS256","typ":"JWT","kid":"rsa-1"}`, raw)); err != nil {
		t.Errorf("SignSegments token: %v", err)
	}
	if err := verify(iss.Sign(t, jwt.SigningMethodNone, "", jwt.MapClaims{"iss": iss.URL}, nil)); err == nil {
		t.Error("alg none token verified")
	}
	// Same kid, different key: another issuer's token must not verify.
	other := devidp.Start(t, false)
	if err := verify(other.Token(t, jwt.MapClaims{"iss": iss.URL})); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Errorf("other issuer's token: %v", err)
	}

	fetches := iss.JWKSFetches()
	if kid := iss.RotateKey(t); kid != "rsa-2" {
		t.Errorf("RotateKey = %q", kid)
	}
	tok := iss.Token(t, nil)
	if h := jwtHeader(t, tok); h["kid"] != "rsa-2" {
		t.Errorf("token after rotation has kid %v", h["kid"])
	}
	if err := verify(tok); err != nil {
		t.Errorf("token after rotation: %v", err)
	}
	if n := iss.JWKSFetches(); n != fetches+1 {
		t.Errorf("JWKSFetches = %d, want %d (one refresh for the new kid)", n, fetches+1)
	}

	iss.SetDown(true)
	if code := status(t, iss.JWKSURL); code != http.StatusServiceUnavailable {
		t.Errorf("down: status %d", code)
	}
	iss.SetDown(false)
	if code := status(t, iss.JWKSURL); code != http.StatusOK {
		t.Errorf("up again: status %d", code)
	}
	iss.Close()
	if _, err := http.Get(iss.JWKSURL); err == nil {
		t.Error("closed issuer still answers")
	}

	// A second issuer for the helpers that change what it serves.
	iss2 := devidp.Start(t, false)
	t.Run("SignSegments signs header and payload verbatim", func(t *testing.T) {
		header, payload := `{"alg":"ES256","alg":"ES256"}`, "{\"sub\":\"a\xff\"} trailing"
		tok := iss2.SignSegments(t, jwt.SigningMethodES256, header, payload)
		parts := strings.Split(tok, ".")
		h, _ := base64.RawURLEncoding.DecodeString(parts[0])
		p, _ := base64.RawURLEncoding.DecodeString(parts[1])
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		if string(h) != header || string(p) != payload {
			t.Fatalf("segments = %q, %q", h, p)
		}
		// The signature is genuine: verify it with the issuer's published EC key.
		var set struct{ Keys []map[string]any }
		getJSON(t, iss2.JWKSURL, &set)
		ec := set.Keys[len(set.Keys)-1]
		x, _ := base64.RawURLEncoding.DecodeString(ec["x"].(string))
		y, _ := base64.RawURLEncoding.DecodeString(ec["y"].(string))
		key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), append(append([]byte{4}, x...), y...))
		if err != nil {
			t.Fatal(err)
		}
		if err := jwt.SigningMethodES256.Verify(parts[0]+"."+parts[1], sig, key); err != nil {
			t.Fatalf("signature: %v", err)
		}
	})

	t.Run("AddJWK and OverrideJWKS", func(t *testing.T) {
		iss2.AddJWK(map[string]any{"kty": "EC", "kid": "extra", "crv": "P-256", "x": "AA", "y": "AA"})
		var set struct{ Keys []map[string]any }
		getJSON(t, iss2.JWKSURL, &set)
		if n := len(set.Keys); n != 3 || set.Keys[2]["kid"] != "extra" {
			t.Fatalf("JWKS keys = %v, want rsa-1, ec-1, extra", set.Keys)
		}
		fetches := iss2.JWKSFetches()
		iss2.OverrideJWKS(func(w http.ResponseWriter, r *http.Request, jwks []byte) {
			if !strings.Contains(string(jwks), `"extra"`) {
				t.Errorf("override given %s, want the normal document", jwks)
			}
			http.Error(w, "gone", http.StatusGone)
		})
		if code := status(t, iss2.JWKSURL); code != http.StatusGone {
			t.Errorf("overridden JWKS: status %d", code)
		}
		if iss2.JWKSFetches() != fetches+1 {
			t.Errorf("JWKSFetches did not count the overridden request")
		}
		iss2.OverrideJWKS(nil)
		if code := status(t, iss2.JWKSURL); code != http.StatusOK {
			t.Errorf("restored JWKS: status %d", code)
		}
	})
}

// Local mode's use: served by its caller, with Mint's lifetime; its tokens
// verify with the function's own verifier, through discovery, and the JWKS
// carries no private part and answers only GET.
func TestServedByCaller(t *testing.T) {
	t.Parallel()
	var iss *devidp.Issuer
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { iss.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	var err error
	if iss, err = devidp.New(srv.URL); err != nil {
		t.Fatal(err)
	}
	if iss.URL != srv.URL || !iss.Handles(identity.DiscoveryPath) || !iss.Handles(devidp.JWKSPath) || iss.Handles("/auth-code") {
		t.Error("URL or Handles")
	}
	v := identity.NewVerifier(identity.VerifierOptions{
		Issuer: srv.URL, Audiences: []string{devidp.Audience}, Algorithms: []string{"RS256"},
		Client: srv.Client(), Logger: slog.New(slog.DiscardHandler),
	})
	t.Cleanup(v.Close)
	before := time.Now()
	tok, err := iss.Mint(map[string]any{"sub": devidp.DemoUser, "aud": devidp.Audience}, devidp.TokenLifetime)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	exp, _ := claims["exp"].(float64)
	if claims["sub"] != devidp.DemoUser || claims["iss"] != srv.URL || int64(exp) < before.Add(devidp.TokenLifetime).Unix() {
		t.Errorf("claims = %v", claims)
	}
	expired, _ := iss.Mint(map[string]any{"sub": "u", "aud": devidp.Audience}, -2*time.Minute)
	if _, err := v.Verify(t.Context(), expired); err == nil {
		t.Error("expired token verified")
	}
	resp, err := http.Post(srv.URL+devidp.JWKSPath, "application/json", nil)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("POST JWKS: %d", resp.StatusCode)
	}
	var set struct{ Keys []map[string]string }
	getJSON(t, srv.URL+devidp.JWKSPath, &set)
	for _, k := range set.Keys {
		if k["d"] != "" {
			t.Errorf("JWKS key %s has a private part", k["kid"])
		}
	}
}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func jwtHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	tk, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	return tk.Header
}
