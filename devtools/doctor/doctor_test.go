package doctor_test

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/cloudformation"
	cftypes "github.com/aws/aws-sdk-go-v2/service/cloudformation/types"
	"github.com/aws/smithy-go"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sentiance-authcode/backend/devtools/devidp"
	"github.com/sentiance-authcode/backend/devtools/devsecrets"
	"github.com/sentiance-authcode/backend/devtools/doctor"
	"github.com/sentiance-authcode/backend/internal/authcode"
)

// An obviously fake key: the doctor may show its length and last 4 only.
const (
	fakeKey    = "FAKE0000.not-a-real-sentiance-key-a1b2"
	secretARN  = "arn:aws:secretsmanager:eu-west-1:123456789012:secret:sentiance-AbCdEf"
	appClient  = "app-client-1"
	stackName  = "sentiance-auth-code"
	testRegion = "eu-west-1"
)

// fakeStacks answers DescribeStacks as CloudFormation does, from a map.
type fakeStacks map[string]cftypes.Stack

func (f fakeStacks) DescribeStacks(_ context.Context, in *cloudformation.DescribeStacksInput, _ ...func(*cloudformation.Options)) (*cloudformation.DescribeStacksOutput, error) {
	st, ok := f[aws.ToString(in.StackName)]
	if !ok {
		return nil, &smithy.GenericAPIError{Code: "ValidationError", Message: "Stack with id " + aws.ToString(in.StackName) + " does not exist"}
	}
	return &cloudformation.DescribeStacksOutput{Stacks: []cftypes.Stack{st}}, nil
}

// fixture is a healthy deployment: a stack, its secret, a TLS issuer, the
// deployed API, and a Cognito-shaped access token. Cases break one part.
type fixture struct {
	issuer  *devidp.Issuer
	params  map[string]string
	outputs map[string]string
	secrets *devsecrets.SecretsManager // a secret without a value, as a stack-created one is until the key is put in, is not there
	claims  jwt.MapClaims              // of the token; nil values are left out
	token   string                     // when set, used instead of a token made from claims
	api     http.HandlerFunc
	opts    doctor.Options
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	f := &fixture{issuer: devidp.Start(t, true)}
	f.params = map[string]string{
		"JwtIssuer":             f.issuer.URL,
		"JwtAudience":           appClient,
		"ExternalIdClaim":       "sub",
		"VerifyTokenInFunction": "true",
	}
	f.outputs = map[string]string{
		"UserLinkSecretArn": secretARN,
		"FunctionName":      stackName + "-AuthCodeFunction-Abc123",
	}
	f.secrets = devsecrets.New()
	f.secrets.Put(secretARN, `{"user_link_api_key":"`+fakeKey+`"}`)
	f.claims = jwt.MapClaims{"sub": "user-1", "client_id": appClient, "token_use": "access", "scope": "aws.cognito.signin.user.admin"}
	f.api = func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"authentication_code":"` + strings.Repeat("c0de", 32) + `","platform_url":"https://api.sentiance.com"}`))
	}
	f.opts = doctor.Options{Stack: stackName, Region: testRegion, HTTP: loopbackOnly(f.issuer.Client()), Now: time.Now}
	return f
}

// run builds the stack from the fixture and runs the doctor.
func (f *fixture) run(t *testing.T) (doctor.Report, string) {
	t.Helper()
	api := httptest.NewTLSServer(f.api)
	t.Cleanup(api.Close)
	if _, ok := f.outputs["AuthCodeUrl"]; !ok {
		f.outputs["AuthCodeUrl"] = api.URL + "/auth-code"
	}
	st := cftypes.Stack{StackName: aws.String(stackName), StackStatus: cftypes.StackStatusCreateComplete}
	for k, v := range f.params {
		st.Parameters = append(st.Parameters, cftypes.Parameter{ParameterKey: aws.String(k), ParameterValue: aws.String(v)})
	}
	for k, v := range f.outputs {
		st.Outputs = append(st.Outputs, cftypes.Output{OutputKey: aws.String(k), OutputValue: aws.String(v)})
	}
	if f.token == "" {
		f.token = f.issuer.Token(t, f.claims)
	}
	o := f.opts
	o.Stacks, o.Secrets, o.Token = fakeStacks{stackName: st}, f.secrets, f.token
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	report := doctor.Run(ctx, o)
	var out bytes.Buffer
	if _, err := report.WriteTo(&out); err != nil {
		t.Fatal(err)
	}
	for _, secret := range []string{f.token, fakeKey, strings.Repeat("c0de", 32)} {
		if strings.Contains(out.String(), secret) {
			t.Errorf("the report holds a secret of %d characters", len(secret))
		}
	}
	return report, out.String()
}

// Each broken part gives one FAIL line, on the check at fault, that says
// what is wrong and how to fix it.
func TestDiagnoses(t *testing.T) {
	tests := []struct {
		name   string
		mutate func(t *testing.T, f *fixture)
		check  string
		want   []string // substrings of the one FAIL line; {issuer} is the issuer's URL
	}{
		{
			name:   "missing stack",
			mutate: func(t *testing.T, f *fixture) { f.opts.Stack = "no-such-stack" },
			check:  "stack",
			want:   []string{`no stack "no-such-stack" in region eu-west-1`, "sam deploy --guided", "-region"},
		},
		{
			name:   "stack-created secret without a value",
			mutate: func(t *testing.T, f *fixture) { f.secrets = devsecrets.New() },
			check:  "secret",
			want:   []string{"has no value yet", "503 key_unavailable", "aws secretsmanager put-secret-value --region eu-west-1 --secret-id " + secretARN + " --secret-string file:///dev/stdin", `printf '{"user_link_api_key":"%s","expires_at":"<YYYY-MM-DD>"}' "$SENTIANCE_KEY"`},
		},
		{
			name:   "empty secret",
			mutate: func(t *testing.T, f *fixture) { f.secrets.Put(secretARN, "  ") },
			check:  "secret",
			want:   []string{"is empty", "put-secret-value"},
		},
		{
			name:   "wrong field",
			mutate: func(t *testing.T, f *fixture) { f.secrets.Put(secretARN, `{"apiKey":"`+fakeKey+`"}`) },
			check:  "secret",
			want:   []string{`without a non-empty "user_link_api_key" field (its fields: apiKey)`, `store the key under "user_link_api_key"`},
		},
		{
			name:   "secret still holds the placeholder",
			mutate: func(t *testing.T, f *fixture) { f.secrets.Put(secretARN, `{"user_link_api_key":"<key>"}`) },
			check:  "secret",
			want:   []string{"is still a <placeholder>"},
		},
		{
			name: "key expires within the warning days",
			mutate: func(t *testing.T, f *fixture) {
				f.secrets.Put(secretARN, `{"user_link_api_key":"`+fakeKey+`","expires_at":"`+time.Now().AddDate(0, 0, 10).Add(-time.Hour).Format(time.RFC3339)+`"}`)
			},
			check: "expiry",
			want:  []string{"the key expires in 9 days", "create a new user_link key", `"expires_at":"<YYYY-MM-DD>"`},
		},
		{
			name: "key expired",
			mutate: func(t *testing.T, f *fixture) {
				f.secrets.Put(secretARN, `{"user_link_api_key":"`+fakeKey+`","expires_at":"2020-01-02"}`)
			},
			check: "expiry",
			want:  []string{"the key expired", "(2020-01-02)", "Sentiance refuses it"},
		},
		{
			name: "unreadable expiry",
			mutate: func(t *testing.T, f *fixture) {
				f.secrets.Put(secretARN, `{"user_link_api_key":"`+fakeKey+`","expires_at":"next spring"}`)
			},
			check: "expiry",
			want:  []string{"expires_at the function cannot read", "YYYY-MM-DD or RFC 3339"},
		},
		{
			name:   "issuer differs by a trailing slash",
			mutate: func(t *testing.T, f *fixture) { f.params["JwtIssuer"] = f.issuer.URL + "/" },
			check:  "issuer",
			want:   []string{"differ by a trailing slash", "set JwtIssuer={issuer} "},
		},
		{
			name: "unreachable JWKS",
			mutate: func(t *testing.T, f *fixture) {
				f.issuer.OverrideJWKS(func(w http.ResponseWriter, r *http.Request, _ []byte) {
					// Drop the connection, as an unreachable host would.
					conn, _, err := http.NewResponseController(w).Hijack()
					if err == nil {
						conn.Close()
					}
				})
			},
			check: "jwks",
			want:  []string{"/jwks.json: unreachable", "answers 401 to all"},
		},
		{
			name: "JWKS answers an error",
			mutate: func(t *testing.T, f *fixture) {
				f.issuer.OverrideJWKS(func(w http.ResponseWriter, r *http.Request, _ []byte) { w.WriteHeader(http.StatusServiceUnavailable) })
			},
			check: "jwks",
			want:  []string{"invalid HTTP status code: 503"},
		},
		{
			name:   "Cognito access token with the wrong client id",
			mutate: func(t *testing.T, f *fixture) { f.claims["client_id"] = "other-client" },
			check:  "token",
			want:   []string{`Cognito access token: it has client_id "other-client" and no aud; the stack accepts "app-client-1"`, "set JwtAudience=other-client"},
		},
		{
			name: "ID token where access tokens' client_id is configured",
			mutate: func(t *testing.T, f *fixture) {
				f.claims = jwt.MapClaims{"sub": "user-1", "aud": "web-client", "token_use": "id", "cognito:username": "u"}
			},
			check: "token",
			want:  []string{`Cognito ID token: its aud "web-client" is the app client it was issued to; the stack accepts "app-client-1"`, "access tokens' client_id", "set JwtAudience=web-client"},
		},
		{
			name: "ID token where an API audience is configured",
			mutate: func(t *testing.T, f *fixture) {
				f.params["JwtAudience"] = "https://api.example.com"
				f.claims = jwt.MapClaims{"sub": "auth0|u1", "aud": "spa-client", "nonce": "n-1"}
			},
			check: "token",
			want:  []string{"looks like an ID token", "send the access token requested for that audience"},
		},
		{
			name: "aud present, so client_id is never read",
			mutate: func(t *testing.T, f *fixture) {
				f.claims = jwt.MapClaims{"sub": "u1", "aud": "account", "azp": appClient}
			},
			check: "token",
			want:  []string{`aud is "account", so API Gateway never reads its client id`},
		},
		{
			name: "expired token",
			mutate: func(t *testing.T, f *fixture) {
				now := time.Now()
				f.claims["iat"], f.claims["exp"] = now.Add(-65*time.Minute).Unix(), now.Add(-5*time.Minute).Unix()
			},
			check: "token",
			want:  []string{"the token expired at", "ago): get a fresh one"},
		},
		{
			name:   "token issued in the future",
			mutate: func(t *testing.T, f *fixture) { f.claims["iat"] = time.Now().Add(10 * time.Minute).Unix() },
			check:  "token",
			want:   []string{"iat is", "in the future", "clock"},
		},
		{
			name:   "missing external_id claim in a Cognito access token",
			mutate: func(t *testing.T, f *fixture) { f.params["ExternalIdClaim"] = "custom:external_id" },
			check:  "token",
			want:   []string{`no "custom:external_id" claim`, "403 external_id_claim", "Cognito access tokens carry no user attributes", "set ExternalIdClaim=sub"},
		},
		{
			name: "missing external_id claim",
			mutate: func(t *testing.T, f *fixture) {
				f.params["ExternalIdClaim"] = "https://example.com/sentiance_id"
				delete(f.claims, "token_use")
			},
			check: "token",
			want:  []string{`no "https://example.com/sentiance_id" claim`, "add the claim to the token, or set ExternalIdClaim=sub"},
		},
		{
			name:   "unusable external_id claim",
			mutate: func(t *testing.T, f *fixture) { f.claims["sub"] = "user\x01" },
			check:  "token",
			want:   []string{`"sub" claim cannot be an external_id`, "control characters"},
		},
		{
			name: "token from another issuer",
			mutate: func(t *testing.T, f *fixture) {
				other := devidp.Start(t, true)
				f.token = other.Sign(t, jwt.SigningMethodRS256, "rsa-1", jwt.MapClaims{"iss": f.issuer.URL, "sub": "u", "client_id": appClient, "exp": time.Now().Add(time.Hour).Unix()}, nil)
			},
			check: "token",
			want:  []string{`signature does not verify with key "rsa-1"`},
		},
		{
			name: "token signed with ES256",
			mutate: func(t *testing.T, f *fixture) {
				f.token = f.issuer.TokenES256(t, jwt.MapClaims{"sub": "u", "client_id": appClient})
			},
			check: "token",
			want:  []string{"signed with ES256; API Gateway's JWT authorizer accepts RS256, RS384, RS512 only"},
		},
		{
			name: "user pool in another region",
			mutate: func(t *testing.T, f *fixture) {
				f.claims["iss"] = "https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC"
				f.params["JwtIssuer"] = "https://cognito-idp.eu-west-1.amazonaws.com/us-east-1_AbC"
			},
			check: "token",
			want:  []string{"the user pool's region is us-east-1, not eu-west-1", "set JwtIssuer=https://cognito-idp.us-east-1.amazonaws.com/us-east-1_AbC"},
		},
		{
			name:   "not a JWT",
			mutate: func(t *testing.T, f *fixture) { f.token = "opaque-access-token-0000" },
			check:  "token",
			want:   []string{"not a JWT", "opaque access token"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			tt.mutate(t, f)
			report, out := f.run(t)
			t.Logf("doctor's report:\n%s", out)
			if !report.Failed() {
				t.Fatalf("no check failed:\n%s", out)
			}
			want := make([]string, len(tt.want))
			for i, w := range tt.want {
				want[i] = strings.ReplaceAll(w, "{issuer}", f.issuer.URL)
			}
			line := failLine(t, report, tt.check, want[0], out)
			for _, w := range want[1:] {
				if !strings.Contains(line, w) {
					t.Errorf("the %s line lacks %q:\n%s", tt.check, w, line)
				}
			}
		})
	}
}

// loopbackOnly makes c refuse to dial anything but a loopback IP, so a test
// whose issuer names a real host (Cognito's) never reaches it, DNS included.
func loopbackOnly(c *http.Client) *http.Client {
	tr := c.Transport.(*http.Transport).Clone()
	tr.DialContext = func(ctx context.Context, network, addr string) (net.Conn, error) {
		host, _, err := net.SplitHostPort(addr)
		if ip := net.ParseIP(host); err != nil || ip == nil || !ip.IsLoopback() {
			return nil, fmt.Errorf("test: refusing to dial %s, which is not loopback", addr)
		}
		var dialer net.Dialer
		return dialer.DialContext(ctx, network, addr)
	}
	return &http.Client{Transport: tr, Timeout: 10 * time.Second}
}

// failLine returns the one FAIL line of check containing want.
func failLine(t *testing.T, r doctor.Report, check, want, out string) string {
	t.Helper()
	for _, l := range r {
		if l.Status == doctor.Fail && l.Check == check && strings.Contains(l.Text, want) {
			if strings.Contains(l.Text, "\n") {
				t.Errorf("the diagnosis spans lines: %q", l.Text)
			}
			return l.String()
		}
	}
	t.Fatalf("no FAIL %s line containing %q in:\n%s", check, want, out)
	return ""
}

// A healthy deployment passes every check, the call included, and the
// report shows the key only by length and last 4 characters.
func TestHealthy(t *testing.T) {
	f := newFixture(t)
	f.opts.Call = true
	report, out := f.run(t)
	t.Logf("doctor's report:\n%s", out)
	if report.Failed() {
		t.Fatalf("a check failed:\n%s", out)
	}
	checks := map[string]bool{}
	for _, l := range report {
		if l.Status != doctor.OK {
			t.Errorf("not ok: %s", l)
		}
		checks[l.Check] = true
	}
	for _, c := range []string{"stack", "secret", "issuer", "jwks", "token", "function", "call"} {
		if !checks[c] {
			t.Errorf("no %s line in:\n%s", c, out)
		}
	}
	for _, want := range []string{"length 38, ends in …a1b2", "answered 200: a code was issued (not shown)", "the function's own verifier accepts the token"} {
		if !strings.Contains(out, want) {
			t.Errorf("report lacks %q:\n%s", want, out)
		}
	}
}

// Before a deploy the values come from flags; the secret is skipped, saying
// why, when none is named.
func TestBeforeDeploy(t *testing.T) {
	issuer := devidp.Start(t, true)
	token := issuer.Token(t, jwt.MapClaims{"sub": "user-1", "aud": "spa-client"})
	tests := []struct {
		name     string
		settings doctor.Settings
		token    string // default token
		want     doctor.Status
		line     string
	}{
		{
			name:     "healthy",
			settings: doctor.Settings{Issuer: issuer.URL, Audiences: []string{"api", "spa-client"}, Claim: "sub", VerifyInFunction: true},
			want:     doctor.Skip,
			line:     "skip  secret   (because no secret was named",
		},
		{
			name:     "wrong audience",
			settings: doctor.Settings{Issuer: issuer.URL, Audiences: []string{"api"}, Claim: "sub", VerifyInFunction: true},
			want:     doctor.Fail,
			line:     `the token's aud is "spa-client"; the stack accepts "api": deploy with JwtAudience=spa-client`,
		},
		{
			name:     "http issuer",
			settings: doctor.Settings{Issuer: "http://127.0.0.1:1", Audiences: []string{"api"}, Claim: "sub"},
			want:     doctor.Fail,
			line:     `JwtIssuer "http://127.0.0.1:1" is not an https URL`,
		},
		{
			// Every token check is ok or skipped: the function's check is
			// skipped for the issuer's sake, not the token's.
			name:     "issuer unreachable",
			settings: doctor.Settings{Issuer: issuer.URL + "/nowhere", Audiences: []string{"spa-client"}, Claim: "sub", VerifyInFunction: true},
			token:    issuer.Token(t, jwt.MapClaims{"iss": issuer.URL + "/nowhere", "sub": "user-1", "aud": "spa-client"}),
			want:     doctor.Fail,
			line:     "skip  function (because the issuer's keys could not be loaded (see above))",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.token == "" {
				tt.token = token
			}
			report := doctor.Run(context.Background(), doctor.Options{Settings: tt.settings, Token: tt.token, HTTP: loopbackOnly(issuer.Client())})
			var out bytes.Buffer
			_, _ = report.WriteTo(&out)
			t.Logf("doctor's report:\n%s", out.String())
			if strings.Contains(out.String(), tt.token) {
				t.Error("the report holds the token")
			}
			if got := report.Failed(); got != (tt.want == doctor.Fail) {
				t.Errorf("Failed() = %v", got)
			}
			if !strings.Contains(out.String(), tt.line) {
				t.Errorf("report lacks %q", tt.line)
			}
		})
	}
}

// The optional call explains each answer by its problem type (the
// function's) or its status (the gateway's own answers).
func TestCall(t *testing.T) {
	problem := func(status int, reason, detail string) http.HandlerFunc {
		return func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "application/problem+json")
			w.WriteHeader(status)
			fmt.Fprintf(w, `{"type":"%s%s","title":"x","status":%d,"detail":%q,"request_id":"r-1"}`, authcode.ProblemTypePrefix, reason, status, detail)
		}
	}
	tests := []struct {
		name string
		api  http.HandlerFunc
		want []string
	}{
		{
			name: "gateway's authorizer refuses the token",
			api: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("WWW-Authenticate", `Bearer scope="" error="invalid_token" error_description="the token has expired"`)
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusUnauthorized)
				_, _ = w.Write([]byte(`{"message":"Unauthorized"}`))
			},
			want: []string{"POST answered 401 (API Gateway, WWW-Authenticate:", "the token has expired", "the token checks above say why"},
		},
		{
			name: "external_id claim",
			api:  problem(403, "external_id_claim", "The token's external_id claim is missing."),
			want: []string{"POST answered 403 external_id_claim", authcode.ExternalIDClaim.Spec().Fix},
		},
		{
			name: "no key yet",
			api:  problem(503, "key_unavailable", "The service is not ready."),
			want: []string{"POST answered 503 key_unavailable", authcode.KeyUnavailable.Spec().Fix},
		},
		{
			name: "key rejected",
			api:  problem(502, "key_rejected", "Sentiance refused the request."),
			want: []string{"POST answered 502 key_rejected", authcode.KeyRejected.Spec().Fix},
		},
		{
			name: "crashed function",
			api: func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", "application/json")
				w.WriteHeader(http.StatusInternalServerError)
				_, _ = w.Write([]byte(`{"message":"Internal Server Error"}`))
			},
			want: []string{"POST answered 500 (API Gateway)", "FunctionLogGroup"},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFixture(t)
			f.opts.Call = true
			gotAuth := make(chan string, 1)
			f.api = func(w http.ResponseWriter, r *http.Request) {
				gotAuth <- r.Header.Get("Authorization")
				tt.api(w, r)
			}
			report, out := f.run(t)
			t.Logf("doctor's report:\n%s", out)
			if <-gotAuth != "Bearer "+f.token {
				t.Errorf("the call did not carry the token as a bearer token")
			}
			line := failLine(t, report, "call", tt.want[0], out)
			for _, w := range tt.want[1:] {
				if !strings.Contains(line, w) {
					t.Errorf("the call line lacks %q:\n%s", w, line)
				}
			}
		})
	}
}
