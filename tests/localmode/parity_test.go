package localmode_test

import (
	"encoding/json"
	"io"
	"log/slog"
	"maps"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sentiance-authcode/backend/devtools/devidp"
	"github.com/sentiance-authcode/backend/devtools/devsentiance"
	"github.com/sentiance-authcode/backend/devtools/local"
	"github.com/sentiance-authcode/backend/internal/authcode"
	"github.com/sentiance-authcode/backend/tests/testenv"
)

const (
	parityKey      = "key.parity"
	parityAudience = "parity-app"
	parityUser     = "user-parity"
)

// answer is what a client sees, from either side.
type answer struct {
	status int
	header http.Header
	body   string
}

// headersThatMatter are compared between the two sides.
var headersThatMatter = []string{"Content-Type", "Cache-Control", "X-Content-Type-Options", "WWW-Authenticate", "Retry-After", "Allow"}

// The same requests, sent to the local server and, as the events the local
// gateway builds from them, to the bootstrap under aws-lambda-rie, get the
// same answers: status, the headers that matter and the body's shape. Both
// sides use the same identity provider and Sentiance stand-ins; the Lambda
// reads its key from moto, local mode from SENTIANCE_USER_LINK_KEY.
func TestParityWithLambda(t *testing.T) {
	t.Parallel()
	issuer := devidp.Start(t, false)
	stand := devsentiance.Start(t, parityKey)
	moto := testenv.StartMoto(t)
	arn := moto.CreateSecret(t, "parity/user-link", `{"user_link_api_key":"`+parityKey+`"}`)

	env := moto.Env()
	env["USER_LINK_SECRET_ID"] = arn
	env["SENTIANCE_API_URL"] = stand.URL
	env["JWT_ISSUER"] = issuer.URL
	env["JWT_AUDIENCE"] = parityAudience
	env["AWS_LAMBDA_FUNCTION_TIMEOUT"] = "10" // as template.yaml
	lambda := testenv.StartLambda(t, testenv.BuildBootstrap(t, "./functions/authcode"), env)

	localEnv := map[string]string{
		"LOCAL_ADDR":              "127.0.0.1:0",
		"SENTIANCE_USER_LINK_KEY": parityKey,
		"SENTIANCE_API_URL":       stand.URL,
		"JWT_ISSUER":              issuer.URL,
		"JWT_AUDIENCE":            parityAudience,
	}
	lm := testenv.RunLocal(t, localEnv)
	baseURL := lm.URL

	// The Lambda side is fed by the same gateway code local mode runs.
	az := local.NewAuthorizer(local.AuthorizerOptions{Issuer: issuer.URL, Audiences: []string{parityAudience}, Logger: slog.New(slog.DiscardHandler)})
	t.Cleanup(az.Close)
	gw := &local.Gateway{Authorizer: az}

	token := issuer.Token(t, jwt.MapClaims{"sub": parityUser, "aud": parityAudience})
	bigBody := `{"external_id":"` + strings.Repeat("x", 5000) + `"}`
	tests := []struct {
		name                     string
		method, path             string
		token, contentType, body string
		before                   func() // run before each side's request
		status                   int
		problem                  authcode.Reason // the problem type's reason, "" for none
	}{
		{name: "POST, no body", method: "POST", path: "/auth-code", token: token, status: 200},
		{name: "GET", method: "GET", path: "/auth/code", token: token, status: 200},
		{name: "POST, own external_id", method: "POST", path: "/auth-code", token: token, contentType: "application/json", body: `{"external_id":"` + parityUser + `"}`, status: 200},
		{name: "client_id instead of aud", method: "POST", path: "/auth-code", token: issuer.Token(t, jwt.MapClaims{"sub": parityUser, "client_id": parityAudience}), status: 200},
		{name: "someone else's external_id", method: "POST", path: "/auth-code", token: token, contentType: "application/json", body: `{"external_id":"someone-else"}`, status: 403, problem: "external_id_mismatch"},
		{name: "no sub claim", method: "POST", path: "/auth-code", token: issuer.Token(t, jwt.MapClaims{"aud": parityAudience}), status: 403, problem: "external_id_claim"},
		{name: "numeric sub", method: "POST", path: "/auth-code", token: issuer.Token(t, jwt.MapClaims{"sub": 42, "aud": parityAudience}), status: 403, problem: "external_id_claim"},
		{name: "body not an object", method: "POST", path: "/auth-code", token: token, contentType: "application/json", body: `[1]`, status: 400, problem: "bad_request"},
		{name: "text body", method: "POST", path: "/auth-code", token: token, contentType: "text/plain", body: "hello", status: 415, problem: "unsupported_media_type"},
		{name: "binary body (base64 in the event)", method: "POST", path: "/auth-code", token: token, contentType: "application/octet-stream", body: "\x00\x01", status: 415, problem: "unsupported_media_type"},
		{name: "body over 4 KiB", method: "POST", path: "/auth-code", token: token, contentType: "application/json", body: bigBody, status: 413, problem: "body_too_large"},
		{name: "Sentiance rate-limits", method: "POST", path: "/auth-code", token: token, status: 429, problem: "sentiance_rate_limited",
			before: func() { stand.Script(devsentiance.Step{Status: 429, Header: http.Header{"Retry-After": {"7"}}}) }},
		{name: "Sentiance fails", method: "GET", path: "/auth/code", token: token, status: 502, problem: "sentiance_error",
			before: func() {
				stand.Script(devsentiance.Step{Status: 503}, devsentiance.Step{Status: 503}, devsentiance.Step{Status: 503})
			}},
		{name: "Sentiance rejects the key", method: "POST", path: "/auth-code", token: token, status: 502, problem: "key_rejected",
			before: func() { stand.Script(devsentiance.Step{Status: 401, Body: `{"errorCode":"unauthorized"}`}) }},
		// Answered by the gateway itself on both sides (the function is never invoked).
		{name: "no token", method: "POST", path: "/auth-code", status: 401},
		{name: "expired token", method: "POST", path: "/auth-code", token: issuer.Token(t, jwt.MapClaims{"sub": parityUser, "aud": parityAudience, "exp": time.Now().Add(-time.Minute).Unix()}), status: 401},
		{name: "ES256 token", method: "POST", path: "/auth-code", token: issuer.TokenES256(t, jwt.MapClaims{"sub": parityUser, "aud": parityAudience}), status: 401},
		{name: "wrong method", method: "GET", path: "/auth-code", token: token, status: 404},
		{name: "unknown path", method: "POST", path: "/auth", token: token, status: 404},
	}
	client := &http.Client{Timeout: 15 * time.Second}
	t.Cleanup(client.CloseIdleConnections)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			newRequest := func(base string) *http.Request {
				req, err := http.NewRequest(tt.method, base+tt.path, strings.NewReader(tt.body))
				if err != nil {
					t.Fatal(err)
				}
				if tt.token != "" {
					req.Header.Set("Authorization", "Bearer "+tt.token)
				}
				if tt.contentType != "" {
					req.Header.Set("Content-Type", tt.contentType)
				}
				req.Header.Set("User-Agent", "parity-test")
				return req
			}

			if tt.before != nil {
				tt.before()
			}
			resp, err := client.Do(newRequest(baseURL))
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			loc := answer{resp.StatusCode, resp.Header, string(b)}

			if tt.before != nil {
				tt.before()
			}
			// What API Gateway would do with the same request: answer it
			// itself, or invoke the function with the event.
			req := newRequest("http://127.0.0.1:3000")
			req.RemoteAddr, req.RequestURI = "192.0.2.1:50000", req.URL.RequestURI()
			ev, refusal := gw.Event(req)
			var out events.APIGatewayV2HTTPResponse
			if refusal != nil {
				out = refusal.Response
			} else if raw := lambda.Invoke(t, ev); json.Unmarshal(raw, &out) != nil {
				t.Fatalf("invoke answer: %s", raw)
			}
			lam := answer{out.StatusCode, http.Header{}, out.Body}
			for k, v := range out.Headers {
				lam.header.Set(k, v)
			}

			if loc.status != tt.status || lam.status != tt.status {
				t.Fatalf("status: local %d %s, Lambda %d %s; want %d", loc.status, loc.body, lam.status, lam.body, tt.status)
			}
			for _, h := range headersThatMatter {
				if l, m := loc.header.Get(h), lam.header.Get(h); l != m {
					t.Errorf("%s: local %q, Lambda %q", h, l, m)
				}
			}
			lk, lt := shape(t, loc.body)
			mk, mt := shape(t, lam.body)
			if !slices.Equal(lk, mk) || lt != mt {
				t.Errorf("body shape: local %v %q, Lambda %v %q", lk, lt, mk, mt)
			}
			if want := authcode.ProblemTypePrefix + string(tt.problem); tt.problem != "" && lt != want {
				t.Errorf("problem type %q, want %q", lt, want)
			}
		})
	}

	logs := lm.Stdout.String() + lm.Stderr.String() + lambda.Logs()
	testenv.AssertNoLeak(t, logs, append([]string{parityKey, token}, stand.Codes()...)...)
}

// shape is a JSON body's sorted keys and its problem type (or gateway
// message) when it has one.
func shape(t *testing.T, body string) ([]string, string) {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("body is not a JSON object: %q", body)
	}
	kind, _ := doc["type"].(string)
	if msg, ok := doc["message"].(string); ok {
		kind = msg
	}
	return slices.Sorted(maps.Keys(doc)), kind
}
