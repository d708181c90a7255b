package lambda_test

// The deployment's pre-traffic check (issue 19) against real builds under
// aws-lambda-rie: the check's logic with the SDK's Lambda client pointed at
// the emulator (it serves the Invoke API for the function named
// "function"), then the check's own bootstrap under a second emulator. A
// stand-in answers CodeDeploy's one call.

import (
	"context"
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/sentiance-authcode/backend/internal/authcode"
	"github.com/sentiance-authcode/backend/internal/pretraffic"
	"github.com/sentiance-authcode/backend/tests/testenv"
)

// rieFunctionName is the only function name aws-lambda-rie serves.
const rieFunctionName = "function"

// checkUnderRIE runs the check against the function under rie at fn and
// returns the one status reported to CodeDeploy, and the check's logs.
func checkUnderRIE(t *testing.T, fn *testenv.Lambda, want authcode.Reason) (string, string) {
	t.Helper()
	cd := testenv.StartCodeDeploy(t)
	log, logs := testenv.CaptureLogs(t)
	cfg := aws.Config{Region: "eu-west-1", Credentials: aws.AnonymousCredentials{}}
	check := &pretraffic.Check{
		Lambda:     lambda.NewFromConfig(cfg, func(o *lambda.Options) { o.BaseEndpoint = aws.String(fn.URL) }),
		CodeDeploy: codedeploy.NewFromConfig(cfg, func(o *codedeploy.Options) { o.BaseEndpoint = aws.String(cd.URL) }),
		Version:    rieFunctionName,
		Want:       want,
		Logger:     log,
	}
	if err := check.Handle(context.Background(), pretraffic.Event{DeploymentID: "d-TEST", ExecutionID: "hook-1"}); err != nil {
		t.Fatalf("Handle: %v", err)
	}
	reports := cd.Reports()
	if len(reports) != 1 || reports[0].DeploymentID != "d-TEST" || reports[0].ExecutionID != "hook-1" {
		t.Fatalf("CodeDeploy got %+v, want one report for d-TEST/hook-1", reports)
	}
	return reports[0].Status, logs.String()
}

// gatewayOnly turns in-function verification off (VerifyTokenInFunction=false).
var gatewayOnly = map[string]string{"JWT_ISSUER": "", "JWT_AUDIENCE": ""}

func TestPreTrafficCheckUnderRIE(t *testing.T) {
	bootstrap := testenv.BuildBootstrap(t, "./functions/authcode")
	answer := testenv.BuildBootstrap(t, "./tests/lambda/testdata/answer")
	// A build that cannot start: the function refuses a missing setting at
	// init and exits 2, as a wrong parameter or a bad build would.
	cannotStart := func(t *testing.T) *testenv.Lambda {
		return testenv.StartLambda(t, bootstrap, map[string]string{"JWT_ISSUER": "https://issuer.invalid/", "JWT_AUDIENCE": audience})
	}
	tests := []struct {
		name   string
		start  func(t *testing.T) *testenv.Lambda
		want   authcode.Reason
		status string
		why    string // in the check's logged error
	}{
		{"a good build that verifies tokens", func(t *testing.T) *testenv.Lambda { return startFunction(t, nil).lambda },
			authcode.InvalidToken, "Succeeded", ""},
		{"a good build that trusts the gateway", func(t *testing.T) *testenv.Lambda { return startFunction(t, gatewayOnly).lambda },
			authcode.NoIdentity, "Succeeded", ""},
		{"a build that answers the other 401", func(t *testing.T) *testenv.Lambda { return startFunction(t, gatewayOnly).lambda },
			authcode.InvalidToken, "Failed", "no_identity"},
		{"a build that cannot start", cannotStart, authcode.InvalidToken, "Failed", "invoking function"},
		{"a build that answers 200", func(t *testing.T) *testenv.Lambda {
			return testenv.StartLambda(t, answer, map[string]string{"ANSWER_STATUS": "200"})
		}, authcode.InvalidToken, "Failed", "200"},
		{"a build that answers 502", func(t *testing.T) *testenv.Lambda {
			return testenv.StartLambda(t, answer, map[string]string{"ANSWER_STATUS": "502"})
		}, authcode.InvalidToken, "Failed", "502"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			fn := tt.start(t)
			status, logs := checkUnderRIE(t, fn, tt.want)
			if status != tt.status {
				t.Fatalf("reported %s, want %s\ncheck's logs:\n%s\nfunction's output:\n%s", status, tt.status, logs, fn.Logs())
			}
			if tt.why != "" && !strings.Contains(logs, tt.why) {
				t.Errorf("the check's logs do not say %q:\n%s", tt.why, logs)
			}
			if strings.Contains(tt.name, "cannot start") && !strings.Contains(fn.Logs(), "USER_LINK_SECRET_ID") {
				t.Errorf("the function's output does not name the missing setting:\n%s", fn.Logs())
			}
		})
	}
}

// The check asks nothing of Sentiance and reads no token: a good build
// answers it before its key or Sentiance is needed.
func TestPreTrafficCheckNeedsNoPeers(t *testing.T) {
	f := startFunction(t, nil)
	if status, logs := checkUnderRIE(t, f.lambda, authcode.InvalidToken); status != "Succeeded" {
		t.Fatalf("reported %s:\n%s", status, logs)
	}
	if n := len(f.stand.Calls()); n != 0 {
		t.Errorf("Sentiance calls = %d, want none", n)
	}
	if n := emfCount(f.lambda.Logs(), "CodesIssued"); n != 0 {
		t.Errorf("CodesIssued lines = %d, want none", n)
	}
}

// The check's own bootstrap under a second emulator, configured as the
// template configures it, with the SDK's endpoints pointed at the function's
// emulator and the CodeDeploy stand-in.
func TestPreTrafficHookBootstrapUnderRIE(t *testing.T) {
	hook := testenv.BuildBootstrap(t, "./functions/pretraffic")
	tests := []struct {
		name   string
		fnEnv  map[string]string // nil: a build that cannot start
		verify string
		status string
	}{
		{"good build", map[string]string{}, "true", "Succeeded"},
		{"good build trusting the gateway", gatewayOnly, "false", "Succeeded"},
		{"build that cannot start", nil, "true", "Failed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var fn *testenv.Lambda
			if tt.fnEnv == nil {
				fn = testenv.StartLambda(t, testenv.BuildBootstrap(t, "./functions/authcode"), map[string]string{"JWT_ISSUER": "https://issuer.invalid/", "JWT_AUDIENCE": audience})
			} else {
				fn = startFunction(t, tt.fnEnv).lambda
			}
			cd := testenv.StartCodeDeploy(t)
			h := testenv.StartLambda(t, hook, map[string]string{
				"AUTHCODE_VERSION":            rieFunctionName,
				"VERIFY_TOKEN_IN_FUNCTION":    tt.verify,
				"AWS_ENDPOINT_URL_LAMBDA":     fn.URL,
				"AWS_ENDPOINT_URL_CODEDEPLOY": cd.URL,
				"AWS_REGION":                  "eu-west-1",
				"AWS_ACCESS_KEY_ID":           "test",
				"AWS_SECRET_ACCESS_KEY":       "test",
			})
			out := h.Invoke(t, pretraffic.Event{DeploymentID: "d-HOOK", ExecutionID: "hook-2"})
			if string(out) != "null" {
				t.Errorf("the hook answered %s, want null (it reported)", out)
			}
			want := []testenv.HookReport{{DeploymentID: "d-HOOK", ExecutionID: "hook-2", Status: tt.status}}
			if got := cd.Reports(); !slices.Equal(got, want) {
				t.Errorf("CodeDeploy got %+v, want %+v\nhook's output:\n%s", got, want, h.Logs())
			}
			var line struct{ Level, Msg string }
			for _, l := range strings.Split(h.Logs(), "\n") {
				if json.Unmarshal([]byte(l), &line) == nil && strings.Contains(line.Msg, "pre-traffic check") {
					break
				}
			}
			if !strings.Contains(line.Msg, "pre-traffic check") {
				t.Errorf("the hook logged no JSON line about its check:\n%s", h.Logs())
			}
		})
	}
}

// A hook without its settings stops at init in one line, so CodeDeploy's
// invocation fails and the deployment with it.
func TestPreTrafficHookBadConfig(t *testing.T) {
	hook := testenv.BuildBootstrap(t, "./functions/pretraffic")
	testenv.CheckOneLineExit(t, lambdaRuntime+"VERIFY_TOKEN_IN_FUNCTION=true", "AUTHCODE_VERSION", hook)
}
