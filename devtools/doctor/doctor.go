// Package doctor checks a deployment, or the values meant for one, by the
// gateway's and the function's rules, and says how to fix each failure. It
// never prints the user_link key, a bearer token or an auth code.
package doctor

import (
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/sentiance-authcode/backend/internal/identity"
	"github.com/sentiance-authcode/backend/internal/outbound"
)

// Stacks is the CloudFormation call the doctor makes.
type Stacks interface {
	DescribeStacks(ctx context.Context, in *cloudformation.DescribeStacksInput, opts ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error)
}

// Secrets is the Secrets Manager call the doctor makes.
type Secrets interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Settings are what a stack is, or will be, deployed with.
type Settings struct {
	Issuer           string   // JwtIssuer
	Audiences        []string // JwtAudience, split at commas
	Claim            string   // ExternalIdClaim
	VerifyInFunction bool     // VerifyTokenInFunction
	SecretID         string   // UserLinkSecretArn output; empty: not checked
	URL              string   // AuthCodeUrl output; empty before a deploy
}

// Options say what to check and with which clients.
type Options struct {
	// Stack names the deployed stack whose parameters and outputs give the
	// Settings; empty: Settings as given (before a deploy).
	Stack    string
	Settings Settings
	Region   string // where the stack is, for messages
	Token    string // a user's bearer token; empty: no token checks
	Call     bool   // one real POST to the stack's URL with Token

	Stacks  Stacks  // needed with Stack
	Secrets Secrets // needed when there is a secret to check
	// HTTP fetches the issuer's documents and makes the call: a short
	// timeout, no redirects.
	HTTP *http.Client
	Now  func() time.Time
}

// Status is a check's outcome.
type Status string

// The outcomes; a skipped check says which earlier failure stopped it.
const (
	OK   Status = "ok"
	Fail Status = "FAIL"
	Skip Status = "skip"
)

// Line is one check's result.
type Line struct {
	Status Status
	Check  string // stack, secret, issuer, jwks, token, function, call
	Text   string
}

func (l Line) String() string { return fmt.Sprintf("%-5s %-8s %s", l.Status, l.Check, l.Text) }

// Report is every check's result, in the order they ran.
type Report []Line

// Failed reports whether any check failed.
func (r Report) Failed() bool {
	for _, l := range r {
		if l.Status == Fail {
			return true
		}
	}
	return false
}

// WriteTo writes one line per check.
func (r Report) WriteTo(w io.Writer) (int64, error) {
	var b strings.Builder
	for _, l := range r {
		b.WriteString(l.String())
		b.WriteByte('\n')
	}
	n, err := io.WriteString(w, b.String())
	return int64(n), err
}

// doctor is one run's state: what earlier checks found, for later ones.
type doctor struct {
	o      Options
	s      Settings
	report Report

	jwksURL string // from discovery; empty when it failed
	// gateway verifies as API Gateway's JWT authorizer does, with the keys
	// of the JWKS; nil when they could not be loaded.
	gateway *identity.Verifier
}

// Run performs every check that applies and returns their results. Checks
// that cannot run because an earlier one failed are reported as skipped.
func Run(ctx context.Context, o Options) Report {
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.HTTP == nil {
		// The function's own kind: short timeouts, no redirects, capped bodies.
		o.HTTP = outbound.NewClient(outbound.Options{MaxBody: identity.MaxJWKSBytes})
	}
	d := &doctor{o: o, s: o.Settings}
	if o.Stack != "" && !d.checkStack(ctx) {
		for _, check := range []string{"secret", "issuer", "token"} {
			d.skip(check, "the stack could not be read")
		}
		if o.Call {
			d.skip("call", "the stack could not be read")
		}
		return d.report
	}
	d.checkSecret(ctx)
	d.checkIssuer(ctx)
	d.checkJWKS(ctx)
	if d.gateway != nil {
		defer d.gateway.Close()
	}
	d.checkToken(ctx)
	d.checkCall(ctx)
	return d.report
}

func (d *doctor) ok(check, format string, args ...any) {
	d.report = append(d.report, Line{OK, check, fmt.Sprintf(format, args...)})
}

func (d *doctor) fail(check, format string, args ...any) {
	d.report = append(d.report, Line{Fail, check, fmt.Sprintf(format, args...)})
}

func (d *doctor) skip(check, because string) {
	d.report = append(d.report, Line{Skip, check, "(because " + because + ")"})
}

// fix says how to set a parameter: by a guided deploy on a stack (saved in
// samconfig.toml for the next deploys), else as the value to deploy with.
func (d *doctor) fix(param, value string) string {
	if d.o.Stack != "" {
		return fmt.Sprintf("set %s=%s (sam deploy --guided)", param, value)
	}
	return fmt.Sprintf("deploy with %s=%s", param, value)
}
