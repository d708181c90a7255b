package lambda_test

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sentiance-authcode/backend/devtools/devsentiance"
	"github.com/sentiance-authcode/backend/tests/testenv"
)

const (
	apiKey   = "test-user-link-key-under-rie"
	audience = "mobile-app"
	user     = "user-under-rie"
)

// sampleEvent loads aws-lambda-go's own HTTP API JWT-authorizer event from
// the module cache, so the function is fed the shape the library documents.
func sampleEvent(t *testing.T) events.APIGatewayV2HTTPRequest {
	t.Helper()
	out, err := exec.Command("go", "list", "-m", "-f", "{{.Dir}}", "github.com/aws/aws-lambda-go").Output()
	if err != nil {
		t.Fatalf("locate aws-lambda-go in the module cache: %v", err)
	}
	raw, err := os.ReadFile(filepath.Join(strings.TrimSpace(string(out)), "events", "testdata", "apigw-v2-request-jwt-authorizer.json"))
	if err != nil {
		t.Fatal(err)
	}
	var ev events.APIGatewayV2HTTPRequest
	if err := json.Unmarshal(raw, &ev); err != nil {
		t.Fatal(err)
	}
	return ev
}

// asRoute points the sample event at one of our routes with the caller's
// verified claims and token, as API Gateway would after its authorizer.
func asRoute(ev events.APIGatewayV2HTTPRequest, method, path, token string, claims map[string]string) events.APIGatewayV2HTTPRequest {
	ev.RouteKey = method + " " + path
	ev.RawPath = path
	ev.RequestContext.RouteKey = ev.RouteKey
	ev.RequestContext.HTTP.Method = method
	ev.RequestContext.HTTP.Path = path
	ev.Headers = map[string]string{"authorization": "Bearer " + token, "content-type": "application/json"}
	// A fresh authorizer: the sample's is a pointer shared by every copy.
	ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
	}
	ev.Body = ""
	return ev
}

func TestBootstrapUnderRIE(t *testing.T) {
	f := startFunction(t, map[string]string{"SENTIANCE_APP_ID": "app-under-rie"})
	moto, issuer, stand, lambda := f.moto, f.issuer, f.stand, f.lambda
	token := f.token
	claims := map[string]string{"sub": user, "aud": audience, "iss": issuer.URL}
	sample := sampleEvent(t)

	tests := []struct {
		name   string
		event  events.APIGatewayV2HTTPRequest
		status int
		calls  int // Sentiance calls this event adds
	}{
		// Unchanged, the library's sample hits a path we do not serve (and has a body without a media type).
		{name: "library sample as is", event: sample, status: 404},
		{name: "POST /auth-code", event: asRoute(sample, "POST", "/auth-code", token, claims), status: 200, calls: 1},
		{name: "GET /auth/code", event: asRoute(sample, "GET", "/auth/code", token, claims), status: 200, calls: 1},
		{name: "claims of another user", event: asRoute(sample, "POST", "/auth-code", token, map[string]string{"sub": "someone-else"}), status: 401},
		{name: "bad token", event: asRoute(sample, "POST", "/auth-code", token+"x", claims), status: 401},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := len(stand.Calls())
			var resp events.APIGatewayV2HTTPResponse
			raw := lambda.Invoke(t, tt.event)
			if err := json.Unmarshal(raw, &resp); err != nil {
				t.Fatalf("invoke answer %s: %v", raw, err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d: %s", resp.StatusCode, tt.status, resp.Body)
			}
			calls := stand.Calls()[before:]
			if len(calls) != tt.calls {
				t.Fatalf("Sentiance calls = %d, want %d", len(calls), tt.calls)
			}
			for _, c := range calls {
				if c.Method != "POST" || c.Path != "/users/auth-code" || c.Authorization != "Bearer "+apiKey || c.ContentType != "application/json" || c.ExternalID != user {
					t.Errorf("Sentiance got %+v", c)
				}
			}
			if tt.status == 200 {
				var body map[string]string
				if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
					t.Fatal(err)
				}
				codes := stand.Codes()
				if body["authentication_code"] != codes[len(codes)-1] || body["auth_code"] != body["authentication_code"] ||
					body["platform_url"] != stand.URL || body["app_id"] != "app-under-rie" || body["expires_at"] == "" {
					t.Errorf("body = %s", resp.Body)
				}
				if resp.Headers["Cache-Control"] != "no-store" || resp.Headers["Content-Type"] != "application/json" {
					t.Errorf("headers = %v", resp.Headers)
				}
			}
		})
	}
	if n := moto.Calls("secretsmanager.GetSecretValue"); n != 1 {
		t.Errorf("GetSecretValue calls = %d over %d invocations, want 1 (cached)", n, len(tests))
	}
	logs := lambda.Logs()
	if !strings.Contains(logs, `"status":200`) {
		t.Errorf("no request log line in the function's output:\n%s", logs)
	}
	testenv.AssertNoLeak(t, logs, append([]string{apiKey, token}, stand.Codes()...)...)
	for _, m := range []string{"CodesIssued", "Denied", "SentianceLatency", "SecretFetches"} {
		if emfCount(logs, m) == 0 {
			t.Errorf("no %s metric line in the function's output", m)
		}
	}
}

// emfCount counts the Embedded Metric Format lines in logs that carry metric
// in the default namespace, checking each names its value at the top level.
func emfCount(logs, metric string) int {
	n := 0
	for _, line := range strings.Split(logs, "\n") {
		var doc struct {
			AWS struct {
				CloudWatchMetrics []struct {
					Namespace string
					Metrics   []struct{ Name string }
				}
			} `json:"_aws"`
		}
		if json.Unmarshal([]byte(line), &doc) != nil {
			continue
		}
		var values map[string]any
		json.Unmarshal([]byte(line), &values)
		for _, d := range doc.AWS.CloudWatchMetrics {
			for _, m := range d.Metrics {
				if m.Name == metric && d.Namespace == "SentianceAuthCode" && values[metric] != nil {
					n++
				}
			}
		}
	}
	return n
}

// In gateway-only mode (no JWT_ISSUER) the function trusts the authorizer's
// claims and refuses events without them.
func TestBootstrapGatewayOnly(t *testing.T) {
	bootstrap := testenv.BuildBootstrap(t, "./functions/authcode")
	moto := testenv.StartMoto(t)
	moto.CreateSecret(t, "user-link", apiKey)
	stand := devsentiance.Start(t, apiKey)
	env := moto.Env()
	env["USER_LINK_SECRET_ID"] = "user-link"
	env["SENTIANCE_API_URL"] = stand.URL
	env["EXTERNAL_ID_CLAIM"] = "custom:external_id"
	lambda := testenv.StartLambda(t, bootstrap, env)

	sample := sampleEvent(t)
	ok := asRoute(sample, "POST", "/auth-code", "", map[string]string{"sub": "cognito-sub", "custom:external_id": user})
	noClaims := asRoute(sample, "POST", "/auth-code", "", nil)
	for _, c := range []struct {
		name   string
		ev     events.APIGatewayV2HTTPRequest
		status int
	}{{"with claims", ok, 200}, {"without claims", noClaims, 401}} {
		var resp events.APIGatewayV2HTTPResponse
		if err := json.Unmarshal(lambda.Invoke(t, c.ev), &resp); err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != c.status {
			t.Errorf("%s: status = %d, want %d: %s", c.name, resp.StatusCode, c.status, resp.Body)
		}
	}
	if calls := stand.Calls(); len(calls) != 1 || calls[0].ExternalID != user {
		t.Errorf("Sentiance calls = %+v, want one for %s", calls, user)
	}

	// A key Sentiance no longer accepts: 502 and the metric the operator's alarm watches.
	stand.SetKey("a-newer-key-the-secret-does-not-hold")
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(lambda.Invoke(t, ok), &resp); err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 502 || !strings.Contains(resp.Body, "key_rejected") {
		t.Errorf("with the key rejected: %d %s, want 502 key_rejected", resp.StatusCode, resp.Body)
	}
	if emfCount(lambda.Logs(), "KeyRejected") != 1 {
		t.Errorf("want one KeyRejected metric line; output:\n%s", lambda.Logs())
	}
}
