// Package pretraffic is the deployment's pre-traffic check (CodeDeploy's
// BeforeAllowTraffic hook). It invokes the new version of the auth-code
// function with POST /auth-code and no token, which needs no network, key
// or Sentiance, and lets traffic move only if the answer is the contract's
// 401 problem: a build that cannot start, or answers wrongly, gets none.
package pretraffic

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	cdtypes "github.com/aws/aws-sdk-go-v2/service/codedeploy/types"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/sentiance-authcode/backend/internal/authcode"
)

// ProbeTimeout bounds the invocation (a cold start and one answer); the
// hook's timeout in template.yaml is longer (a test checks).
const ProbeTimeout = 20 * time.Second

// ErrUnexpected means the version answered, but not as the contract says.
var ErrUnexpected = errors.New("unexpected answer")

// Event is what CodeDeploy sends a lifecycle hook.
type Event struct {
	DeploymentID string `json:"DeploymentId"`
	ExecutionID  string `json:"LifecycleEventHookExecutionId"`
}

// Check checks one version of the function.
type Check struct {
	Lambda     *lambda.Client
	CodeDeploy *codedeploy.Client
	Version    string          // the version's ARN
	Want       authcode.Reason // the reason of the 401 it must answer
	Logger     *slog.Logger
}

// FromEnv reads AUTHCODE_VERSION and VERIFY_TOKEN_IN_FUNCTION (the template
// parameter): a function that verifies tokens answers a request without one
// invalid_token, one that trusts the gateway's claims no_identity.
func FromEnv(getenv func(string) string) (version string, want authcode.Reason, err error) {
	want = map[string]authcode.Reason{"true": authcode.InvalidToken, "false": authcode.NoIdentity}[getenv("VERIFY_TOKEN_IN_FUNCTION")]
	if version = getenv("AUTHCODE_VERSION"); version == "" || want == "" {
		return "", "", errors.New("set AUTHCODE_VERSION (a version ARN) and VERIFY_TOKEN_IN_FUNCTION (true or false)")
	}
	return version, want, nil
}

// Handle runs the check and reports it. Its error is only a failure to
// report, after which CodeDeploy fails the deployment at the hook's timeout.
func (c *Check) Handle(ctx context.Context, ev Event) error {
	status := cdtypes.LifecycleEventStatusSucceeded
	if err := c.Probe(ctx); err != nil {
		status = cdtypes.LifecycleEventStatusFailed
		c.Logger.ErrorContext(ctx, "pre-traffic check failed: the deployment rolls back", "version", c.Version, "error", err.Error())
	} else {
		c.Logger.InfoContext(ctx, "pre-traffic check passed", "version", c.Version)
	}
	_, err := c.CodeDeploy.PutLifecycleEventHookExecutionStatus(ctx, &codedeploy.PutLifecycleEventHookExecutionStatusInput{
		DeploymentId: aws.String(ev.DeploymentID), LifecycleEventHookExecutionId: aws.String(ev.ExecutionID), Status: status,
	})
	if err != nil {
		return fmt.Errorf("reporting %s to CodeDeploy: %w", status, err)
	}
	return nil
}

// Request is API Gateway's event for POST /auth-code with no Authorization
// header and no authorizer claims.
func Request() events.APIGatewayV2HTTPRequest {
	var path string
	for p, method := range authcode.Routes {
		if method == http.MethodPost {
			path = p
		}
	}
	return events.APIGatewayV2HTTPRequest{
		Version: "2.0", RouteKey: http.MethodPost + " " + path, RawPath: path,
		RequestContext: events.APIGatewayV2HTTPRequestContext{RequestID: "pre-traffic-check",
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: http.MethodPost, Path: path}},
	}
}

// Probe invokes the version with Request and checks the answer. Its errors
// name a status, media type and problem type, never a body.
func (c *Check) Probe(ctx context.Context) error {
	ctx, cancel := context.WithTimeout(ctx, ProbeTimeout)
	defer cancel()
	payload, _ := json.Marshal(Request())
	out, err := c.Lambda.Invoke(ctx, &lambda.InvokeInput{FunctionName: aws.String(c.Version), Payload: payload})
	if err != nil {
		return fmt.Errorf("invoking %s: %w", c.Version, err)
	}
	if out.FunctionError != nil {
		var e struct{ ErrorType string }
		_ = json.Unmarshal(out.Payload, &e)
		return fmt.Errorf("%w: function error %s (%s): the function's logs say why", ErrUnexpected, *out.FunctionError, e.ErrorType)
	}
	var resp events.APIGatewayV2HTTPResponse
	var p authcode.Problem
	if err := json.Unmarshal(out.Payload, &resp); err != nil {
		return fmt.Errorf("%w: not an API Gateway response: %w", ErrUnexpected, err)
	}
	_ = json.Unmarshal([]byte(resp.Body), &p)
	status, typ := c.Want.Spec().Status, authcode.ProblemTypePrefix+string(c.Want)
	if resp.StatusCode != status || resp.Headers["Content-Type"] != "application/problem+json" || p.Type != typ {
		return fmt.Errorf("%w: %d %q, problem type %q; want %d application/problem+json, %s",
			ErrUnexpected, resp.StatusCode, resp.Headers["Content-Type"], p.Type, status, typ)
	}
	return nil
}
