package pretraffic_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/codedeploy"
	"github.com/aws/aws-sdk-go-v2/service/lambda"

	"github.com/sentiance-authcode/backend/internal/authcode"
	"github.com/sentiance-authcode/backend/internal/pretraffic"
)

// fakeAWS answers Lambda's Invoke with a scripted answer and records
// CodeDeploy's PutLifecycleEventHookExecutionStatus, both on one server.
type fakeAWS struct {
	mu         sync.Mutex
	answer     func() (payload []byte, functionError string, status int)
	reportCode int // CodeDeploy's status; 0 is 200
	invoked    []string
	events     []events.APIGatewayV2HTTPRequest
	reports    []map[string]string
}

func (f *fakeAWS) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	body, _ := io.ReadAll(r.Body)
	if name, ok := strings.CutPrefix(r.URL.Path, "/2015-03-31/functions/"); ok {
		var ev events.APIGatewayV2HTTPRequest
		json.Unmarshal(body, &ev)
		f.invoked, f.events = append(f.invoked, strings.TrimSuffix(name, "/invocations")), append(f.events, ev)
		payload, fnErr, status := f.answer()
		if fnErr != "" {
			w.Header().Set("X-Amz-Function-Error", fnErr)
		}
		w.WriteHeader(status)
		w.Write(payload)
		return
	}
	if r.Header.Get("X-Amz-Target") != "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus" {
		http.Error(w, "unexpected call", http.StatusBadRequest)
		return
	}
	var in map[string]string
	json.Unmarshal(body, &in)
	f.reports = append(f.reports, in)
	w.Header().Set("Content-Type", "application/x-amz-json-1.1")
	if f.reportCode != 0 {
		w.WriteHeader(f.reportCode)
		w.Write([]byte(`{"__type":"LifecycleEventAlreadyCompletedException","message":"already reported"}`))
		return
	}
	w.Write([]byte(`{"lifecycleEventHookExecutionId":"` + in["lifecycleEventHookExecutionId"] + `"}`))
}

// check returns a Check whose clients talk to f, without retries.
func check(t *testing.T, f *fakeAWS, want authcode.Reason, logs io.Writer) *pretraffic.Check {
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	cfg := aws.Config{Region: "eu-west-1", Credentials: aws.AnonymousCredentials{}, Retryer: func() aws.Retryer { return aws.NopRetryer{} }}
	return &pretraffic.Check{
		Lambda:     lambda.NewFromConfig(cfg, func(o *lambda.Options) { o.BaseEndpoint = aws.String(srv.URL) }),
		CodeDeploy: codedeploy.NewFromConfig(cfg, func(o *codedeploy.Options) { o.BaseEndpoint = aws.String(srv.URL) }),
		Version:    "arn:aws:lambda:eu-west-1:123456789012:function:authcode:7",
		Want:       want,
		Logger:     slog.New(slog.NewJSONHandler(logs, nil)),
	}
}

// rejectAll is a verifier that refuses every token, as the function's does
// for a missing one.
type rejectAll struct{}

func (rejectAll) Verify(context.Context, string) (map[string]any, error) {
	return nil, errors.New("no bearer token")
}

// handlerAnswer is the function's own answer to the check's request: its
// handler, built without a key source or Sentiance, which the request must
// never reach.
func handlerAnswer(t *testing.T, verifies bool) []byte {
	o := authcode.Options{ExternalIDClaim: "sub", Logger: slog.New(slog.DiscardHandler)}
	if verifies {
		o.Verifier = rejectAll{}
	}
	resp, err := authcode.New(o).Handle(context.Background(), pretraffic.Request())
	if err != nil {
		t.Fatal(err)
	}
	b, _ := json.Marshal(resp)
	return b
}

func answer(payload []byte, status int, fnErr string) func() ([]byte, string, int) {
	return func() ([]byte, string, int) { return payload, fnErr, status }
}

func TestCheck(t *testing.T) {
	const code = "0123456789abcdef0123456789abcdef"
	codeAnswer, _ := json.Marshal(events.APIGatewayV2HTTPResponse{StatusCode: 200, Headers: map[string]string{"Content-Type": "application/json"},
		Body: `{"authentication_code":"` + code + `","auth_code":"` + code + `"}`})
	failed, _ := json.Marshal(events.APIGatewayV2HTTPResponse{StatusCode: 502, Headers: map[string]string{"Content-Type": "application/problem+json"},
		Body: `{"type":"` + authcode.ProblemTypePrefix + string(authcode.Internal) + `","status":502}`})
	tests := []struct {
		name   string
		want   authcode.Reason
		answer func() ([]byte, string, int)
		status string
		why    string // in the logged error
	}{
		{"verifying function: invalid_token", authcode.InvalidToken, answer(handlerAnswer(t, true), 200, ""), "Succeeded", "check passed"},
		{"gateway-trusting function: no_identity", authcode.NoIdentity, answer(handlerAnswer(t, false), 200, ""), "Succeeded", "check passed"},
		{"the other 401 than expected", authcode.InvalidToken, answer(handlerAnswer(t, false), 200, ""), "Failed", `401 \"application/problem+json\", problem type \"urn:sentiance-auth-code:problem:no_identity\"`},
		{"a code without a token", authcode.InvalidToken, answer(codeAnswer, 200, ""), "Failed", `200 \"application/json\", problem type \"\"`},
		{"a 5xx", authcode.InvalidToken, answer(failed, 200, ""), "Failed", "502"},
		{"the version cannot start", authcode.InvalidToken, answer([]byte(`{"errorType":"Runtime.ExitError","errorMessage":"exit status 2"}`), 200, "Unhandled"), "Failed", "function error Unhandled (Runtime.ExitError)"},
		{"not a response", authcode.InvalidToken, answer([]byte(`"hello"`), 200, ""), "Failed", "not an API Gateway response"},
		{"invoke refused", authcode.InvalidToken, answer([]byte(`{"message":"not authorized"}`), 403, ""), "Failed", "invoking arn:aws:lambda"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := &fakeAWS{answer: tt.answer}
			var logs bytes.Buffer
			c := check(t, f, tt.want, &logs)
			if err := c.Handle(context.Background(), pretraffic.Event{DeploymentID: "d-ABC", ExecutionID: "exec-1"}); err != nil {
				t.Fatalf("Handle: %v", err)
			}
			want := map[string]string{"deploymentId": "d-ABC", "lifecycleEventHookExecutionId": "exec-1", "status": tt.status}
			if len(f.reports) != 1 || !mapsEqual(f.reports[0], want) {
				t.Errorf("reported %v, want %v; logs:\n%s", f.reports, want, logs.String())
			}
			// One invocation of the version itself, never $LATEST or the alias.
			if len(f.invoked) != 1 || f.invoked[0] != c.Version {
				t.Errorf("invoked %v, want %s once", f.invoked, c.Version)
			}
			if ev := f.events[0]; ev.Headers["authorization"] != "" || ev.RequestContext.Authorizer != nil {
				t.Errorf("the check's request carries credentials: %+v", ev)
			}
			if !strings.Contains(logs.String(), tt.why) {
				t.Errorf("logs do not say %q:\n%s", tt.why, logs.String())
			}
			if strings.Contains(logs.String(), code) {
				t.Error("the code is in the logs")
			}
		})
	}
}

func mapsEqual(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if b[k] != v {
			return false
		}
	}
	return true
}

// A report CodeDeploy refuses is the hook's error: Lambda records it, and
// CodeDeploy fails the deployment when the hook's time is up.
func TestReportRefused(t *testing.T) {
	f := &fakeAWS{answer: answer(handlerAnswer(t, true), 200, ""), reportCode: 400}
	err := check(t, f, authcode.InvalidToken, io.Discard).Handle(context.Background(), pretraffic.Event{DeploymentID: "d-ABC", ExecutionID: "exec-1"})
	if err == nil || !strings.Contains(err.Error(), "reporting Succeeded to CodeDeploy") {
		t.Fatalf("Handle = %v, want the refused report", err)
	}
}

func TestFromEnv(t *testing.T) {
	tests := []struct {
		env  map[string]string
		want authcode.Reason
	}{
		{map[string]string{"AUTHCODE_VERSION": "arn:v:1", "VERIFY_TOKEN_IN_FUNCTION": "true"}, authcode.InvalidToken},
		{map[string]string{"AUTHCODE_VERSION": "arn:v:1", "VERIFY_TOKEN_IN_FUNCTION": "false"}, authcode.NoIdentity},
		{map[string]string{"VERIFY_TOKEN_IN_FUNCTION": "true"}, ""},
		{map[string]string{"AUTHCODE_VERSION": "arn:v:1", "VERIFY_TOKEN_IN_FUNCTION": "yes"}, ""},
	}
	for _, tt := range tests {
		version, want, err := pretraffic.FromEnv(func(k string) string { return tt.env[k] })
		if want != tt.want || (err == nil) != (tt.want != "") || err == nil && version != "arn:v:1" {
			t.Errorf("FromEnv(%v) = %q, %q, %v; want reason %q", tt.env, version, want, err, tt.want)
		}
	}
}
