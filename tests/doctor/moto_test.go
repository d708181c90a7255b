package doctor_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sentiance-authcode/backend/devtools/doctor"
	"github.com/sentiance-authcode/backend/tests/testenv"
)

// cognitoFront serves what Cognito serves at
// https://cognito-idp.<region>.amazonaws.com/<poolId>: a discovery document
// (moto has none) and the pool's JWKS, fetched from moto. The returned
// client sends that host to it and refuses every other non-loopback host.
func cognitoFront(t *testing.T, pool *testenv.CognitoPool, issuer string) *http.Client {
	t.Helper()
	srv := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/" + pool.ID + "/.well-known/openid-configuration":
			w.Header().Set("Content-Type", "application/json")
			_ = json.NewEncoder(w).Encode(map[string]string{"issuer": issuer, "jwks_uri": issuer + "/.well-known/jwks.json"})
		case "/" + pool.ID + "/.well-known/jwks.json":
			resp, err := http.Get(pool.JWKSURL())
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadGateway)
				return
			}
			defer resp.Body.Close()
			w.Header().Set("Content-Type", "application/json")
			w.WriteHeader(resp.StatusCode)
			_, _ = io.Copy(w, resp.Body)
		default:
			http.NotFound(w, r)
		}
	}))
	t.Cleanup(srv.Close)
	cognitoHost := strings.TrimPrefix(issuer, "https://")
	cognitoHost = cognitoHost[:strings.IndexByte(cognitoHost, '/')] + ":443"
	roots := x509.NewCertPool()
	roots.AddCert(srv.Certificate())
	var dialer net.Dialer
	return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		// httptest's certificate names example.com (and loopback IPs).
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: "example.com"},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if addr == cognitoHost {
				return dialer.DialContext(ctx, network, srv.Listener.Addr().String())
			}
			host, _, _ := net.SplitHostPort(addr)
			if ip := net.ParseIP(host); ip == nil || !ip.IsLoopback() {
				return nil, &net.AddrError{Err: "test: not loopback", Addr: addr}
			}
			return dialer.DialContext(ctx, network, addr)
		},
	}}
}

// End to end against moto: a real CloudFormation stack's parameters and
// outputs, real Secrets Manager secrets, and real Cognito-shaped tokens from
// moto's cognito-idp.
func TestAgainstMoto(t *testing.T) {
	moto := testenv.StartMoto(t)
	sm := moto.SecretsManager(t)
	ctx := context.Background()

	pool := moto.CreateUserPool(t, "app-users")
	appClient := pool.CreateClient(t, "mobile-app")
	otherClient := pool.CreateClient(t, "admin-console")
	const user, password = "user-1", "Correct-Horse-9!"
	pool.CreateUser(t, user, password)
	access, id := pool.SignIn(t, appClient, user, password)
	otherAccess, otherID := pool.SignIn(t, otherClient, user, password)
	// The iss moto puts in its tokens (its region's Cognito host).
	parsed, _, err := jwt.NewParser().ParseUnverified(access, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	iss, _ := parsed.Claims.GetIssuer()
	httpClient := cognitoFront(t, pool, iss)

	goodSecret := moto.CreateSecret(t, "good", `{"user_link_api_key":"`+fakeKey+`"}`)
	wrongField := moto.CreateSecret(t, "wrong-field", `{"api_key":"`+fakeKey+`"}`)
	created, err := sm.CreateSecret(ctx, &secretsmanager.CreateSecretInput{Name: aws.String("no-value-yet")})
	if err != nil {
		t.Fatal(err)
	}
	emptySecret := aws.ToString(created.ARN)

	tests := []struct {
		name   string
		stack  string // "" creates one with secret
		secret string
		token  string
		check  string
		want   string // in the FAIL line; "" for a healthy setup
	}{
		{name: "healthy, access token", secret: goodSecret, token: access},
		{name: "healthy, ID token", secret: goodSecret, token: id},
		{name: "missing stack", stack: "no-such-stack", token: access, check: "stack", want: `no stack "no-such-stack" in region us-east-1`},
		{name: "secret without a value", secret: emptySecret, token: access, check: "secret", want: "has no value yet"},
		{name: "wrong field", secret: wrongField, token: access, check: "secret", want: `without a non-empty "user_link_api_key" field (its fields: api_key)`},
		{name: "access token from another app client", secret: goodSecret, token: otherAccess, check: "token",
			want: `Cognito access token: it has client_id "` + otherClient + `" and no aud; the stack accepts "` + appClient + `"`},
		{name: "ID token from another app client", secret: goodSecret, token: otherID, check: "token",
			want: `Cognito ID token: its aud "` + otherClient + `" is the app client it was issued to; the stack accepts "` + appClient + `"`},
	}
	for i, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			stack := tt.stack
			if stack == "" {
				stack = "auth-code-" + string(rune('a'+i))
				moto.CreateStack(t, stack, testenv.StandInTemplate, map[string]string{
					"JwtIssuer": iss, "JwtAudience": appClient,
					"SecretArn": tt.secret, "Url": "https://127.0.0.1:1/auth-code",
				})
			}
			report := doctor.Run(ctx, doctor.Options{
				Stack: stack, Region: "us-east-1", Token: tt.token,
				Stacks: moto.CloudFormation(t), Secrets: sm, HTTP: httpClient,
			})
			var out bytes.Buffer
			_, _ = report.WriteTo(&out)
			t.Logf("doctor's report:\n%s", out.String())
			testenv.AssertNoLeak(t, out.String(), tt.token, fakeKey)
			if tt.want == "" {
				if report.Failed() {
					t.Fatalf("a check failed")
				}
				if !strings.Contains(out.String(), "ok    function the function's own verifier accepts the token") {
					t.Errorf("the function's verifier did not run")
				}
				return
			}
			if !slices.ContainsFunc(report, func(l doctor.Line) bool {
				return l.Status == doctor.Fail && l.Check == tt.check && strings.Contains(l.Text, tt.want)
			}) {
				t.Errorf("no FAIL %s line containing %q", tt.check, tt.want)
			}
		})
	}
}
