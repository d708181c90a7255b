package app

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"time"

	"github.com/sentiance-authcode/backend/internal/authcode"
	"github.com/sentiance-authcode/backend/internal/outbound"
)

// Regions maps the SENTIANCE_REGION values to Sentiance's API base URLs.
var Regions = map[string]string{
	"eu": "https://api.sentiance.com",
	"us": "https://api.p15.sentiance.com",
	"in": "https://api.r16.sentiance.com",
}

// Defaults the template's parameters repeat (a test holds them together).
const (
	DefaultRegion           = "eu"
	DefaultMetricsNamespace = "SentianceAuthCode"
	DefaultExternalIDClaim  = "sub"
	DefaultSecretTTL        = 5 * time.Minute // a new key reaches every instance within it
)

// DefaultAlgorithms is JWT_ALGORITHMS' default; the doctor checks tokens against it.
const DefaultAlgorithms = "RS256,ES256"

// ErrInvalid marks every configuration error.
var ErrInvalid = errors.New("invalid configuration")

// Config is the function's configuration.
type Config struct {
	SentianceBaseURL string        // the region's base URL, or the SENTIANCE_API_URL override
	SecretID         string        // USER_LINK_SECRET_ID
	SecretTTL        time.Duration // SECRET_CACHE_TTL
	ExternalIDClaim  string        // EXTERNAL_ID_CLAIM
	JWTIssuer        string        // empty: the function trusts only the gateway's claims
	JWTAudiences     []string
	JWKSURL          string   // empty: discovered from the issuer
	JWTAlgorithms    []string // allow-list for in-function verification
	SentianceAppID   string
	MetricsNamespace string          // CloudWatch namespace of the EMF metrics
	RateLimit        *authcode.Limit // nil: no per-user limit (RATE_LIMIT empty)
	// RateLimitTable is the DynamoDB table all instances share; empty:
	// counted in this process only (local runs).
	RateLimitTable      string
	RateLimitFailClosed bool // RATE_LIMIT_FAIL_MODE=closed: 503 when the table cannot be reached
}

// Algorithms the function can verify with keys from a JWKS. HS* is left out
// on purpose: it would need a shared secret, which this backend never holds.
var supportedAlgorithms = []string{"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}

// Load reads the configuration through getenv (os.Getenv in production) and
// rejects bad values at start-up, naming the variable at fault.
func Load(getenv func(string) string) (Config, error) {
	c := Config{
		SecretID:         strings.TrimSpace(getenv("USER_LINK_SECRET_ID")),
		ExternalIDClaim:  orDefault(getenv("EXTERNAL_ID_CLAIM"), DefaultExternalIDClaim),
		JWTIssuer:        strings.TrimSpace(getenv("JWT_ISSUER")),
		SentianceAppID:   strings.TrimSpace(getenv("SENTIANCE_APP_ID")),
		MetricsNamespace: orDefault(getenv("METRICS_NAMESPACE"), DefaultMetricsNamespace),
	}

	if c.SecretID == "" {
		return Config{}, invalid("USER_LINK_SECRET_ID", "is required: the name or ARN of the secret holding the Sentiance user_link key")
	}
	region := orDefault(getenv("SENTIANCE_REGION"), DefaultRegion)
	base, ok := Regions[region]
	if !ok {
		return Config{}, invalid("SENTIANCE_REGION", "must be one of eu, us, in; got %q", region)
	}
	if override := strings.TrimSpace(getenv("SENTIANCE_API_URL")); override != "" {
		if err := outbound.CheckURL(override); err != nil {
			return Config{}, invalid("SENTIANCE_API_URL", "%v", err)
		}
		base = override
	}
	c.SentianceBaseURL = strings.TrimRight(base, "/")

	ttl, err := time.ParseDuration(orDefault(getenv("SECRET_CACHE_TTL"), DefaultSecretTTL.String()))
	if err != nil || ttl <= 0 {
		return Config{}, invalid("SECRET_CACHE_TTL", "must be a positive Go duration such as 5m; got %q", getenv("SECRET_CACHE_TTL"))
	}
	c.SecretTTL = ttl

	if c.JWTIssuer != "" {
		if err := outbound.CheckURL(c.JWTIssuer); err != nil {
			return Config{}, invalid("JWT_ISSUER", "%v", err)
		}
	}
	c.JWTAudiences = splitList(getenv("JWT_AUDIENCE"))
	if c.JWTIssuer != "" && len(c.JWTAudiences) == 0 {
		return Config{}, invalid("JWT_AUDIENCE", "is required when JWT_ISSUER is set")
	}
	if jwks := strings.TrimSpace(getenv("JWKS_URL")); jwks != "" {
		if err := outbound.CheckURL(jwks); err != nil {
			return Config{}, invalid("JWKS_URL", "%v", err)
		}
		c.JWKSURL = jwks
	}
	if v := strings.TrimSpace(getenv("RATE_LIMIT")); v != "" {
		limit, err := authcode.ParseLimit(v)
		if err != nil {
			return Config{}, invalid("RATE_LIMIT", "%v", err)
		}
		c.RateLimit = &limit
	}
	c.RateLimitTable = strings.TrimSpace(getenv("RATE_LIMIT_TABLE"))
	switch mode := orDefault(getenv("RATE_LIMIT_FAIL_MODE"), "open"); mode {
	case "open":
	case "closed":
		c.RateLimitFailClosed = true
	default:
		return Config{}, invalid("RATE_LIMIT_FAIL_MODE", "must be open or closed; got %q", mode)
	}
	c.JWTAlgorithms = splitList(orDefault(getenv("JWT_ALGORITHMS"), DefaultAlgorithms))
	for _, alg := range c.JWTAlgorithms {
		if !slices.Contains(supportedAlgorithms, alg) {
			return Config{}, invalid("JWT_ALGORITHMS", "%q is not allowed; choose from %s", alg, strings.Join(supportedAlgorithms, ","))
		}
	}
	return c, nil
}

func invalid(name, format string, args ...any) error {
	return fmt.Errorf("%w: %s %s", ErrInvalid, name, fmt.Sprintf(format, args...))
}

func orDefault(v, def string) string {
	if v = strings.TrimSpace(v); v == "" {
		return def
	}
	return v
}

func splitList(v string) []string {
	var out []string
	for _, part := range strings.Split(v, ",") {
		if part = strings.TrimSpace(part); part != "" {
			out = append(out, part)
		}
	}
	return out
}

// NewLogger returns a JSON logger writing to w at the level Lambda's
// advanced logging controls set (AWS_LAMBDA_LOG_LEVEL).
func NewLogger(w io.Writer, levelName string) *slog.Logger {
	level, _ := LogLevel(levelName)
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: level}))
}

// LogLevel maps a Lambda log level name to a slog level: TRACE and DEBUG to
// debug, WARN, ERROR and FATAL as named, INFO and empty to info; ok is
// false for any other name (info then).
func LogLevel(name string) (level slog.Level, ok bool) {
	switch strings.ToUpper(strings.TrimSpace(name)) {
	case "TRACE", "DEBUG":
		return slog.LevelDebug, true
	case "WARN":
		return slog.LevelWarn, true
	case "ERROR", "FATAL":
		return slog.LevelError, true
	case "INFO", "":
		return slog.LevelInfo, true
	}
	return slog.LevelInfo, false
}
