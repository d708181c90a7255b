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
	// An instance serves one request at a time on a fraction of a vCPU
	// (7% at 128 MB): one P and a lazier GC cut the CPU a cold start burns
	// by about a third, which under Lambda's CPU quota is the difference
	// between a first code in one scheduling period or several (make bench).
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

// gcPercent lets the heap grow to 5× what is live before a collection,
// enough that a cold start runs none; memoryLimit then collects earlier
// when a warm instance's heap nears it, so peak RSS stays near 20 MB.
const (
	gcPercent   = 400
	memoryLimit = 16 << 20
)

// fail reports in one line and exits 2, which Lambda shows as an init error.
func fail(msg string) {
	fmt.Fprintln(os.Stderr, "authcode:", msg)
	os.Exit(2)
}
