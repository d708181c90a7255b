package devidp

// What only tests use: an issuer on a port of its own, tokens no good signer
// makes, key rotation and outages. Local mode uses none of it.

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/pem"
	"net/http"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Start serves a new issuer on a loopback port of its own until the test
// ends; over https (a certificate Client trusts) when useTLS.
func Start(t testing.TB, useTLS bool) *Issuer {
	t.Helper()
	srv := httptest.NewUnstartedServer(nil)
	scheme := "http://"
	if useTLS {
		scheme = "https://"
	}
	i, err := New(scheme + srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	i.srv, srv.Config.Handler = srv, i
	if useTLS {
		srv.StartTLS()
	} else {
		srv.Start()
	}
	t.Cleanup(srv.Close)
	return i
}

// Token is Mint for a test: exp ten minutes ahead unless claims sets it.
func (i *Issuer) Token(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	return i.Sign(t, jwt.SigningMethodRS256, i.KeyID(), i.claims(claims, 10*time.Minute), nil)
}

// TokenES256 is Token signed with the P-256 key.
func (i *Issuer) TokenES256(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	return i.Sign(t, jwt.SigningMethodES256, ECKeyID, i.claims(claims, 10*time.Minute), nil)
}

// Sign signs exactly claims, for tokens no good signer makes: HS* with the
// RSA public key (algorithm confusion), "none" unsigned; kid "" is left out,
// and header is merged in last (nil removes one).
func (i *Issuer) Sign(t testing.TB, method jwt.SigningMethod, kid string, claims jwt.MapClaims, header map[string]any) string {
	t.Helper()
	tok, err := i.sign(method, kid, claims, header)
	if err != nil {
		t.Fatalf("devidp: signing %s token: %v", method.Alg(), err)
	}
	return tok
}

// SignSegments signs header and payload as given, for JSON no map can make
// (duplicate members, invalid UTF-8, trailing data).
func (i *Issuer) SignSegments(t testing.TB, method jwt.SigningMethod, header, payload string) string {
	t.Helper()
	signing := b64([]byte(header)) + "." + b64([]byte(payload))
	key, err := i.signingKey(method.Alg())
	if err == nil {
		var sig []byte
		if sig, err = method.Sign(signing, key); err == nil {
			return signing + "." + b64(sig)
		}
	}
	t.Fatalf("devidp: signing %s token: %v", method.Alg(), err)
	return ""
}

// RotateKey adds a new RSA key, which signs from now on; the JWKS serves
// it next to the old ones. It returns the new kid.
func (i *Issuer) RotateKey(t testing.TB) string {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	i.mu.Lock()
	i.rsaKeys = append(i.rsaKeys, key)
	i.mu.Unlock()
	return i.KeyID()
}

// AddJWK adds jwk (an RFC 7517 key object, as given) to the JWKS, after
// the issuer's own keys: keys it cannot sign with, such as Wycheproof's.
func (i *Issuer) AddJWK(jwk map[string]any) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.extra = append(i.extra, jwk)
}

// OverrideJWKS answers the JWKS path with h, given the document it would
// have served; nil restores it. SetDown still wins; JWKSFetches still counts.
func (i *Issuer) OverrideJWKS(h func(w http.ResponseWriter, r *http.Request, jwks []byte)) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.override = h
}

// SetDown makes every path answer 503 while down is true.
func (i *Issuer) SetDown(down bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.down = down
}

// JWKSFetches counts requests for the JWKS, those answered 503 included.
func (i *Issuer) JWKSFetches() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.fetches
}

// Client trusts the issuer's certificate (any client does for http).
func (i *Issuer) Client() *http.Client { return i.srv.Client() }

// Certificate is the issuer's TLS certificate in PEM, for a child process
// that must trust it (SSL_CERT_FILE); nil over http.
func (i *Issuer) Certificate() []byte {
	if i.srv == nil || i.srv.Certificate() == nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: i.srv.Certificate().Raw})
}

// Close stops a started issuer: connections are refused afterwards.
func (i *Issuer) Close() { i.srv.Close() }

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
