package doctor_test

import (
	"maps"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sentiance-authcode/backend/devtools/devidp"
	"github.com/sentiance-authcode/backend/tests/testenv"
)

const (
	fakeKey  = "FAKE0000.not-a-real-sentiance-key-e2e9"
	authCode = "c0dec0dec0dec0dec0dec0dec0dec0dec0dec0dec0dec0dec0dec0dec0dec0de"
)

// The built doctor against moto (a stack and its secret) and a TLS issuer,
// with -call to a stand-in API: exit codes, and neither the key, the token
// nor the code in anything it prints.
func TestBinaryAgainstMoto(t *testing.T) {
	moto := testenv.StartMoto(t)
	issuer := devidp.Start(t, true)
	token := issuer.Token(t, jwt.MapClaims{"sub": "user-1", "client_id": "app-client", "token_use": "access"})
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"authentication_code":"` + authCode + `","auth_code":"` + authCode + `"}`))
	}))
	t.Cleanup(api.Close)
	for stack, value := range map[string]string{"healthy": `{"user_link_api_key":"` + fakeKey + `"}`, "plain-key-too-short": "FAKE-a1b2"} {
		arn := moto.CreateSecret(t, stack, value)
		moto.CreateStack(t, stack, testenv.StandInTemplate, map[string]string{
			"JwtIssuer": issuer.URL, "JwtAudience": "app-client", "SecretArn": arn, "Url": api.URL + "/auth-code",
		})
	}
	env := moto.Env()
	env["AWS_ENDPOINT_URL_CLOUDFORMATION"] = moto.URL
	env["SSL_CERT_FILE"] = trustIssuer(t, issuer)
	env["AUTHCODE_TOKEN"] = token

	tests := []struct {
		name  string
		args  []string
		code  int
		wants []string
	}{
		{name: "healthy, with the call", args: []string{"-stack", "healthy", "-call"}, code: 0,
			wants: []string{"length 38, ends in …e2e9", "answered 200: a code was issued (not shown)"}},
		{name: "a key too short", args: []string{"-stack", "plain-key-too-short"}, code: 1,
			wants: []string{"is 9 characters long, too short for a Sentiance API key"}},
		{name: "missing stack", args: []string{"-stack", "nope", "-region", "us-east-1"}, code: 1,
			wants: []string{`FAIL  stack    no stack "nope" in region us-east-1`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runDoctor(t, maps.Clone(env), tt.args...)
			t.Logf("stdout:\n%s", stdout)
			testenv.AssertNoLeak(t, stdout+stderr, token, fakeKey, "FAKE-a1b2", authCode)
			if code != tt.code {
				t.Errorf("exit %d, want %d (stderr %q)", code, tt.code, stderr)
			}
			for _, w := range tt.wants {
				if !strings.Contains(stdout, w) {
					t.Errorf("stdout lacks %q", w)
				}
			}
		})
	}
}
