package apigw_test

import (
	"encoding/json"
	"net/http"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sentiance-authcode/backend/internal/apigw"
	"github.com/sentiance-authcode/backend/internal/authcode"
	"github.com/sentiance-authcode/backend/internal/identity"
	"github.com/sentiance-authcode/backend/internal/outbound"
	"github.com/sentiance-authcode/backend/internal/secret"
	"github.com/sentiance-authcode/backend/internal/sentiance"
	"github.com/sentiance-authcode/backend/internal/testenv"
)

// The stack the handler tests (apigw_test.go, security_test.go and the fuzz
// target) run against, and the checks every answer must pass.

const (
	apiKey   = "test-user-link-key-0123456789"
	audience = "mobile-app"
	user     = "user-42"
)

// stack is the whole function as main wires it, with moto for the secret,
// an identity provider stand-in and a Sentiance stand-in.
type stack struct {
	handler   *apigw.Handler
	issuer    *testenv.Issuer
	sentiance *testenv.Sentiance
	logs      *testenv.SyncBuffer
}

type stackOptions struct {
	verify   bool   // in-function token verification
	secretID string // default "user-link"
	appID    string
}

func newStack(t testing.TB, moto *testenv.Moto, o stackOptions) *stack {
	t.Helper()
	log, buf := testenv.CaptureLogs(t)
	s := &stack{issuer: testenv.StartIssuer(t), sentiance: testenv.StartSentiance(t, apiKey), logs: buf}
	if o.secretID == "" {
		o.secretID = "user-link"
	}
	var verifier authcode.TokenVerifier
	if o.verify {
		v := identity.NewVerifier(identity.VerifierOptions{
			Issuer: s.issuer.URL, Audiences: []string{audience}, Algorithms: []string{"RS256", "ES256"},
			Client: outbound.NewClient(outbound.Options{MaxBody: 150_000}), Logger: log,
		})
		t.Cleanup(v.Close)
		verifier = v
	}
	svc := authcode.New(authcode.Options{
		Verifier:        verifier,
		Keys:            secret.New(moto.SecretsManager(t), secret.Options{SecretID: o.secretID, FetchTimeout: 2 * time.Second, Logger: log}),
		Sentiance:       sentiance.New(s.sentiance.URL, outbound.NewClient(outbound.Options{}), sentiance.Options{Backoff: 10 * time.Millisecond}),
		ExternalIDClaim: "sub",
		PlatformURL:     s.sentiance.URL,
		AppID:           o.appID,
		Logger:          log,
	})
	s.handler = apigw.NewHandler(svc, apigw.Options{Logger: log})
	return s
}

// event builds an API Gateway HTTP API event as the gateway would send it.
func event(method, path, token, body string) events.APIGatewayV2HTTPRequest {
	ev := events.APIGatewayV2HTTPRequest{
		Version:  "2.0",
		RouteKey: method + " " + path,
		RawPath:  path,
		Headers:  map[string]string{},
		Body:     body,
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RequestID: "req-1",
			HTTP:      events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path},
		},
	}
	if token != "" {
		ev.Headers["authorization"] = "Bearer " + token
	}
	if body != "" {
		ev.Headers["content-type"] = "application/json"
	}
	return ev
}

func withClaims(ev events.APIGatewayV2HTTPRequest, claims map[string]string) events.APIGatewayV2HTTPRequest {
	ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
		JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
	}
	return ev
}

// checkResponse checks the shape every answer must have.
func checkResponse(t testing.TB, resp events.APIGatewayV2HTTPResponse, reason string, s *stack) {
	t.Helper()
	if resp.Headers["Cache-Control"] != "no-store" || resp.Headers["X-Content-Type-Options"] != "nosniff" {
		t.Errorf("headers = %v, want Cache-Control: no-store and X-Content-Type-Options: nosniff", resp.Headers)
	}
	if resp.StatusCode == 200 {
		if resp.Headers["Content-Type"] != "application/json" {
			t.Errorf("Content-Type = %q", resp.Headers["Content-Type"])
		}
		var body map[string]string
		if err := json.Unmarshal([]byte(resp.Body), &body); err != nil {
			t.Fatalf("200 body %q: %v", resp.Body, err)
		}
		codes := s.sentiance.Codes()
		if len(codes) == 0 || body["authentication_code"] != codes[len(codes)-1] || body["auth_code"] != body["authentication_code"] {
			t.Errorf("body codes = %q/%q, want Sentiance's %v", body["authentication_code"], body["auth_code"], codes)
		}
		if _, err := time.Parse(time.RFC3339, body["expires_at"]); err != nil {
			t.Errorf("expires_at = %q", body["expires_at"])
		}
		if body["platform_url"] != s.sentiance.URL {
			t.Errorf("platform_url = %q, want %q", body["platform_url"], s.sentiance.URL)
		}
		if _, ok := body["app_id"]; ok {
			t.Errorf("app_id present though not configured")
		}
		if len(body) != 4 {
			t.Errorf("body has fields %v, want exactly authentication_code, auth_code, expires_at, platform_url", body)
		}
		return
	}
	if resp.Headers["Content-Type"] != "application/problem+json" {
		t.Errorf("Content-Type = %q, want application/problem+json", resp.Headers["Content-Type"])
	}
	var p apigw.Problem
	dec := json.NewDecoder(strings.NewReader(resp.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem body %q: %v", resp.Body, err)
	}
	if p.Status != resp.StatusCode || p.Title != http.StatusText(resp.StatusCode) || p.Type != apigw.ProblemType(reason) || p.RequestID != "req-1" {
		t.Errorf("problem = %+v, want status %d reason %s", p, resp.StatusCode, reason)
	}
	if !slices.Contains(details[reason], p.Detail) {
		t.Errorf("problem detail = %q, want one of the fixed texts for %s %q", p.Detail, reason, details[reason])
	}
}

// details are the only problem details each reason may carry. They are
// fixed texts, so no upstream error (the AWS SDK's, the JWKS fetch's,
// Sentiance's body), token or key can reach the client through them.
var details = map[string][]string{
	"bad_request":            {"The body is not a JSON object.", "The body is not valid base64.", "external_id must be a string."},
	"invalid_token":          {"The bearer token is missing or not valid."},
	"no_identity":            {"No verified identity came with the request."},
	"identity_conflict":      {"The verified identities disagree."},
	"external_id_claim":      {"The token's sub claim cannot identify a user."},
	"external_id_mismatch":   {"The external_id in the body is not the caller's."},
	"not_found":              {"No such route."},
	"method_not_allowed":     {"Use POST on /auth-code.", "Use GET on /auth/code."},
	"body_too_large":         {"The body is over 4 KiB."},
	"unsupported_media_type": {"Send the body as application/json."},
	"sentiance_rate_limited": {"Sentiance is rate-limiting requests; try again later."},
	"user_rate_limited":      {"Too many codes for this user; try again later."},
	"rate_limit_unavailable": {"The rate limit could not be checked."},
	"sentiance_error":        {"Sentiance could not issue a code."},
	"key_rejected":           {"Sentiance rejected this service's API key."},
	"key_unavailable":        {"The Sentiance API key could not be loaded."},
	"jwks_unavailable":       {"The identity provider's keys could not be fetched."},
	"sentiance_timeout":      {"Sentiance did not answer in time."},
}
