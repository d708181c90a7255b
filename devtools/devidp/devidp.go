// Package devidp is the identity provider stand-in of local mode and the
// tests: discovery, a JWKS and tokens from keys that live only in this process.
package devidp

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sentiance-authcode/backend/internal/identity"
)

// JWKSPath is where it serves its keys, under its issuer URL; the
// discovery document is at identity.DiscoveryPath.
const JWKSPath = "/.well-known/jwks.json"

// The demo user of local mode and its token.
const (
	DemoUser      = "demo-user"
	Audience      = "local-dev"
	TokenLifetime = 12 * time.Hour
)

// ECKeyID names the P-256 key; the RSA keys are rsa-1, rsa-2, ...
const ECKeyID = "ec-1"

// Issuer signs tokens and publishes its keys. It is safe for concurrent use.
type Issuer struct {
	URL     string // the issuer (iss) and its base URL
	JWKSURL string

	srv *httptest.Server // nil when the caller serves it (ServeHTTP)

	mu       sync.Mutex
	rsaKeys  []*rsa.PrivateKey // oldest first; the last one signs
	ec       *ecdsa.PrivateKey
	extra    []map[string]any // AddJWK's keys
	fetches  int
	down     bool
	override func(w http.ResponseWriter, r *http.Request, jwks []byte)
}

// New makes the keys of an issuer whose iss and base URL are issuerURL; the
// caller serves it (local mode, on the API's own port).
func New(issuerURL string) (*Issuer, error) {
	rsaKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("development issuer key: %w", err)
	}
	ec, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("development issuer key: %w", err)
	}
	url := strings.TrimRight(issuerURL, "/")
	return &Issuer{URL: issuerURL, JWKSURL: url + JWKSPath, rsaKeys: []*rsa.PrivateKey{rsaKey}, ec: ec}, nil
}

// Mint returns an RS256 token with claims plus iss, iat and exp (now + ttl)
// unless claims sets them; a claim set to nil is left out.
func (i *Issuer) Mint(claims map[string]any, ttl time.Duration) (string, error) {
	return i.sign(jwt.SigningMethodRS256, i.KeyID(), i.claims(claims, ttl), nil)
}

func (i *Issuer) claims(claims map[string]any, ttl time.Duration) jwt.MapClaims {
	now := time.Now()
	all := jwt.MapClaims{"iss": i.URL, "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	for k, v := range claims {
		if v == nil {
			delete(all, k)
		} else {
			all[k] = v
		}
	}
	return all
}

func (i *Issuer) sign(method jwt.SigningMethod, kid string, claims jwt.MapClaims, header map[string]any) (string, error) {
	tok := jwt.NewWithClaims(method, claims)
	if kid != "" {
		tok.Header["kid"] = kid
	}
	for k, v := range header {
		if v == nil {
			delete(tok.Header, k)
		} else {
			tok.Header[k] = v
		}
	}
	key, err := i.signingKey(method.Alg())
	if err != nil {
		return "", err
	}
	return tok.SignedString(key)
}

func (i *Issuer) signingKey(alg string) (any, error) {
	i.mu.Lock()
	rsaKey, ec := i.rsaKeys[len(i.rsaKeys)-1], i.ec
	i.mu.Unlock()
	switch {
	case strings.HasPrefix(alg, "RS"), strings.HasPrefix(alg, "PS"):
		return rsaKey, nil
	case strings.HasPrefix(alg, "ES"):
		return ec, nil
	case strings.HasPrefix(alg, "HS"):
		der, err := x509.MarshalPKIXPublicKey(&rsaKey.PublicKey)
		return pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), err
	case alg == "none":
		return jwt.UnsafeAllowNoneSignatureType, nil
	}
	return nil, fmt.Errorf("no key for alg %q", alg)
}

// KeyID is the kid of the RSA key that signs now.
func (i *Issuer) KeyID() string {
	i.mu.Lock()
	defer i.mu.Unlock()
	return "rsa-" + strconv.Itoa(len(i.rsaKeys))
}

// Handles reports whether the issuer serves path.
func (i *Issuer) Handles(path string) bool {
	return path == identity.DiscoveryPath || path == JWKSPath
}

// ServeHTTP serves the discovery document and the JWKS.
func (i *Issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	i.mu.Lock()
	if r.URL.Path == JWKSPath {
		i.fetches++
	}
	down, override := i.down, i.override
	i.mu.Unlock()
	switch {
	case !i.Handles(r.URL.Path):
		http.NotFound(w, r)
	case r.Method != http.MethodGet && r.Method != http.MethodHead:
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
	case down:
		writeJSON(w, http.StatusServiceUnavailable, map[string]string{"error": "temporarily_unavailable"})
	case r.URL.Path == identity.DiscoveryPath:
		writeJSON(w, http.StatusOK, map[string]any{
			"issuer": i.URL, "jwks_uri": i.JWKSURL,
			"id_token_signing_alg_values_supported": []string{"RS256", "ES256"},
			"response_types_supported":              []string{"id_token"},
			"subject_types_supported":               []string{"public"},
		})
	case override != nil:
		doc, _ := json.Marshal(i.jwks())
		override(w, r, doc)
	default:
		writeJSON(w, http.StatusOK, i.jwks())
	}
}

// jwks is the RFC 7517 key set: the RSA keys, the P-256 key, then AddJWK's.
func (i *Issuer) jwks() map[string]any {
	i.mu.Lock()
	defer i.mu.Unlock()
	var keys []any
	add := func(pub any, kid string, alg jwkset.ALG) {
		jwk, err := jwkset.NewJWKFromKey(pub, jwkset.JWKOptions{Metadata: jwkset.JWKMetadataOptions{KID: kid, ALG: alg, USE: jwkset.UseSig}})
		if err != nil {
			panic(fmt.Sprintf("devidp: its own key %s: %v", kid, err)) // keys it made itself always convert
		}
		keys = append(keys, jwk.Marshal())
	}
	for n, k := range i.rsaKeys {
		add(&k.PublicKey, "rsa-"+strconv.Itoa(n+1), jwkset.AlgRS256)
	}
	add(&i.ec.PublicKey, ECKeyID, jwkset.AlgES256)
	for _, e := range i.extra {
		keys = append(keys, e)
	}
	return map[string]any{"keys": keys}
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}
