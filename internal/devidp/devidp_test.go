package devidp_test

import (
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/sentiance-authcode/backend/internal/devidp"
	"github.com/sentiance-authcode/backend/internal/identity"
)

// Its tokens verify with the function's own verifier, through discovery.
func TestIssuer(t *testing.T) {
	t.Parallel()
	var iss *devidp.Issuer
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { iss.ServeHTTP(w, r) }))
	t.Cleanup(srv.Close)
	var err error
	if iss, err = devidp.New(srv.URL); err != nil {
		t.Fatal(err)
	}
	if iss.URL() != srv.URL || !iss.Handles(devidp.DiscoveryPath) || !iss.Handles(devidp.JWKSPath) || iss.Handles("/auth-code") {
		t.Error("URL or Handles")
	}

	v := identity.NewVerifier(identity.VerifierOptions{Issuer: srv.URL, Audiences: []string{devidp.Audience}, Algorithms: []string{"RS256"}})
	t.Cleanup(v.Close)
	tok, err := iss.Token(map[string]any{"sub": devidp.DemoUser, "aud": devidp.Audience}, devidp.TokenLifetime)
	if err != nil {
		t.Fatal(err)
	}
	claims, err := v.Verify(t.Context(), tok)
	if err != nil {
		t.Fatalf("Verify: %v", err)
	}
	exp, _ := claims["exp"].(float64)
	if claims["sub"] != devidp.DemoUser || claims["iss"] != srv.URL || time.Until(time.Unix(int64(exp), 0)) < 11*time.Hour {
		t.Errorf("claims = %v", claims)
	}
	expired, _ := iss.Token(map[string]any{"sub": "u", "aud": devidp.Audience}, -2*time.Minute)
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
	resp, err = http.Get(srv.URL + devidp.JWKSPath)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct{ Keys []map[string]string }
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || len(set.Keys) != 1 || set.Keys[0]["kty"] != "RSA" || set.Keys[0]["d"] != "" {
		t.Errorf("JWKS = %v (%v)", set, err)
	}
}
