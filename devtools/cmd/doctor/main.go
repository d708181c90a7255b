// Command doctor checks a deployed stack (-stack) or the values meant for one
// (-issuer, -audience), one line per check; it exits 0, 1 on a failed check,
// 2 on bad usage. The token comes only from AUTHCODE_TOKEN: a flag would show
// it in the process list.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/smithy-go/logging"

	"github.com/sentiance-authcode/backend/devtools/doctor"
	"github.com/sentiance-authcode/backend/internal/app"
	"github.com/sentiance-authcode/backend/internal/identity"
	"github.com/sentiance-authcode/backend/internal/outbound"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	code := run(ctx, os.Args[1:], os.Getenv, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// errUsage marks a command line the doctor cannot work with (exit 2).
var errUsage = errors.New("usage")

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) int {
	o, err := parse(args, getenv, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "doctor: %v\n", err)
		return 2
	}
	ctx, cancel := context.WithTimeout(ctx, time.Minute)
	defer cancel()
	if o.Stack != "" || o.Settings.SecretID != "" {
		if err := awsClients(ctx, &o); err != nil {
			fmt.Fprintf(stderr, "doctor: %v\n", err)
			return 2
		}
	}
	report := doctor.Run(ctx, o)
	if _, err := report.WriteTo(stdout); err != nil || report.Failed() {
		return 1
	}
	return 0
}

// parse reads the flags; the token comes from AUTHCODE_TOKEN.
func parse(args []string, getenv func(string) string, stderr io.Writer) (doctor.Options, error) {
	fs := flag.NewFlagSet("doctor", flag.ContinueOnError)
	fs.SetOutput(stderr)
	var (
		o        doctor.Options
		audience string
	)
	fs.StringVar(&o.Stack, "stack", "", "deployed stack to check (reads its parameters and outputs)")
	fs.StringVar(&o.Settings.Issuer, "issuer", "", "before a deploy: the JwtIssuer you mean to use")
	fs.StringVar(&audience, "audience", "", "before a deploy: the JwtAudience you mean to use (comma-separated)")
	fs.StringVar(&o.Settings.SecretID, "secret-id", "", "before a deploy: name or ARN of the secret holding the key")
	fs.StringVar(&o.Settings.Claim, "claim", "", "before a deploy: the ExternalIdClaim you mean to use (default sub)")
	fs.BoolVar(&o.Call, "call", false, "with -stack and a token: make one real call to the stack's URL")
	fs.StringVar(&o.Region, "region", "", "AWS region of the stack (default: the AWS SDK's, e.g. AWS_REGION)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	before := o.Settings.Issuer != "" || audience != "" || o.Settings.SecretID != "" || o.Settings.Claim != ""
	switch {
	case fs.NArg() > 0:
		return o, fmt.Errorf("%w: unexpected argument %q", errUsage, fs.Arg(0))
	case o.Stack != "" && before:
		return o, fmt.Errorf("%w: give -stack (after a deploy) or -issuer/-audience/-secret-id/-claim (before one), not both", errUsage)
	case o.Stack == "" && (o.Settings.Issuer == "" || audience == ""):
		return o, fmt.Errorf("%w: give -stack NAME, or -issuer URL and -audience LIST (run with -h for help)", errUsage)
	case o.Call && o.Stack == "":
		return o, fmt.Errorf("%w: -call needs -stack (it calls the stack's AuthCodeUrl)", errUsage)
	}
	if audience != "" {
		o.Settings.Audiences = strings.Split(audience, ",")
	}
	if o.Settings.Claim == "" {
		o.Settings.Claim = app.DefaultExternalIDClaim
	}
	o.Settings.VerifyInFunction = true // the template's default
	o.Token = getenv("AUTHCODE_TOKEN")
	o.HTTP = outbound.NewClient(outbound.Options{MaxBody: identity.MaxJWKSBytes, Timeout: 10 * time.Second})
	return o, nil
}

// awsClients builds the SDK clients from the user's own credentials.
func awsClients(ctx context.Context, o *doctor.Options) error {
	var opts []func(*config.LoadOptions) error
	if o.Region != "" {
		opts = append(opts, config.WithRegion(o.Region))
	}
	// The SDK's own log lines (a WARN when no credentials are found, say)
	// would come between the report's; a missing credential shows as a FAIL.
	opts = append(opts, config.WithLogger(logging.Nop{}))
	cfg, err := config.LoadDefaultConfig(ctx, opts...)
	if err != nil {
		return fmt.Errorf("AWS configuration: %w", err)
	}
	if cfg.Region == "" {
		return fmt.Errorf("%w: no AWS region: give the region you deployed to (make doctor ... REGION=<region>, or -region, or AWS_REGION)", errUsage)
	}
	o.Region = cfg.Region
	o.Stacks = cloudformation.NewFromConfig(cfg)
	o.Secrets = secretsmanager.NewFromConfig(cfg)
	return nil
}
