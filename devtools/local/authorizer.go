package local

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sentiance-authcode/backend/internal/identity"
	"github.com/sentiance-authcode/backend/internal/outbound"
)

// ErrNoToken: the request has no Authorization header (the authorizer's
// identity source), so the gateway answers 401 without looking further.
var ErrNoToken = errors.New("no Authorization header")

// AuthorizerOptions configure the authorizer as template.yaml configures the
// gateway's: the issuer and the audiences.
type AuthorizerOptions struct {
	Issuer    string   // compared exactly with iss
	Audiences []string // aud, or client_id when the token has no aud
	JWKSURL   string   // empty: jwks_uri of the issuer's OpenID configuration
	Logger    *slog.Logger
	// DevIssuer: the issuer is local mode's own, whose keys change at each
	// start; a refused signature then says so.
	DevIssuer bool
}

// Authorizer plays API Gateway's JWT authorizer with the function's verifier
// on the gateway's settings: RSA only, a kid, exact iss, aud or client_id, no
// clock skew, JWKS within 1.5 s and 150,000 bytes. It is stricter only where
// the function refuses anyway (over 8 KiB, crit, duplicate members).
type Authorizer struct {
	verifier  *identity.Verifier
	client    *http.Client
	devIssuer bool
}

// NewAuthorizer returns an authorizer; it does no network I/O until the first
// token.
func NewAuthorizer(o AuthorizerOptions) *Authorizer {
	client := outbound.NewClient(outbound.Options{MaxBody: identity.MaxJWKSBytes, Timeout: 1500 * time.Millisecond})
	return &Authorizer{
		client: client, devIssuer: o.DevIssuer,
		verifier: identity.NewVerifier(identity.VerifierOptions{
			Issuer:     o.Issuer,
			Audiences:  o.Audiences,
			Algorithms: identity.GatewayAlgorithms,
			JWKSURL:    o.JWKSURL,
			Client:     client,
			// The gateway checks exp, nbf and iat against the current time;
			// the verifier takes 0 as "the default" (60 s), so ask for 1 ns.
			Leeway: time.Nanosecond,
			Logger: o.Logger,
		}),
	}
}

// Authorize checks the Authorization header and returns the claims as the
// gateway hands them on. Errors never contain the token.
func (a *Authorizer) Authorize(ctx context.Context, authorization string) (map[string]string, error) {
	if strings.TrimSpace(authorization) == "" {
		return nil, ErrNoToken
	}
	// "The identitySource can include only the token, or the token prefixed
	// with Bearer" (API Gateway developer guide, JWT authorizers).
	token := strings.TrimPrefix(authorization, "Bearer ")
	if err := requireKID(token); err != nil {
		return nil, err
	}
	claims, err := a.verifier.Verify(ctx, token)
	if err != nil {
		return nil, err
	}
	out := make(map[string]string, len(claims))
	for name, v := range claims {
		out[name] = claimString(v)
	}
	return out, nil
}

// Close stops the background key refresh and closes idle connections.
func (a *Authorizer) Close() {
	a.verifier.Close()
	a.client.CloseIdleConnections()
}

// requireKID refuses a token whose header names no key: the gateway needs
// the kid to pick the JWKS key, while the verifier would try every key.
func requireKID(token string) error {
	head, _, _ := strings.Cut(token, ".")
	raw, err := base64.RawURLEncoding.DecodeString(head)
	if err != nil {
		return fmt.Errorf("%w: header is not base64url", identity.ErrInvalidToken)
	}
	var h struct {
		KID any `json:"kid"`
	}
	if err := json.Unmarshal(raw, &h); err != nil {
		return fmt.Errorf("%w: header is not JSON", identity.ErrInvalidToken)
	}
	if kid, ok := h.KID.(string); !ok || kid == "" {
		return fmt.Errorf("%w: no kid in the header", identity.ErrInvalidToken)
	}
	return nil
}

// claimString renders a claim as the gateway's string-only claims do in real
// events: "1612061676" for exp, "[admins users]" for an array (Go's fmt of
// JSON with numbers kept as text). Booleans, objects and null are inferred.
func claimString(v any) string {
	if s, ok := v.(string); ok {
		return s
	}
	raw, _ := json.Marshal(v) // a claim decoded from JSON encodes again
	dec := json.NewDecoder(bytes.NewReader(raw))
	dec.UseNumber()
	var text any
	_ = dec.Decode(&text)
	return fmt.Sprint(text)
}

// wwwAuthenticate is the gateway's 401 header, as its troubleshooting guide
// shows it; the descriptions are ours where the guide gives none.
func (a *Authorizer) wwwAuthenticate(err error) string {
	desc := "the token is not valid"
	switch {
	case a.devIssuer && (errors.Is(err, jwt.ErrTokenSignatureInvalid) || errors.Is(err, jwkset.ErrKeyNotFound)):
		desc = "the token is not signed by this run of the development issuer: a restart makes new keys, so use the token printed at start"
	case errors.Is(err, ErrNoToken):
		desc = "the token is missing"
	case errors.Is(err, identity.ErrKeysUnavailable):
		desc = "the issuer's signing keys could not be fetched"
	case errors.Is(err, jwt.ErrTokenExpired):
		desc = "the token has expired"
	case errors.Is(err, jwt.ErrTokenNotValidYet), errors.Is(err, jwt.ErrTokenUsedBeforeIssued):
		desc = "the token is not valid yet"
	case errors.Is(err, jwt.ErrTokenInvalidIssuer):
		desc = "the token does not have a valid issuer"
	case errors.Is(err, identity.ErrAudience):
		desc = "the token does not have a valid audience"
	}
	return `Bearer scope="" error="invalid_token" error_description="` + desc + `"`
}
