package testenv

import (
	"net/http"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// Helpers for the security tests: tokens no well-behaved signer would make,
// and identity-provider keys and answers an attacker or a broken provider
// could bring.

// SignSegments signs header and payload exactly as given (each is
// base64url-encoded, nothing is added or checked) with the key Sign would
// use for method, for headers and payloads no map can produce: duplicate or
// case-variant members, invalid UTF-8, trailing data, or a fuzzer's bytes.
func (i *Issuer) SignSegments(t testing.TB, method jwt.SigningMethod, header, payload string) string {
	t.Helper()
	signing := b64([]byte(header)) + "." + b64([]byte(payload))
	sig, err := method.Sign(signing, i.signingKey(t, method.Alg()))
	if err != nil {
		t.Fatalf("testenv: signing %s token: %v", method.Alg(), err)
	}
	return signing + "." + b64(sig)
}

// AddJWK adds jwk (an RFC 7517 key object, used as given) to the JWKS the
// issuer serves, after its own keys; for keys the issuer cannot sign with,
// such as Wycheproof's test keys.
func (i *Issuer) AddJWK(jwk map[string]any) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.extra = append(i.extra, jwk)
}

// OverrideJWKS makes GET /jwks.json answer with h instead of the key set; h
// is given the document the issuer would have served, so it can pad it,
// redirect, or answer garbage. Nil restores the normal answer. SetDown
// still takes precedence, and JWKSFetches still counts the requests.
func (i *Issuer) OverrideJWKS(h func(w http.ResponseWriter, r *http.Request, jwks []byte)) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.jwksOverride = h
}

// Reset forgets the calls and codes recorded so far (the script, key and
// delay stay), so a long-running test such as a fuzz target can check each
// iteration's calls without keeping them all.
func (s *Sentiance) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls, s.codes = nil, nil
}

// Reset empties the buffer.
func (b *SyncBuffer) Reset() {
	b.mu.Lock()
	defer b.mu.Unlock()
	b.buf.Reset()
}
