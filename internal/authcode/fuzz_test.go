package authcode_test

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sentiance-authcode/backend/devtools/devsecrets"
	"github.com/sentiance-authcode/backend/internal/authcode"
)

// Authorization modes of FuzzHandle (authMode % 4).
const (
	authRaw        = iota // auth is the whole Authorization header value
	authValid             // a genuine RS256 token for user
	authSignedSub         // a genuine ES256 token whose sub is auth, as raw JSON
	authSignedBody        // a genuine ES256 token whose payload is auth ($ISS, $AUD, $NOW, $EXP filled in)
)

// fuzzStacks is built once per fuzz process: the fake Secrets Manager, the stand-ins and two
// stacks (with and without in-function verification), so an iteration costs
// a handler call and at most one loopback request to the Sentiance stand-in.
type fuzzStacks struct {
	verifying, gatewayOnly *stack

	mu      sync.Mutex
	valid   string // RS256 token for user
	validAt time.Time
}

// validToken returns the genuine token for user, minted again every five
// minutes so long fuzz runs never see it expire.
func (f *fuzzStacks) validToken(t testing.TB) string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if time.Since(f.validAt) > 5*time.Minute {
		f.valid = f.verifying.issuer.Token(t, jwt.MapClaims{"sub": user, "aud": audience})
		f.validAt = time.Now()
	}
	return f.valid
}

func fillPlaceholders(s string, iss string) string {
	now := time.Now()
	return strings.NewReplacer(
		"$ISS", iss, "$AUD", audience,
		"$NOW", strconv.FormatInt(now.Unix(), 10),
		"$EXP", strconv.FormatInt(now.Add(10*time.Minute).Unix(), 10),
	).Replace(s)
}

// FuzzHandle feeds the handler arbitrary events: route keys, methods, paths,
// headers, bodies (base64 or not), gateway claims, and bearer tokens that are
// either the fuzzer's bytes or genuinely signed by the identity provider over
// the fuzzer's claims. Properties, for every input:
//   - Handle neither panics nor returns an error;
//   - the answer is well formed: a status from the contract's table, its
//     security headers, the 200 shape or a problem+json with a reason the
//     table allows for that status and its fixed detail;
//   - Sentiance is called only for a 200, once, and only with the external_id
//     of a verified identity (the signed sub, or the gateway's claim when the
//     function trusts the gateway alone), equal to the body's external_id and
//     the gateway's claim when those are present;
//   - neither the answer nor the logs hold the API key or a signed token.
func FuzzHandle(f *testing.F) {
	sm := devsecrets.New()
	sm.Put("user-link", apiKey)
	fs := &fuzzStacks{
		verifying:   newStack(f, sm, stackOptions{verify: true}),
		gatewayOnly: newStack(f, sm, stackOptions{}),
	}
	// Load the JWKS and the secret once, so iterations do not pay for it.
	if resp, _ := fs.verifying.handler.Handle(context.Background(), post(fs.validToken(f))); resp.StatusCode != 200 {
		f.Fatalf("warm-up: %d %s", resp.StatusCode, resp.Body)
	}
	if resp, _ := fs.gatewayOnly.handler.Handle(context.Background(), withClaims(post(""), map[string]string{"sub": user})); resp.StatusCode != 200 {
		f.Fatalf("warm-up: %d %s", resp.StatusCode, resp.Body)
	}

	const claims = `{"iss":"$ISS","aud":"$AUD","iat":$NOW,"exp":$EXP,"sub":"user-42"}`
	for _, s := range []struct {
		routeKey, method, path string
		authMode               uint8
		auth, ctype, body      string
		b64                    bool
		claimsMode             uint8
		gwSub, hName, hValue   string
		gatewayOnly            bool
	}{
		{"POST /auth-code", "POST", "/auth-code", authValid, "", "", "", false, 0, "", "", "", false},
		{"GET /auth/code", "GET", "/auth/code", authValid, "", "", "", false, 1, user, "", "", false},
		{"POST /auth-code", "POST", "/auth-code", authValid, "", "application/json", `{"external_id":"user-42"}`, false, 0, "", "", "", false},
		{"POST /auth-code", "POST", "/auth-code", authValid, "", "application/json; charset=utf-8", base64.StdEncoding.EncodeToString([]byte(`{"external_id":"user-42"}`)), true, 1, "victim", "", "", false},
		{"POST /auth-code", "POST", "/auth-code", authValid, "", "application/json", `{"external_id":"USER-42"}`, false, 0, "", "", "", false},
		{"$default", "post", "/auth-code", authValid, "", "", "", false, 0, "", "Authorization", "Bearer x", false},
		{"ANY /{proxy+}", "DELETE", "/admin", authValid, "", "", "", false, 0, "", "", "", false},
		{"POST /auth-code", "POST", "/auth-code", authRaw, "Bearer eyJhbGciOiJub25lIn0.eyJzdWIiOiJ1c2VyLTQyIn0.", "", "", false, 0, "", "", "", false},
		{"POST /auth-code", "POST", "/auth-code", authRaw, "Basic dXNlcjpwYXNz", "text/plain", "external_id=user-42", false, 2, user, "", "", false},
		{"POST /auth-code", "POST", "/auth-code", authSignedSub, `"user-42"`, "", "", false, 0, "", "", "", false},
		{"POST /auth-code", "POST", "/auth-code", authSignedSub, `"user\ud800"`, "", "", false, 0, "", "", "", false},
		{"POST /auth-code", "POST", "/auth-code", authSignedSub, `["user-42"]`, "", "", false, 1, user, "", "", false},
		{"POST /auth-code", "POST", "/auth-code", authSignedBody, claims, "", "", false, 0, "", "", "", false},
		{"POST /auth-code", "POST", "/auth-code", authSignedBody, strings.Replace(claims, `"sub"`, `"SUB":"victim","sub"`, 1), "", "", false, 0, "", "", "", false},
		{"POST /auth-code", "POST", "/auth-code", authSignedBody, strings.Replace(claims, `"aud":"$AUD"`, `"client_id":"$AUD"`, 1), "application/json", "{}", false, 0, "", "", "", false},
		{"POST /auth-code", "POST", "/auth-code", authRaw, "", "application/json", `{"external_id":"user-42"}`, false, 1, user, "", "", true},
		{"GET /auth/code", "GET", "/auth/code", authRaw, "", "", "", false, 1, "user\x00", "", "", true},
		{"POST /auth-code", "POST", "/auth-code", authRaw, "", "application/json", strings.Repeat("a", 5000), false, 1, user, "", "", true},
	} {
		f.Add(s.routeKey, s.method, s.path, s.authMode, s.auth, s.ctype, s.body, s.b64, s.claimsMode, s.gwSub, s.hName, s.hValue, s.gatewayOnly)
	}

	f.Fuzz(func(t *testing.T, routeKey, method, path string, authMode uint8, auth, ctype, body string, isBase64 bool,
		claimsMode uint8, gwSub, hName, hValue string, gatewayOnly bool) {
		s := fs.verifying
		if gatewayOnly {
			s = fs.gatewayOnly
		}
		ev := events.APIGatewayV2HTTPRequest{
			Version: "2.0", RouteKey: routeKey, RawPath: path, Body: body, IsBase64Encoded: isBase64,
			Headers: map[string]string{},
			RequestContext: events.APIGatewayV2HTTPRequestContext{
				RequestID: "req-1",
				HTTP:      events.APIGatewayV2HTTPRequestContextHTTPDescription{Method: method, Path: path},
			},
		}

		// allowed is the external_id a verified identity vouches for, if any.
		var allowed *string
		var signed []string // genuine tokens, which must never be echoed or logged
		switch authMode % 4 {
		case authRaw:
			if auth != "" {
				ev.Headers["authorization"] = auth
			}
		case authValid:
			tok := fs.validToken(t)
			signed = append(signed, tok)
			ev.Headers["authorization"] = "Bearer " + tok
			if !gatewayOnly {
				allowed = ptr(user)
			}
		case authSignedSub, authSignedBody:
			payload := fillPlaceholders(`{"iss":"$ISS","aud":"$AUD","iat":$NOW,"exp":$EXP,"sub":`+auth+`}`, s.issuer.URL)
			if authMode%4 == authSignedBody {
				payload = fillPlaceholders(auth, s.issuer.URL)
			}
			tok := s.issuer.SignSegments(t, jwt.SigningMethodES256, `{"alg":"ES256","typ":"JWT","kid":"ec-1"}`, payload)
			signed = append(signed, tok)
			ev.Headers["authorization"] = "Bearer " + tok
			var m map[string]any
			if json.Unmarshal([]byte(payload), &m) == nil && !gatewayOnly {
				if sub, ok := m["sub"].(string); ok {
					allowed = &sub
				}
			}
		}
		var gateway map[string]string
		switch claimsMode % 3 {
		case 1:
			gateway = map[string]string{"sub": gwSub}
		case 2:
			gateway = map[string]string{"email": gwSub}
		}
		if gateway != nil {
			ev = withClaims(ev, gateway)
		}
		if gatewayOnly && claimsMode%3 == 1 {
			allowed = &gwSub
		}
		if ctype != "" {
			ev.Headers["content-type"] = ctype
		}
		if hName != "" {
			ev.Headers[hName] = hValue
		}

		s.sentiance.Reset()
		s.logs.Reset()
		resp, err := s.handler.Handle(context.Background(), ev)
		if err != nil {
			t.Fatalf("Handle returned an error: %v", err)
		}
		reason := checkFuzzResponse(t, resp)

		calls := s.sentiance.Calls()
		switch {
		case resp.StatusCode == 200 && len(calls) != 1:
			t.Fatalf("200 after %d Sentiance calls, want 1", len(calls))
		case resp.StatusCode != 200 && len(calls) != 0:
			t.Fatalf("%d (%s) after %d Sentiance calls; the stand-in answers every valid call", resp.StatusCode, reason, len(calls))
		}
		for _, c := range calls {
			if allowed == nil || c.ExternalID != *allowed {
				t.Fatalf("Sentiance was asked for %q; the verified identity allows %v", c.ExternalID, deref(allowed))
			}
			if !usableID(c.ExternalID) {
				t.Fatalf("Sentiance was asked for %q, which breaks the external_id rules", c.ExternalID)
			}
			if sub, ok := gateway["sub"]; ok && sub != c.ExternalID {
				t.Fatalf("Sentiance was asked for %q though the gateway's claim is %q", c.ExternalID, sub)
			}
			if id, ok := bodyExternalID(body, isBase64); ok && id != c.ExternalID {
				t.Fatalf("Sentiance was asked for %q though the body says %q", c.ExternalID, id)
			}
			var sent map[string]any
			if json.Unmarshal(c.Body, &sent) != nil || len(sent) != 1 {
				t.Fatalf("Sentiance got body %q, want only external_id", c.Body)
			}
		}
		if resp.StatusCode == 200 {
			var b map[string]string
			_ = json.Unmarshal([]byte(resp.Body), &b)
			if codes := s.sentiance.Codes(); len(codes) != 1 || b["authentication_code"] != codes[0] || b["auth_code"] != codes[0] {
				t.Fatalf("200 body %s does not carry the code Sentiance issued", resp.Body)
			}
		}

		leaks := append([]string{apiKey}, signed...)
		noLeak(t, resp.Body, leaks...)
		for _, v := range resp.Headers {
			noLeak(t, v, leaks...)
		}
		noLeak(t, s.logs.String(), leaks...)
	})
}

func ptr(s string) *string { return &s }

func deref(p *string) any {
	if p == nil {
		return "nothing"
	}
	return strconv.Quote(*p)
}

// usableID restates the external_id rules independently of identity.ExternalID.
func usableID(s string) bool {
	if s == "" || len(s) > 256 || !utf8.ValidString(s) || strings.ContainsRune(s, utf8.RuneError) {
		return false
	}
	return strings.IndexFunc(s, unicode.IsControl) < 0
}

// bodyExternalID is the body's external_id when it is a JSON object with a
// string one.
func bodyExternalID(body string, isBase64 bool) (string, bool) {
	raw := []byte(body)
	if isBase64 {
		var err error
		if raw, err = base64.StdEncoding.DecodeString(body); err != nil {
			return "", false
		}
	}
	var m map[string]json.RawMessage
	if json.Unmarshal(raw, &m) != nil {
		return "", false
	}
	var id string
	if v, ok := m["external_id"]; ok && json.Unmarshal(v, &id) == nil && string(v) != "null" {
		return id, true
	}
	return "", false
}

// checkFuzzResponse checks the shape of any answer and returns its reason.
func checkFuzzResponse(t *testing.T, resp events.APIGatewayV2HTTPResponse) authcode.Reason {
	t.Helper()
	if resp.StatusCode != 200 && !slices.ContainsFunc(authcode.Reasons(), func(r authcode.Reason) bool { return r.Spec().Status == resp.StatusCode }) {
		t.Fatalf("status %d is not in the contract; body %s", resp.StatusCode, resp.Body)
	}
	if resp.Headers["Cache-Control"] != "no-store" || resp.Headers["X-Content-Type-Options"] != "nosniff" {
		t.Fatalf("headers = %v, want Cache-Control: no-store and X-Content-Type-Options: nosniff", resp.Headers)
	}
	if resp.StatusCode == 200 {
		if resp.Headers["Content-Type"] != "application/json" {
			t.Fatalf("200 Content-Type = %q", resp.Headers["Content-Type"])
		}
		var b map[string]string
		dec := json.NewDecoder(strings.NewReader(resp.Body))
		if err := dec.Decode(&b); err != nil || len(b) != 4 || b["authentication_code"] == "" || b["platform_url"] == "" {
			t.Fatalf("200 body %s: %v", resp.Body, err)
		}
		return ""
	}
	if resp.Headers["Content-Type"] != "application/problem+json" {
		t.Fatalf("%d Content-Type = %q", resp.StatusCode, resp.Headers["Content-Type"])
	}
	var p authcode.Problem
	dec := json.NewDecoder(strings.NewReader(resp.Body))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&p); err != nil {
		t.Fatalf("problem body %q: %v", resp.Body, err)
	}
	reason := authcode.Reason(strings.TrimPrefix(p.Type, authcode.ProblemTypePrefix))
	if p.Status != resp.StatusCode || p.Title != http.StatusText(resp.StatusCode) || reason.Spec().Status != resp.StatusCode || !slices.Contains(authcode.Reasons(), reason) || reason == authcode.Internal || p.RequestID != "req-1" {
		t.Fatalf("problem %+v does not fit status %d", p, resp.StatusCode)
	}
	if p.Detail != reason.Spec().Detail {
		t.Fatalf("problem detail %q is not the fixed text for %s", p.Detail, reason)
	}
	switch resp.StatusCode {
	case 401:
		if resp.Headers["WWW-Authenticate"] != `Bearer error="invalid_token"` {
			t.Fatalf("401 without WWW-Authenticate: %v", resp.Headers)
		}
	case 405:
		if resp.Headers["Allow"] == "" {
			t.Fatalf("405 without Allow: %v", resp.Headers)
		}
	case 429, 503:
		if n, err := strconv.Atoi(resp.Headers["Retry-After"]); err != nil || n < 1 {
			t.Fatalf("%d with Retry-After %q", resp.StatusCode, resp.Headers["Retry-After"])
		}
	}
	return reason
}
