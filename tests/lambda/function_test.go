package lambda_test

import (
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sentiance-authcode/backend/devtools/devidp"
	"github.com/sentiance-authcode/backend/devtools/devsentiance"
	"github.com/sentiance-authcode/backend/internal/authcode"
	"github.com/sentiance-authcode/backend/tests/testenv"
)

// function is the built bootstrap under aws-lambda-rie with its real peers:
// moto holding the secret, an identity provider and a Sentiance stand-in.
type function struct {
	moto      *testenv.Moto
	issuer    *devidp.Issuer
	stand     *devsentiance.Server
	lambda    *testenv.Lambda
	secretARN string
	token     string // a valid token for user
}

// startFunction starts it with in-function verification on; extra env
// entries override the defaults.
func startFunction(t *testing.T, extra map[string]string) *function {
	t.Helper()
	f := &function{
		moto:   testenv.StartMoto(t),
		issuer: devidp.Start(t, false),
		stand:  devsentiance.Start(t, apiKey),
	}
	f.secretARN = f.moto.CreateSecret(t, "sentiance/user-link", `{"user_link_api_key":"`+apiKey+`"}`)
	env := f.moto.Env()
	env["USER_LINK_SECRET_ID"] = f.secretARN
	env["SENTIANCE_API_URL"] = f.stand.URL
	env["JWT_ISSUER"] = f.issuer.URL
	env["JWT_AUDIENCE"] = audience
	for k, v := range extra {
		env[k] = v
	}
	f.lambda = testenv.StartLambda(t, testenv.BuildBootstrap(t, "./functions/authcode"), env)
	f.token = f.issuer.Token(t, jwt.MapClaims{"sub": user, "aud": audience})
	return f
}

// post is the event API Gateway sends for POST /auth-code with token after
// its authorizer passed it.
func (f *function) post(t *testing.T, token string) events.APIGatewayV2HTTPRequest {
	return asRoute(sampleEvent(t), "POST", "/auth-code", token, map[string]string{"sub": user, "aud": audience, "iss": f.issuer.URL})
}

// invoke sends ev and returns the function's answer and how long it took.
func (f *function) invoke(t *testing.T, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, time.Duration) {
	t.Helper()
	start := time.Now()
	raw := f.lambda.Invoke(t, ev)
	took := time.Since(start)
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(raw, &resp); err != nil {
		t.Fatalf("the function did not answer with a response (%v): %s", err, raw)
	}
	return resp, took
}

// reason returns the problem reason of an error answer ("" for a 200).
func reason(resp events.APIGatewayV2HTTPResponse) string {
	var p struct{ Type string }
	json.Unmarshal([]byte(resp.Body), &p)
	r, _ := strings.CutPrefix(p.Type, authcode.ProblemTypePrefix)
	return r
}
