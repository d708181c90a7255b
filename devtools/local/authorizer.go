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

// Authorizer plays API Gateway's JWT authorizer. It reuses the function's
// verifier (internal/identity) with the gateway's settings: RSA algorithms
// only, the kid must name a key of the JWKS, exact issuer, aud or client_id,
// exp after now and nbf and iat before now with no clock-skew allowance,
// JWKS fetches bounded to 1.5 s and 150,000 bytes. The verifier is stricter
// than the gateway in three ways, each of which the function's own check
// (on by default) refuses anyway: tokens over 8 KiB, a crit header,
// duplicate JSON members. It is safe for concurrent use.
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
			Issuer:       o.Issuer,
			Audiences:    o.Audiences,
			Algorithms:   identity.GatewayAlgorithms,
			JWKSURL:      o.JWKSURL,
			Client:       client,
			FetchTimeout: 1500 * time.Millisecond,
			// The gateway checks exp, nbf and iat against the current time;
			// the verifier takes 0 as "the default" (60 s), so ask for 1 ns.
			Leeway: time.Nanosecond,
			Logger: o.Logger,
		}),
	}
}

// Authorize checks the value of the Authorization header and returns the
// claims as the gateway hands them to the function. Errors never contain
// the token.
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

// claimString renders a claim value the way API Gateway does in
// requestContext.authorizer.jwt.claims, where every value is a string.
// Public reports of real events show strings unchanged, numbers as decimal
// text ("exp": "1612061676", not "1.612061676e+09") and arrays as their
// elements space-separated in brackets ("cognito:groups": "[admins users]"):
// Go's fmt rendering of JSON decoded with numbers kept as text, which is
// what this does. Booleans, objects and null follow the same rules ("true",
// "map[k:v]", "<nil>"); that part is inferred, not observed. Numbers arrive
// here as float64, so integers beyond 2^53 lose precision (claims like that
// are not used by this service).
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

// wwwAuthenticate is the header the gateway sends with its 401, in the form
// the API Gateway troubleshooting guide shows. The descriptions are ours
// where the guide gives none.
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
