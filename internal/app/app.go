// Package app builds the function from its configuration: the key source,
// the token verifier, the Sentiance client, the use case and the API Gateway
// adapter. The Lambda entry point and local mode both build it here, so they
// run the same code with the same settings.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/sentiance-authcode/backend/internal/apigw"
	"github.com/sentiance-authcode/backend/internal/authcode"
	"github.com/sentiance-authcode/backend/internal/config"
	"github.com/sentiance-authcode/backend/internal/identity"
	"github.com/sentiance-authcode/backend/internal/metrics"
	"github.com/sentiance-authcode/backend/internal/outbound"
	"github.com/sentiance-authcode/backend/internal/ratelimit"
	"github.com/sentiance-authcode/backend/internal/secret"
	"github.com/sentiance-authcode/backend/internal/sentiance"
)

// Options are what differs between the deployed function and local mode.
type Options struct {
	Logger *slog.Logger
	// Keys hands out the Sentiance user_link key. Nil means the deployed
	// source: the Secrets Manager secret cfg.SecretID, read with the AWS
	// SDK's default configuration.
	Keys authcode.KeySource
	// Metrics, when set, receives the CloudWatch EMF metrics.
	Metrics *metrics.EMF
}

// App is the built function.
type App struct {
	Handler *apigw.Handler

	keys      authcode.KeySource
	verifier  *identity.Verifier // nil without in-function verification
	sentiance *sentiance.Client
	clients   []*http.Client
}

// New builds the function. Its only error is an unusable AWS configuration
// when o.Keys is nil; it does no network I/O.
func New(ctx context.Context, cfg config.Config, o Options) (*App, error) {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	var (
		rec           apigw.Recorder
		secretFetch   func(outcome string)
		sentianceCall func(status int, took time.Duration)
		keyRejected   func()
		limiterError  func()
	)
	if m := o.Metrics; m != nil {
		rec, secretFetch, sentianceCall, keyRejected, limiterError = m, m.SecretFetch, m.SentianceCall, m.KeyRejected, m.RateLimitError
	}

	// Loaded at most once, and only when an AWS client is needed: it is the
	// costliest step of start-up.
	awsConfig := sync.OnceValues(func() (aws.Config, error) { return awsconfig.LoadDefaultConfig(ctx) })
	keys := o.Keys
	if keys == nil {
		awsCfg, err := awsConfig()
		if err != nil {
			return nil, fmt.Errorf("AWS configuration: %w", err)
		}
		keys = secret.New(secretsmanager.NewFromConfig(awsCfg), secret.Options{
			SecretID: cfg.SecretID, Field: cfg.SecretField, TTL: cfg.SecretTTL, Logger: o.Logger, Observe: secretFetch,
		})
	}

	a := &App{keys: keys}
	var verifier authcode.TokenVerifier
	if cfg.VerifiesTokens() {
		jwksClient := outbound.NewClient(outbound.Options{MaxBody: identity.MaxJWKSBytes})
		a.clients = append(a.clients, jwksClient)
		a.verifier = identity.NewVerifier(identity.VerifierOptions{
			Issuer: cfg.JWTIssuer, Audiences: cfg.JWTAudiences, Algorithms: cfg.JWTAlgorithms,
			JWKSURL: cfg.JWKSURL, Logger: o.Logger, Client: jwksClient,
		})
		verifier = a.verifier
	}
	limiter, err := newLimiter(cfg, awsConfig)
	if err != nil {
		return nil, err
	}
	sentianceClient := outbound.NewClient(outbound.Options{})
	a.clients = append(a.clients, sentianceClient)
	a.sentiance = sentiance.New(cfg.SentianceBaseURL, sentianceClient, sentiance.Options{Observe: sentianceCall})
	svc := authcode.New(authcode.Options{
		Verifier:          verifier,
		Keys:              keys,
		Sentiance:         a.sentiance,
		ExternalIDClaim:   cfg.ExternalIDClaim,
		PlatformURL:       cfg.SentianceBaseURL,
		AppID:             cfg.SentianceAppID,
		Logger:            o.Logger,
		OnKeyRejected:     keyRejected,
		Limiter:           limiter,
		LimiterFailClosed: cfg.RateLimitFailClosed,
		OnLimiterError:    limiterError,
	})
	a.Handler = apigw.NewHandler(svc, apigw.Options{Logger: o.Logger, Recorder: rec})
	return a, nil
}

// newLimiter returns the per-user rate limiter cfg asks for: nil when off,
// DynamoDB when a table is named, else in memory (one local process).
func newLimiter(cfg config.Config, awsConfig func() (aws.Config, error)) (authcode.RateLimiter, error) {
	switch {
	case cfg.RateLimit == nil:
		return nil, nil
	case cfg.RateLimitTable == "":
		return ratelimit.NewMemory(*cfg.RateLimit, nil), nil
	}
	awsCfg, err := awsConfig()
	if err != nil {
		return nil, fmt.Errorf("AWS configuration: %w", err)
	}
	return ratelimit.NewDynamo(dynamodb.NewFromConfig(awsCfg), cfg.RateLimitTable, *cfg.RateLimit, nil), nil
}

// Prefetch fetches the Sentiance key and the identity provider's keys, both
// at once, waiting at most timeout. The Lambda calls it at init so that a
// cold start's first request finds both ready instead of fetching them one
// after the other. It waits rather than leaving the fetches running: an
// instance frozen after init (provisioned concurrency) would otherwise thaw
// with a fetch cut off mid-flight. Failures are not fatal; requests retry.
func (a *App) Prefetch(ctx context.Context, timeout time.Duration) {
	ctx, cancel := context.WithTimeout(ctx, timeout)
	defer cancel()
	var wg sync.WaitGroup
	wg.Go(func() { _, _ = a.keys.Key(ctx) })
	// The TLS connection to Sentiance too (no request), so the first code
	// costs one round trip.
	wg.Go(func() { _ = a.sentiance.Warm(ctx) })
	if a.verifier != nil {
		wg.Go(func() { _ = a.verifier.Warm(ctx) })
	}
	wg.Wait()
}

// Close stops the verifier's background key refresh and closes idle
// connections. A Lambda never needs it; a local server calls it at shutdown.
func (a *App) Close() {
	if a.verifier != nil {
		a.verifier.Close()
	}
	for _, c := range a.clients {
		c.CloseIdleConnections()
	}
}
