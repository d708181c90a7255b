// Command authcode is the Lambda function that answers POST /auth-code and
// GET /auth/code with a Sentiance authentication code for the verified caller.
// Started by the Lambda runtime it serves invocations; started anywhere else
// (`make run`), or with -local, it serves HTTP itself (internal/local). It
// only chooses the mode and wires; the logic lives in internal/.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"time"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/sentiance-authcode/backend/internal/app"
	"github.com/sentiance-authcode/backend/internal/config"
	"github.com/sentiance-authcode/backend/internal/local"
	"github.com/sentiance-authcode/backend/internal/logging"
	"github.com/sentiance-authcode/backend/internal/metrics"
)

func main() {
	localMode := flag.Bool("local", false, "serve HTTP on LOCAL_ADDR (default "+local.DefaultAddr+"); the default when not started by the Lambda runtime")
	flag.Parse()
	if *localMode || os.Getenv("AWS_LAMBDA_RUNTIME_API") == "" {
		os.Exit(local.Main())
	}

	log := logging.New(os.Stdout, os.Getenv("AWS_LAMBDA_LOG_LEVEL"))
	cfg, err := config.Load(os.Getenv)
	if err != nil {
		fail(err)
	}
	fn, err := app.New(context.Background(), cfg, app.Options{
		Logger:  log,
		Metrics: metrics.New(os.Stdout, cfg.MetricsNamespace),
	})
	if err != nil {
		fail(err)
	}
	fn.Prefetch(context.Background(), 2*time.Second)
	lambda.Start(fn.Handler.Handle)
}

// fail reports bad configuration in one line and exits 2.
func fail(err error) {
	fmt.Fprintln(os.Stderr, "authcode:", err)
	os.Exit(2)
}
