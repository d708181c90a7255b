// Package devidp is a development identity provider for local runs: an RSA
// key made at start, the OpenID discovery document and the JWKS a JWT
// verifier needs, and tokens signed with that key. It stands in for Cognito,
// Auth0 and the like when no JWT_ISSUER is configured; its tokens are
// worthless anywhere else because the key lives only in this process.
package devidp

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"strings"
	"time"

	"github.com/golang-jwt/jwt/v5"
)

// Paths it serves, under its issuer URL.
const (
	DiscoveryPath = "/.well-known/openid-configuration"
	JWKSPath      = "/.well-known/jwks.json"
)

// Defaults of the demo user's token.
const (
	DemoUser      = "demo-user"
	Audience      = "local-dev"
	TokenLifetime = 12 * time.Hour
	kid           = "dev-rsa-1"
)

// Issuer signs tokens and publishes its key. It is safe for concurrent use.
type Issuer struct {
	url  string
	key  *rsa.PrivateKey
	jwks []byte
	disc []byte
}

// New makes a key pair for an issuer whose iss (and base URL) is issuerURL.
func New(issuerURL string) (*Issuer, error) {
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return nil, fmt.Errorf("development issuer key: %w", err)
	}
	base := strings.TrimRight(issuerURL, "/")
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]string{{
		"kty": "RSA", "kid": kid, "alg": "RS256", "use": "sig",
		"n": b64(key.N.Bytes()),
		"e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	disc, _ := json.Marshal(map[string]any{
		"issuer":                                issuerURL,
		"jwks_uri":                              base + JWKSPath,
		"id_token_signing_alg_values_supported": []string{"RS256"},
		"response_types_supported":              []string{"id_token"},
		"subject_types_supported":               []string{"public"},
	})
	return &Issuer{url: issuerURL, key: key, jwks: jwks, disc: disc}, nil
}

// URL is the issuer, as it appears in the tokens' iss claim.
func (i *Issuer) URL() string { return i.url }

// Token returns an RS256 token with claims plus iss, iat and exp (now + ttl)
// unless claims sets them.
func (i *Issuer) Token(claims map[string]any, ttl time.Duration) (string, error) {
	now := time.Now()
	all := jwt.MapClaims{"iss": i.url, "iat": now.Unix(), "exp": now.Add(ttl).Unix()}
	for k, v := range claims {
		all[k] = v
	}
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, all)
	tok.Header["kid"] = kid
	return tok.SignedString(i.key)
}

// Handles reports whether the issuer serves path.
func (i *Issuer) Handles(path string) bool {
	return path == DiscoveryPath || path == JWKSPath
}

// ServeHTTP serves the discovery document and the JWKS.
func (i *Issuer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	var body []byte
	switch r.URL.Path {
	case DiscoveryPath:
		body = i.disc
	case JWKSPath:
		body = i.jwks
	default:
		http.NotFound(w, r)
		return
	}
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		http.Error(w, "Method Not Allowed", http.StatusMethodNotAllowed)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	w.Header().Set("Cache-Control", "no-store")
	_, _ = w.Write(body)
}

func b64(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }
