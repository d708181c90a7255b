package identity

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/MicahParks/jwkset"
	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"
	"golang.org/x/time/rate"

	"github.com/sentiance-authcode/backend/internal/outbound"
)

const (
	// MaxJWKSBytes caps a JWKS or discovery document, as API Gateway does.
	MaxJWKSBytes = 150_000
	// MaxTokenBytes: longer tokens are refused before any parsing work.
	MaxTokenBytes = 8 << 10
	// DiscoveryPath is where a provider's OpenID configuration is, under its issuer.
	DiscoveryPath = "/.well-known/openid-configuration"
)

// GatewayAlgorithms are the only ones API Gateway's JWT authorizer verifies;
// local mode's gateway and the doctor hold tokens to them.
var GatewayAlgorithms = []string{"RS256", "RS384", "RS512"}

// A frozen Lambda runs no background refresh: a kid it does not know makes
// it refresh (at most every unknownKIDInterval), which picks up a rotation.
const (
	unknownKIDInterval = 30 * time.Second
	retryInterval      = 2 * time.Second // before a JWKS never loaded is tried again
	fetchTimeout       = 2 * time.Second // one JWKS or discovery request
	maxLeeway          = time.Minute
)

// VerifierOptions configure a Verifier.
type VerifierOptions struct {
	Issuer     string   // exact iss value
	Audiences  []string // accepted aud values (or client_id when aud is absent)
	Algorithms []string // allow-list, e.g. RS256, ES256
	JWKSURL    string   // empty: discovered from the issuer's OpenID configuration
	Client     *http.Client
	// Leeway is the clock skew allowed on exp, nbf and iat: zero or more
	// than a minute means a minute (the gateway's emulation asks for 1 ns).
	Leeway time.Duration
	Logger *slog.Logger
	Now    func() time.Time // default time.Now
}

// Verifier checks bearer tokens issued by one identity provider. It is safe
// for concurrent use; keys are loaded on first use (or by Warm) and kept.
type Verifier struct {
	opts   VerifierOptions
	parser *jwt.Parser

	mu       sync.Mutex
	kf       keyfunc.Keyfunc
	stop     context.CancelFunc // ends keyfunc's background refresh
	loaded   bool               // the JWKS has yielded keys at least once
	lastInit time.Time
}

// NewVerifier returns a verifier; it does no network I/O.
func NewVerifier(o VerifierOptions) *Verifier {
	if o.Leeway <= 0 || o.Leeway > maxLeeway {
		o.Leeway = maxLeeway
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return &Verifier{
		opts: o,
		parser: jwt.NewParser(
			jwt.WithValidMethods(o.Algorithms),
			jwt.WithIssuer(o.Issuer),
			jwt.WithExpirationRequired(),
			jwt.WithIssuedAt(),
			jwt.WithLeeway(o.Leeway),
			jwt.WithTimeFunc(o.Now),
		),
	}
}

// Warm loads the keys now, so a cold start can fetch them while it does
// other work. Errors are not fatal: Verify tries again.
func (v *Verifier) Warm(ctx context.Context) error {
	_, err := v.keys(ctx)
	return err
}

// Close stops the background key refresh.
func (v *Verifier) Close() {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.stop != nil {
		v.stop()
	}
}

// Verify checks raw and returns its claims. Errors wrap ErrInvalidToken or
// ErrKeysUnavailable; neither carries the token.
func (v *Verifier) Verify(ctx context.Context, raw string) (map[string]any, error) {
	if raw == "" {
		return nil, fmt.Errorf("%w: no bearer token", ErrInvalidToken)
	}
	if len(raw) > MaxTokenBytes {
		return nil, fmt.Errorf("%w: longer than %d bytes", ErrInvalidToken, MaxTokenBytes)
	}
	if err := checkSegments(raw); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	kf, err := v.keys(ctx)
	if err != nil {
		return nil, err
	}
	unavailable := false
	claims := jwt.MapClaims{}
	_, err = v.parser.ParseWithClaims(raw, claims, func(t *jwt.Token) (any, error) {
		// We implement no JWS extensions, so any critical one must be refused (RFC 7515 §4.1.11).
		if _, ok := t.Header["crit"]; ok {
			return nil, errors.New("crit header not supported")
		}
		key, err := kf.KeyfuncCtx(ctx)(t)
		if err != nil && !hasKeys(ctx, kf) {
			unavailable = true
		}
		return key, err
	})
	if unavailable {
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	if err := CheckAudience(claims, v.opts.Audiences); err != nil {
		return nil, fmt.Errorf("%w: %w", ErrInvalidToken, err)
	}
	return claims, nil
}

// CheckAudience matches aud against the accepted audiences, or client_id
// when aud is absent, as API Gateway's JWT authorizer does (Cognito access
// tokens carry client_id instead of aud). Its errors wrap ErrAudience.
func CheckAudience(claims map[string]any, accepted []string) error {
	if _, ok := claims["aud"]; ok {
		auds, err := jwt.MapClaims(claims).GetAudience()
		if err != nil {
			return fmt.Errorf("%w: aud is not a string or a list of strings", ErrAudience)
		}
		for _, a := range auds {
			if slices.Contains(accepted, a) {
				return nil
			}
		}
		return fmt.Errorf("%w: aud %q is not among %q", ErrAudience, []string(auds), accepted)
	}
	clientID, ok := claims["client_id"].(string)
	if !ok {
		return fmt.Errorf("%w: neither aud nor client_id", ErrAudience)
	}
	if !slices.Contains(accepted, clientID) {
		return fmt.Errorf("%w: client_id %q is not among %q", ErrAudience, clientID, accepted)
	}
	return nil
}

// keys returns the key source, creating it on first use and again when the
// JWKS could never be loaded (at most once per retryInterval).
func (v *Verifier) keys(ctx context.Context) (keyfunc.Keyfunc, error) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.kf != nil && (v.loaded || hasKeys(ctx, v.kf)) {
		v.loaded = true
		return v.kf, nil
	}
	if !v.lastInit.IsZero() && v.opts.Now().Sub(v.lastInit) < retryInterval {
		return nil, fmt.Errorf("%w: JWKS not loaded yet", ErrKeysUnavailable)
	}
	v.lastInit = v.opts.Now()
	if v.stop != nil {
		v.stop()
	}
	jwksURL := v.opts.JWKSURL
	if jwksURL == "" {
		u, err := v.discover(ctx)
		if err != nil {
			return nil, fmt.Errorf("%w: discovery: %w", ErrKeysUnavailable, err)
		}
		jwksURL = u
	}
	// The background refresh lives as long as the verifier, not the request.
	bg, stop := context.WithCancel(context.WithoutCancel(ctx))
	v.stop = stop
	// The first fetch's error, if any, says why there are no keys.
	var first sync.Once
	var firstErr error
	kf, err := keyfunc.NewDefaultOverrideCtx(bg, []string{jwksURL}, keyfunc.Override{
		Client:            v.opts.Client,
		HTTPTimeout:       fetchTimeout,
		RateLimitWaitMax:  fetchTimeout, // never queue behind the limiter longer than a fetch
		RefreshUnknownKID: rate.NewLimiter(rate.Every(unknownKIDInterval), 1),
		RefreshErrorHandlerFunc: func(u string) func(context.Context, error) {
			return func(ctx context.Context, err error) {
				first.Do(func() { firstErr = err })
				v.opts.Logger.WarnContext(ctx, "JWKS fetch failed", "jwks_url", u, "error", err.Error())
			}
		},
	})
	if err != nil {
		stop()
		return nil, fmt.Errorf("%w: %w", ErrKeysUnavailable, err)
	}
	first.Do(func() {})
	v.kf = kf
	v.loaded = hasKeys(ctx, v.kf)
	switch {
	case !v.loaded && firstErr != nil:
		return nil, fmt.Errorf("%w: JWKS at %s: %w", ErrKeysUnavailable, jwksURL, firstErr)
	case !v.loaded:
		return nil, fmt.Errorf("%w: JWKS at %s yielded no keys", ErrKeysUnavailable, jwksURL)
	}
	return kf, nil
}

// Keys returns the JWKS's keys, loading them if need be (for the doctor).
func (v *Verifier) Keys(ctx context.Context) ([]jwkset.JWK, error) {
	kf, err := v.keys(ctx)
	if err != nil {
		return nil, err
	}
	return kf.Storage().KeyReadAll(ctx)
}

// hasKeys reports whether kf holds any key: without one, a token cannot be
// judged (503), rather than judged invalid (401).
func hasKeys(ctx context.Context, kf keyfunc.Keyfunc) bool {
	if kf == nil {
		return false
	}
	all, err := kf.Storage().KeyReadAll(ctx)
	return err == nil && len(all) > 0
}

// discover reads jwks_uri from the issuer's OpenID configuration and checks
// that the document names the same issuer (OpenID Connect Discovery §4.3).
func (v *Verifier) discover(ctx context.Context) (string, error) {
	ctx, cancel := context.WithTimeout(ctx, fetchTimeout)
	defer cancel()
	d, err := Discover(ctx, v.opts.Client, v.opts.Issuer)
	if err != nil {
		return "", err
	}
	if d.Issuer != v.opts.Issuer {
		return "", fmt.Errorf("the document names issuer %q, expected %q", d.Issuer, v.opts.Issuer)
	}
	if err := outbound.CheckURL(d.JWKSURI); err != nil {
		return "", fmt.Errorf("jwks_uri %w", err)
	}
	return d.JWKSURI, nil
}

// Discovery is what an issuer's OpenID configuration names.
type Discovery struct {
	URL     string `json:"-"` // where it was read
	Issuer  string `json:"issuer"`
	JWKSURI string `json:"jwks_uri"`
}

// Discover reads issuer's OpenID configuration; the verifier and the doctor
// judge what it names.
func Discover(ctx context.Context, client *http.Client, issuer string) (Discovery, error) {
	d := Discovery{URL: strings.TrimRight(issuer, "/") + DiscoveryPath}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, d.URL, nil)
	if err != nil {
		return d, err
	}
	resp, err := client.Do(req)
	if err != nil {
		return d, err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return d, fmt.Errorf("%s answered %d", d.URL, resp.StatusCode)
	}
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return d, fmt.Errorf("read %s: %w", d.URL, err)
	}
	if err := json.Unmarshal(raw, &d); err != nil || d.JWKSURI == "" {
		return d, fmt.Errorf("%s is not an OpenID configuration (no jwks_uri)", d.URL)
	}
	return d, nil
}

// checkSegments refuses a header or payload with a duplicate member: JSON
// readers disagree on which one wins, so a token that says "sub" twice is an
// attack. At the top level names differing only in case count too, as Go's
// encoding/json matches fields case-insensitively.
func checkSegments(raw string) error {
	parts := strings.Split(raw, ".")
	if len(parts) != 3 {
		return errors.New("not three segments")
	}
	for _, seg := range parts[:2] {
		data, err := base64.RawURLEncoding.DecodeString(seg)
		if err != nil {
			return errors.New("segment is not base64url")
		}
		if err := noDuplicateKeys(data); err != nil {
			return err
		}
	}
	return nil
}

// noDuplicateKeys fails on a repeated member name at any depth, or on input
// that is not one JSON value.
func noDuplicateKeys(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	if err := walk(dec, 0); err != nil {
		return err
	}
	if _, err := dec.Token(); err != io.EOF {
		return errors.New("trailing data after JSON value")
	}
	return nil
}

func walk(dec *json.Decoder, depth int) error {
	tok, err := dec.Token()
	if err != nil {
		return errors.New("segment is not JSON")
	}
	switch tok {
	case json.Delim('{'):
		seen := map[string]bool{}
		for dec.More() {
			key, err := dec.Token()
			if err != nil {
				return errors.New("segment is not JSON")
			}
			name := key.(string)
			if depth == 0 {
				name = foldCase(name)
			}
			if seen[name] {
				return fmt.Errorf("duplicate member %q", key)
			}
			seen[name] = true
			if err := walk(dec, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token() // '}'
	case json.Delim('['):
		for dec.More() {
			if err := walk(dec, depth+1); err != nil {
				return err
			}
		}
		_, err = dec.Token() // ']'
	}
	if err != nil {
		return errors.New("segment is not JSON")
	}
	return nil
}

// foldCase maps s to one member of its class under Unicode simple folding
// (as encoding/json uses), so "sub", "SUB" and "ſub" compare equal.
func foldCase(s string) string {
	return strings.Map(func(r rune) rune {
		least := r
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			least = min(least, f)
		}
		return least
	}, s)
}
