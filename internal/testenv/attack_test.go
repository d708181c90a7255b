package testenv_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"net/http"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sentiance-authcode/backend/internal/testenv"
)

func TestAttackHelpers(t *testing.T) {
	t.Parallel()
	iss := testenv.StartIssuer(t)

	t.Run("SignSegments signs header and payload verbatim", func(t *testing.T) {
		header, payload := `{"alg":"ES256","alg":"ES256"}`, "{\"sub\":\"a\xff\"} trailing"
		tok := iss.SignSegments(t, jwt.SigningMethodES256, header, payload)
		parts := strings.Split(tok, ".")
		h, _ := base64.RawURLEncoding.DecodeString(parts[0])
		p, _ := base64.RawURLEncoding.DecodeString(parts[1])
		sig, _ := base64.RawURLEncoding.DecodeString(parts[2])
		if string(h) != header || string(p) != payload {
			t.Fatalf("segments = %q, %q", h, p)
		}
		// The signature is genuine: verify it with the issuer's published EC key.
		var set struct{ Keys []map[string]any }
		getJSON(t, iss.JWKSURL, &set)
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
		iss.AddJWK(map[string]any{"kty": "EC", "kid": "extra", "crv": "P-256", "x": "AA", "y": "AA"})
		var set struct{ Keys []map[string]any }
		getJSON(t, iss.JWKSURL, &set)
		if n := len(set.Keys); n != 3 || set.Keys[2]["kid"] != "extra" {
			t.Fatalf("JWKS keys = %v, want rsa-1, ec-1, extra", set.Keys)
		}
		fetches := iss.JWKSFetches()
		iss.OverrideJWKS(func(w http.ResponseWriter, r *http.Request, jwks []byte) {
			if !strings.Contains(string(jwks), `"extra"`) {
				t.Errorf("override given %s, want the normal document", jwks)
			}
			http.Error(w, "gone", http.StatusGone)
		})
		if code := status(t, iss.JWKSURL); code != http.StatusGone {
			t.Errorf("overridden JWKS: status %d", code)
		}
		if iss.JWKSFetches() != fetches+1 {
			t.Errorf("JWKSFetches did not count the overridden request")
		}
		iss.OverrideJWKS(nil)
		if code := status(t, iss.JWKSURL); code != http.StatusOK {
			t.Errorf("restored JWKS: status %d", code)
		}
	})

	t.Run("Sentiance and SyncBuffer Reset", func(t *testing.T) {
		s := testenv.StartSentiance(t, "key.one")
		s.Script(testenv.SentianceStep{Status: 500})
		resp, err := http.Post(s.URL+"/users/auth-code", "application/json", strings.NewReader(`{"external_id":"a"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		s.Reset()
		if len(s.Calls()) != 0 || len(s.Codes()) != 0 {
			t.Errorf("after Reset: %d calls, %d codes", len(s.Calls()), len(s.Codes()))
		}
		var b testenv.SyncBuffer
		b.Write([]byte("x"))
		b.Reset()
		if b.String() != "" {
			t.Errorf("SyncBuffer after Reset = %q", b.String())
		}
	})

	t.Run("Wycheproof vectors", func(t *testing.T) {
		vectors := testenv.WycheproofECDSAP256(t)
		var tc11 *testenv.WycheproofVector
		for i := range vectors {
			if vectors[i].TcID == 11 {
				tc11 = &vectors[i]
			}
		}
		if len(vectors) != 262 || tc11 == nil || tc11.Valid || len(tc11.Sig) != 64 || strings.Trim(string(tc11.Sig), "\x00") != "" {
			t.Fatalf("%d vectors; tcId 11 = %+v, want the invalid r = s = 0 signature", len(vectors), tc11)
		}
	})
}
