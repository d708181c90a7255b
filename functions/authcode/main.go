// Command authcode is the Lambda function that answers POST /auth-code and
// GET /auth/code with a Sentiance authentication code for the verified caller.
// It only wires configuration and clients; the logic lives in internal/.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/sentiance-authcode/backend/internal/apigw"
	"github.com/sentiance-authcode/backend/internal/authcode"
	"github.com/sentiance-authcode/backend/internal/config"
	"github.com/sentiance-authcode/backend/internal/identity"
	"github.com/sentiance-authcode/backend/internal/logging"
	"github.com/sentiance-authcode/backend/internal/metrics"
	"github.com/sentiance-authcode/backend/internal/outbound"
	"github.com/sentiance-authcode/backend/internal/secret"
	"github.com/sentiance-authcode/backend/internal/sentiance"
)

func main() {
	log := logging.New(os.Stdout, os.Getenv("AWS_LAMBDA_LOG_LEVEL"))
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		fmt.Fprintln(os.Stderr, "authcode:", err)
		os.Exit(2)
	}
	ctx := context.Background()
	awsCfg, err := awsconfig.LoadDefaultConfig(ctx)
	if err != nil {
		fmt.Fprintln(os.Stderr, "authcode: AWS configuration:", err)
		os.Exit(2)
	}

	emf := metrics.New(os.Stdout, cfg.MetricsNamespace)
	keys := secret.New(secretsmanager.NewFromConfig(awsCfg), secret.Options{
		SecretID: cfg.SecretID, Field: cfg.SecretField, TTL: cfg.SecretTTL, Logger: log, Observe: emf.SecretFetch,
	})
	var verifier authcode.TokenVerifier
	if cfg.VerifiesTokens() {
		verifier = identity.NewVerifier(identity.VerifierOptions{
			Issuer: cfg.JWTIssuer, Audiences: cfg.JWTAudiences, Algorithms: cfg.JWTAlgorithms,
			JWKSURL: cfg.JWKSURL, Logger: log,
			Client: outbound.NewClient(outbound.Options{MaxBody: 150_000}),
		})
	}
	svc := authcode.New(authcode.Options{
		Verifier:        verifier,
		Keys:            keys,
		Sentiance:       sentiance.New(cfg.SentianceBaseURL, outbound.NewClient(outbound.Options{}), sentiance.Options{Observe: emf.SentianceCall}),
		ExternalIDClaim: cfg.ExternalIDClaim,
		PlatformURL:     cfg.SentianceBaseURL,
		AppID:           cfg.SentianceAppID,
		Logger:          log,
		OnKeyRejected:   emf.KeyRejected,
	})
	lambda.Start(apigw.NewHandler(svc, apigw.Options{Logger: log, Recorder: emf}).Handle)
}
