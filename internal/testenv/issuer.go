package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Issuer is an OpenID identity provider stand-in: a discovery document, a
// JWKS, and keys to sign tokens with. Its keys are generated for it alone, so
// a token from one Issuer never verifies against another.
type Issuer struct {
	URL     string // the issuer ("iss") and the server's address
	JWKSURL string

	srv *httptest.Server

	mu      sync.Mutex
	rsaKeys []issuerKey // oldest first; the last one signs
	ecKey   *ecdsa.PrivateKey
	ecJWK   map[string]any
	fetches int
	down    bool
	extra   []map[string]any // AddJWK's keys, served after the issuer's own
	// jwksOverride, when set, answers GET /jwks.json instead (OverrideJWKS).
	jwksOverride func(w http.ResponseWriter, r *http.Request, jwks []byte)
}

type issuerKey struct {
	kid string
	key *rsa.PrivateKey
}

// StartIssuer serves GET /.well-known/openid-configuration and GET /jwks.json
// with one RSA 2048 key (kid "rsa-1", RS256) and one P-256 key (kid "ec-1",
// ES256).
func StartIssuer(t testing.TB) *Issuer {
	t.Helper()
	return startIssuer(t, false)
}

// StartTLSIssuer is StartIssuer over https (httptest's certificate, trusted
// by Client), for code that refuses a plain-http issuer.
func StartTLSIssuer(t testing.TB) *Issuer {
	t.Helper()
	return startIssuer(t, true)
}

func startIssuer(t testing.TB, useTLS bool) *Issuer {
	t.Helper()
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	ecKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	// The ECDH form is 0x04 || X || Y, each coordinate padded to 32 bytes,
	// as RFC 7518 wants them.
	pub, err := ecKey.PublicKey.ECDH()
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	xy := pub.Bytes()[1:]
	i := &Issuer{
		rsaKeys: []issuerKey{{"rsa-1", rsaKey}},
		ecKey:   ecKey,
		ecJWK: map[string]any{
			"kty": "EC", "kid": "ec-1", "alg": "ES256", "use": "sig", "crv": "P-256",
			"x": b64(xy[:32]), "y": b64(xy[32:]),
		},
	}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", func(w http.ResponseWriter, r *http.Request) {
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer":                                i.URL,
			"jwks_uri":                              i.JWKSURL,
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
		})
	})
	mux.HandleFunc("GET /jwks.json", func(w http.ResponseWriter, r *http.Request) {
		i.mu.Lock()
		override := i.jwksOverride
		i.mu.Unlock()
		if override != nil {
			doc, _ := json.Marshal(i.jwks())
			override(w, r, doc)
			return
		}
		writeJSON(w, http.StatusOK, i.jwks())
	})
	i.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		i.mu.Lock()
		if r.URL.Path == "/jwks.json" {
			i.fetches++
		}
		down := i.down
		i.mu.Unlock()
		if down {
			writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
			return
		}
		mux.ServeHTTP(w, r)
	}))
	if useTLS {
		i.srv.StartTLS()
	} else {
		i.srv.Start()
	}
	t.Cleanup(i.Close)
	i.URL = i.srv.URL
	i.JWKSURL = i.srv.URL + "/jwks.json"
	return i
}

// jwks is the RFC 7517 key set: every RSA key, the EC key, then the keys
// added with AddJWK.
func (i *Issuer) jwks() map[string]any {
	i.mu.Lock()
	defer i.mu.Unlock()
	var keys []map[string]any
	for _, k := range i.rsaKeys {
		keys = append(keys, map[string]any{
			"kty": "RSA", "kid": k.kid, "alg": "RS256", "use": "sig",
			"n": b64(k.key.N.Bytes()),
			"e": b64(big.NewInt(int64(k.key.E)).Bytes()),
		})
	}
	keys = append(keys, i.ecJWK)
	return map[string]any{"keys": append(keys, i.extra...)}
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// Token returns an RS256 token signed with the current RSA key. It adds
// iss=URL, iat=now and exp=now+10m unless claims has them; a claim set to nil
// is left out (e.g. {"exp": nil} makes a token without exp). claims is not
// modified.
func (i *Issuer) Token(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	return i.Sign(t, jwt.SigningMethodRS256, i.currentKID(), i.withDefaults(claims), nil)
}

// TokenES256 is Token signed with the P-256 key (kid "ec-1").
func (i *Issuer) TokenES256(t testing.TB, claims jwt.MapClaims) string {
	t.Helper()
	return i.Sign(t, jwt.SigningMethodES256, "ec-1", i.withDefaults(claims), nil)
}

func (i *Issuer) withDefaults(claims jwt.MapClaims) jwt.MapClaims {
	now := time.Now()
	out := jwt.MapClaims{"iss": i.URL, "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
	for k, v := range claims {
		if v == nil {
			delete(out, k)
		} else {
			out[k] = v
		}
	}
	return out
}

// Sign signs exactly claims with method: RS* and PS* with the current RSA
// key, ES256 with the P-256 key, HS* with the current RSA public key in PEM
// as the HMAC secret (the classic algorithm-confusion token), and "none"
// with no signature. kid "" leaves the kid header out. extraHeader is merged
// into the header last, so it can override alg or typ; a nil value removes
// that header.
func (i *Issuer) Sign(t testing.TB, method jwt.SigningMethod, kid string, claims jwt.MapClaims, extraHeader map[string]any) string {
	t.Helper()
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	for k, v := range extraHeader {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	s, err := tok.SignedString(i.signingKey(t, method.Alg()))
	if err != nil {
		t.Fatalf("testenv: signing %s token: %v", method.Alg(), err)
	}
	return s
}

// SignRaw signs payload verbatim as the token's claims segment, for payloads
// no MapClaims can produce (duplicate keys, a JSON array, bad JSON). The
// header is {"alg","typ":"JWT"} plus kid unless kid is "". Keys are chosen as
// in Sign.
func (i *Issuer) SignRaw(t testing.TB, method jwt.SigningMethod, kid string, payload string) string {
	t.Helper()
	header := map[string]any{"alg": method.Alg(), "typ": "JWT"}
	if kid != "" {
		header["kid"] = kid
	}
	h, err := json.Marshal(header)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	return i.SignSegments(t, method, string(h), payload)
}

// signingKey returns the key Sign and SignRaw use for alg.
func (i *Issuer) signingKey(t testing.TB, alg string) any {
	t.Helper()
	i.mu.Lock()
	rsaKey := i.rsaKeys[len(i.rsaKeys)-1].key
	ecKey := i.ecKey
	i.mu.Unlock()
	switch {
	case strings.HasPrefix(alg, "RS"), strings.HasPrefix(alg, "PS"):
		return rsaKey
	case strings.HasPrefix(alg, "ES"):
		return ecKey
	case strings.HasPrefix(alg, "HS"):
		der, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
		if err != nil {
			t.Fatalf("testenv: %v", err)
		}
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	case alg == "none":
		return jwt.UnsafeAllowNoneSignatureType
	}
	t.Fatalf("testenv: no key for alg %q", alg)
	return nil
}

// RotateKey adds a new RSA key, which signs from now on; the JWKS serves it
// next to the old ones. It returns the new kid ("rsa-2", "rsa-3", ...).
func (i *Issuer) RotateKey(t testing.TB) (newKID string) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatalf("testenv: %v", err)
	}
	i.mu.Lock()
	defer i.mu.Unlock()
	kid := "rsa-" + strconv.Itoa(len(i.rsaKeys)+1)
	i.rsaKeys = append(i.rsaKeys, issuerKey{kid, key})
	return kid
}

func (i *Issuer) currentKID() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.rsaKeys[len(i.rsaKeys)-1].kid
}

// Client returns an HTTP client that trusts the issuer's certificate (any
// client works for a plain-http issuer).
func (i *Issuer) Client() *http.Client { return i.srv.Client() }

// Certificate returns the issuer's TLS certificate in PEM, for a child
// process that must trust it (SSL_CERT_FILE); nil for a plain-http issuer.
func (i *Issuer) Certificate() []byte {
	if i.srv.Certificate() == nil {
		return nil
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: i.srv.Certificate().Raw})
}

// JWKSFetches counts requests for the JWKS, including those answered 503
// while the issuer was down.
func (i *Issuer) JWKSFetches() int {
	i.mu.Lock()
	defer i.mu.Unlock()
	return i.fetches
}

// SetDown makes every endpoint answer 503 while down is true.
func (i *Issuer) SetDown(down bool) {
	i.mu.Lock()
	defer i.mu.Unlock()
	i.down = down
}

// Close stops the server: connections are refused afterwards. It is safe to
// call more than once.
func (i *Issuer) Close() {
	i.srv.Close()
}

// writeJSON answers with v as JSON.
func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
