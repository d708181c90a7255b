// Command authcode is the Lambda function that answers POST /auth-code and
// GET /auth/code with a Sentiance authentication code for the verified
// caller. It only wires: internal/app builds the function. It runs only
// under the Lambda runtime; local mode is its own command (functions/local),
// so this artifact holds no development issuer and no Sentiance stand-in.
package main

import (
	"context"
	"fmt"
	"os"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/sentiance-authcode/backend/internal/app"
)

func main() {
	if len(os.Args) > 1 || os.Getenv("AWS_LAMBDA_RUNTIME_API") == "" {
		fail("this is the Lambda function and it takes no arguments; it runs only under the Lambda runtime (for local mode: make run)")
	}
	ctx := context.Background()
	fn, err := app.FromEnv(ctx, os.Getenv, os.Stdout)
	if err != nil {
		fail(err.Error())
	}
	fn.Prefetch(ctx, app.PrefetchTimeout)
	lambda.Start(fn.Handler.Handle)
}

// fail reports in one line and exits 2, which Lambda shows as an init error.
func fail(msg string) {
	fmt.Fprintln(os.Stderr, "authcode:", msg)
	os.Exit(2)
}
