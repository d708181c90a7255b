// Command authcode is the Lambda function: internal/app builds it, this only
// starts it. Local mode is devtools/cmd/local, so nothing here mints tokens.
package main

import (
	"context"
	"fmt"
	"os"
	"runtime"
	"runtime/debug"

	"github.com/aws/aws-lambda-go/lambda"

	"github.com/sentiance-authcode/backend/internal/app"
)

func main() {
	if len(os.Args) > 1 || os.Getenv("AWS_LAMBDA_RUNTIME_API") == "" {
		fail("this is the Lambda function and it takes no arguments; it runs only under the Lambda runtime (for local mode: make run)")
	}
	// One request at a time on a fraction of a vCPU: one P and a lazier GC cut
	// a cold start's CPU by a third, fewer of Lambda's CPU periods (make bench).
	runtime.GOMAXPROCS(1)
	debug.SetGCPercent(gcPercent)
	debug.SetMemoryLimit(memoryLimit)
	ctx := context.Background()
	fn, err := app.FromEnv(ctx, os.Getenv, os.Stdout)
	if err != nil {
		fail(err.Error())
	}
	fn.Prefetch(ctx, app.PrefetchTimeout)
	lambda.Start(fn.Function.Handle)
}

// gcPercent lets a cold start run no collection; memoryLimit collects
// earlier as a warm heap nears it, so peak RSS stays near 20 MB.
const (
	gcPercent   = 400
	memoryLimit = 16 << 20
)

// fail reports in one line and exits 2, which Lambda shows as an init error.
func fail(msg string) {
	fmt.Fprintln(os.Stderr, "authcode:", msg)
	os.Exit(2)
}
