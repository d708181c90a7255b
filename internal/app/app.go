// Package app is the one place that assembles the function: Load reads the
// configuration, New builds it. The Lambda, local mode and the tests all use it.
package app

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/sentiance-authcode/backend/internal/authcode"
	"github.com/sentiance-authcode/backend/internal/identity"
	"github.com/sentiance-authcode/backend/internal/metrics"
	"github.com/sentiance-authcode/backend/internal/outbound"
	"github.com/sentiance-authcode/backend/internal/secret"
	"github.com/sentiance-authcode/backend/internal/sentiance"
)

// PrefetchTimeout bounds the fetches at init: well inside Lambda's 10 s init
// phase, and short enough that a down peer does not hold up the first request.
const PrefetchTimeout = 2 * time.Second

// Options are the function's outside dependencies; each nil one takes the
// production default.
type Options struct {
	Logger  *slog.Logger // default: discard
	Metrics *metrics.EMF // default: none counted
	// The AWS clients; default: the SDK's, from the AWS default configuration.
	SecretsManager secret.API
	DynamoDB       authcode.DynamoAPI // used when cfg.RateLimitTable is set
	// Transport carries the calls to Sentiance and the identity provider,
	// under outbound's limits; default: outbound's own.
	Transport http.RoundTripper
	Now       func() time.Time // default: time.Now
}

// App is the built function.
type App struct {
	Function *authcode.Function
	Keys     *secret.Cache // local mode's banner shows the key's expiry

	verifier  *identity.Verifier // nil without in-function verification
	sentiance *sentiance.Client
	clients   []*http.Client
}

// FromEnv builds the deployed function from Lambda's environment, with JSON
// logs and EMF metrics on stdout. Its errors are one-line configuration errors.
func FromEnv(ctx context.Context, getenv func(string) string, stdout io.Writer) (*App, error) {
	cfg, err := Load(getenv)
	if err != nil {
		return nil, err
	}
	return New(ctx, cfg, Options{
		Logger:  NewLogger(stdout, getenv("AWS_LAMBDA_LOG_LEVEL")),
		Metrics: metrics.New(stdout, cfg.MetricsNamespace),
	})
}

// New builds the function. Its only error is an unusable AWS configuration
// when an AWS client must be made; it does no network I/O.
func New(ctx context.Context, cfg Config, o Options) (*App, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	limitTable := cfg.RateLimit != nil && cfg.RateLimitTable != ""
	// The AWS configuration is loaded only when a client must be made from
	// it, and once: it is the costliest step of start-up.
	if o.SecretsManager == nil || limitTable && o.DynamoDB == nil {
		awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
		if err != nil {
			return nil, fmt.Errorf("AWS configuration: %w", err)
		}
		if o.SecretsManager == nil {
			o.SecretsManager = secretsmanager.NewFromConfig(awsCfg)
		}
		if limitTable && o.DynamoDB == nil {
			o.DynamoDB = dynamodb.NewFromConfig(awsCfg)
		}
	}
	a := &App{Keys: secret.New(o.SecretsManager, secret.Options{
		SecretID: cfg.SecretID, TTL: cfg.SecretTTL, Logger: o.Logger, Now: o.Now, Metrics: o.Metrics,
	})}

	var verifier authcode.TokenVerifier
	if cfg.JWTIssuer != "" {
		a.verifier = identity.NewVerifier(identity.VerifierOptions{
			Issuer: cfg.JWTIssuer, Audiences: cfg.JWTAudiences, Algorithms: cfg.JWTAlgorithms, JWKSURL: cfg.JWKSURL,
			Client: a.client(identity.MaxJWKSBytes, o.Transport), Logger: o.Logger, Now: o.Now,
		})
		verifier = a.verifier
	}

	var limiter authcode.Limiter
	switch {
	case limitTable:
		limiter = authcode.NewDynamoLimiter(o.DynamoDB, cfg.RateLimitTable, *cfg.RateLimit, o.Now)
	case cfg.RateLimit != nil:
		limiter = authcode.NewMemoryLimiter(*cfg.RateLimit, o.Now) // one local process
	}

	a.sentiance = sentiance.New(cfg.SentianceBaseURL, a.client(0, o.Transport), o.Metrics)
	a.Function = authcode.New(authcode.Options{
		Verifier:          verifier,
		Keys:              a.Keys,
		Sentiance:         a.sentiance,
		Limiter:           limiter,
		LimiterFailClosed: cfg.RateLimitFailClosed,
		ExternalIDClaim:   cfg.ExternalIDClaim,
		PlatformURL:       cfg.SentianceBaseURL,
		AppID:             cfg.SentianceAppID,
		Logger:            o.Logger,
		Metrics:           o.Metrics,
	})
	return a, nil
}

// client makes an outbound client, with the function's timeout as its
// backstop, and remembers it for Close.
func (a *App) client(maxBody int64, base http.RoundTripper) *http.Client {
	c := outbound.NewClient(outbound.Options{MaxBody: maxBody, Timeout: authcode.Timeout, Base: base})
	a.clients = append(a.clients, c)
	return c
}

// Prefetch loads the Sentiance key and the issuer's keys and opens the
// connection to Sentiance at once, so a cold start's first request finds them
// ready. It waits (a frozen instance would cut a fetch off); failures are not fatal.
func (a *App) Prefetch(ctx context.Context, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = a.Keys.Key(ctx) })
	wg.Go(func() { _ = a.sentiance.Warm(ctx) })
	if a.verifier != nil {
		wg.Go(func() { _ = a.verifier.Warm(ctx) })
	}
	wg.Wait()
}

// Close stops the verifier's background refresh and closes idle
// connections: local mode's shutdown (a Lambda never needs it).
func (a *App) Close() {
	if a.verifier != nil {
		a.verifier.Close()
	}
	for _, c := range a.clients {
		c.CloseIdleConnections()
	}
}
