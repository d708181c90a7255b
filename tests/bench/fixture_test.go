package bench

import (
	"context"
	"crypto/rand"
	"crypto/rsa"
	"encoding/base64"
	"encoding/json"
	"io"
	"math/big"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sentiance-authcode/backend/devtools/devsecrets"
	"github.com/sentiance-authcode/backend/internal/app"
	"github.com/sentiance-authcode/backend/internal/authcode"
	"github.com/sentiance-authcode/backend/internal/metrics"
)

// Names shared by every figure.
const (
	apiKey     = "bench.user-link-key"
	audience   = "mobile-app"
	externalID = "a1b2c3d4-5e6f-4a0b-9c8d-7e6f5a4b3c2d"
	// inProcIssuer and inProcSentiance are never dialled: the in-process
	// fixtures answer them with RoundTrippers.
	inProcIssuer    = "https://idp.bench.invalid"
	inProcSentiance = "https://sentiance.bench.invalid"
)

// apiEvent is the event API Gateway's HTTP API sends for POST /auth-code
// after its JWT authorizer accepted token: the headers a phone's HTTPS
// client sends, the request context, and the verified claims as strings.
func apiEvent(token, issuer string) events.APIGatewayV2HTTPRequest {
	now := time.Now()
	return events.APIGatewayV2HTTPRequest{
		Version:  "2.0",
		RouteKey: "POST /auth-code",
		RawPath:  "/auth-code",
		Headers: map[string]string{
			"accept":            "*/*",
			"accept-encoding":   "gzip",
			"authorization":     "Bearer " + token,
			"content-length":    "0",
			"host":              "abc123.execute-api.eu-west-1.amazonaws.com",
			"user-agent":        "okhttp/4.12.0",
			"x-amzn-trace-id":   "Root=1-67891233-abcdef012345678912345678",
			"x-forwarded-for":   "203.0.113.7",
			"x-forwarded-port":  "443",
			"x-forwarded-proto": "https",
		},
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:     "POST /auth-code",
			AccountID:    "123456789012",
			Stage:        "$default",
			RequestID:    "Jx1bKi8VjoEEMpA=",
			APIID:        "abc123",
			DomainName:   "abc123.execute-api.eu-west-1.amazonaws.com",
			DomainPrefix: "abc123",
			Time:         now.UTC().Format("02/Jan/2006:15:04:05 +0000"),
			TimeEpoch:    now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method: "POST", Path: "/auth-code", Protocol: "HTTP/1.1", SourceIP: "203.0.113.7", UserAgent: "okhttp/4.12.0",
			},
			Authorizer: &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
				JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{
					Claims: map[string]string{
						"sub": externalID, "aud": audience, "iss": issuer,
						"iat": strconv.FormatInt(now.Unix(), 10), "exp": strconv.FormatInt(now.Add(time.Hour).Unix(), 10),
						"token_use": "id", "auth_time": strconv.FormatInt(now.Unix(), 10),
					},
				},
			},
		},
		IsBase64Encoded: false,
	}
}

// claimsFor are an ID token's claims, as a Cognito-like provider issues them.
func claimsFor(issuer string) jwt.MapClaims {
	now := time.Now()
	return jwt.MapClaims{
		"sub": externalID, "aud": audience, "iss": issuer,
		"iat": now.Unix(), "exp": now.Add(time.Hour).Unix(), "auth_time": now.Unix(),
		"token_use": "id", "email_verified": true, "event_id": "0e3f1d4e-0a6b-4f5e-9c1d-2b3a4c5d6e7f",
	}
}

// rsaIssuer is an in-process identity provider: one RSA 2048 key, its JWKS
// answered by a RoundTripper, and tokens signed with it.
type rsaIssuer struct {
	key  *rsa.PrivateKey
	kid  string
	jwks []byte
}

// issuerKey is made once per test binary: RSA key generation would
// otherwise dominate each benchmark's set-up.
var issuerKey = sync.OnceValues(func() (*rsa.PrivateKey, error) { return rsa.GenerateKey(rand.Reader, 2048) })

func newRSAIssuer(t testing.TB) *rsaIssuer {
	t.Helper()
	key, err := issuerKey()
	if err != nil {
		t.Fatal(err)
	}
	b64 := base64.RawURLEncoding.EncodeToString
	jwks, _ := json.Marshal(map[string]any{"keys": []map[string]any{{
		"kty": "RSA", "kid": "bench-1", "alg": "RS256", "use": "sig",
		"n": b64(key.N.Bytes()), "e": b64(big.NewInt(int64(key.E)).Bytes()),
	}}})
	return &rsaIssuer{key: key, kid: "bench-1", jwks: jwks}
}

func (i *rsaIssuer) token(t testing.TB) string {
	t.Helper()
	tok := jwt.NewWithClaims(jwt.SigningMethodRS256, claimsFor(inProcIssuer))
	tok.Header["kid"] = i.kid
	s, err := tok.SignedString(i.key)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// roundTripFunc answers requests in-process: no socket.
type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func jsonResponse(r *http.Request, status int, body string) *http.Response {
	return &http.Response{
		StatusCode: status, Status: strconv.Itoa(status) + " " + http.StatusText(status),
		Proto: "HTTP/1.1", ProtoMajor: 1, ProtoMinor: 1,
		Header:        http.Header{"Content-Type": {"application/json"}},
		Body:          io.NopCloser(strings.NewReader(body)),
		ContentLength: int64(len(body)), Request: r,
	}
}

// jwksClient serves the issuer's JWKS in-process.
func (i *rsaIssuer) jwksClient() *http.Client {
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Path != "/jwks.json" {
			return jsonResponse(r, http.StatusNotFound, `{}`), nil
		}
		return jsonResponse(r, http.StatusOK, string(i.jwks)), nil
	})}
}

// sentianceClient answers POST /users/auth-code in-process as Sentiance
// does: a 128-hex code that expires in ten minutes. It reads and closes the
// request body as a transport would.
func sentianceClient() *http.Client {
	code := strings.Repeat("0123456789abcdef", 8)
	body := `{"authentication_code":"` + code + `","expires_at":"` +
		time.Now().UTC().Add(10*time.Minute).Format("2006-01-02T15:04:05.000Z") + `"}`
	return &http.Client{Transport: roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.Body != nil {
			_, _ = io.Copy(io.Discard, r.Body)
			r.Body.Close()
		}
		if r.Header.Get("Authorization") != "Bearer "+apiKey {
			return jsonResponse(r, http.StatusUnauthorized, `{"message":"Unauthorized"}`), nil
		}
		return jsonResponse(r, http.StatusOK, body), nil
	})}
}

// warmHandler is the handler as app.New wires it (logger and EMF metrics
// writing JSON lines, the secret cache, the Sentiance client, the use case
// and the adapter), with every network peer answered in-process. verify
// switches in-function RS256 verification on. The handler is warmed with
// one call, so the key and the JWKS are cached.
func warmHandler(t testing.TB, iss *rsaIssuer, verify bool) (*authcode.Function, events.APIGatewayV2HTTPRequest) {
	t.Helper()
	sm := devsecrets.New()
	sm.Put("bench", `{"user_link_api_key":"`+apiKey+`"}`)
	jwks, sentiance := iss.jwksClient().Transport, sentianceClient().Transport
	peers := roundTripFunc(func(r *http.Request) (*http.Response, error) {
		if r.URL.Host == strings.TrimPrefix(inProcIssuer, "https://") {
			return jwks.RoundTrip(r)
		}
		return sentiance.RoundTrip(r)
	})
	env := map[string]string{"USER_LINK_SECRET_ID": "bench", "SENTIANCE_API_URL": inProcSentiance}
	if verify {
		env["JWT_ISSUER"], env["JWT_AUDIENCE"], env["JWKS_URL"] = inProcIssuer, audience, inProcIssuer+"/jwks.json"
	}
	cfg, err := app.Load(func(name string) string { return env[name] })
	if err != nil {
		t.Fatal(err)
	}
	fn, err := app.New(context.Background(), cfg, app.Options{
		Logger:         app.NewLogger(io.Discard, "INFO"),
		Metrics:        metrics.New(io.Discard, app.DefaultMetricsNamespace),
		SecretsManager: sm,
		Transport:      peers,
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(fn.Close)
	h := fn.Function
	ev := apiEvent(iss.token(t), inProcIssuer)
	resp, _ := h.Handle(context.Background(), ev)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("warm-up answered %d: %s", resp.StatusCode, resp.Body)
	}
	return h, ev
}
