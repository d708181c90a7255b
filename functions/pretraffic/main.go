// Command pretraffic is the deployment's pre-traffic check, CodeDeploy's
// BeforeAllowTraffic hook (internal/pretraffic). It is its own artifact:
// nothing of it is linked into the auth-code function.
package main

import (
	"context"
	"fmt"
	"log/slog"
	"os"

	"github.com/aws/aws-lambda-go/lambda"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	awslambda "github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/sentiance-authcode/backend/internal/pretraffic"
)

func main() {
	version, want, err := pretraffic.FromEnv(os.Getenv)
	if err != nil {
		fail(err)
	}
	cfg, err := config.LoadDefaultConfig(context.Background())
	if err != nil {
		fail(fmt.Errorf("AWS configuration: %w", err))
	}
	lambda.Start((&pretraffic.Check{
		Lambda: awslambda.NewFromConfig(cfg), CodeDeploy: codedeploy.NewFromConfig(cfg),
		Version: version, Want: want, Logger: slog.New(slog.NewJSONHandler(os.Stdout, nil)),
	}).Handle)
}

// fail reports in one line and exits 2, which Lambda shows as an init error.
func fail(err error) {
	fmt.Fprintln(os.Stderr, "pretraffic:", err)
	os.Exit(2)
}
