package testenv_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/MicahParks/keyfunc/v3"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sentiance-authcode/backend/internal/testenv"
)

func TestIssuer(t *testing.T) {
	t.Parallel()
	iss := testenv.StartIssuer(t)

	var disc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, iss.URL+"/.well-known/openid-configuration", &disc)
	if disc.Issuer != iss.URL || disc.JWKSURI != iss.JWKSURL {
		t.Errorf("discovery = %+v", disc)
	}
	var set struct{ Keys []map[string]string }
	getJSON(t, iss.JWKSURL, &set)
	var kids []string
	for _, k := range set.Keys {
		kids = append(kids, k["kid"]+"/"+k["kty"]+"/"+k["alg"]+"/"+k["use"])
	}
	if want := []string{"rsa-1/RSA/RS256/sig", "ec-1/EC/ES256/sig"}; !slices.Equal(kids, want) {
		t.Errorf("JWKS keys = %v, want %v", kids, want)
	}

	ctx, cancel := context.WithCancel(context.Background())
	defer cancel() // ends keyfunc's refresh goroutine
	kf, err := keyfunc.NewDefaultCtx(ctx, []string{iss.JWKSURL})
	if err != nil {
		t.Fatal(err)
	}
	verify := func(tok string) error {
		_, err := jwt.Parse(tok, kf.Keyfunc,
			jwt.WithValidMethods([]string{"RS256", "ES256"}),
			jwt.WithIssuer(iss.URL),
			jwt.WithExpirationRequired())
		return err
	}
	if err := verify(iss.Token(t, jwt.MapClaims{"sub": "user-1"})); err != nil {
		t.Errorf("RS256 token: %v", err)
	}
	if err := verify(iss.TokenES256(t, jwt.MapClaims{"sub": "user-1"})); err != nil {
		t.Errorf("ES256 token: %v", err)
	}
	if err := verify(iss.Token(t, jwt.MapClaims{"exp": nil})); !errors.Is(err, jwt.ErrTokenRequiredClaimMissing) {
		t.Errorf("token without exp: %v", err)
	}
	if err := verify(iss.Token(t, jwt.MapClaims{"exp": time.Now().Add(-time.Minute).Unix()})); !errors.Is(err, jwt.ErrTokenExpired) {
		t.Errorf("expired token: %v", err)
	}
	if err := verify(iss.Sign(t, jwt.SigningMethodHS256, "rsa-1", jwt.MapClaims{"iss": iss.URL}, nil)); err == nil {
		t.Error("HS256 token signed with the RSA public key verified")
	}
	raw := fmt.Sprintf(`{"iss":%q,"sub":"a","sub":"b","exp":%d}`, iss.URL, time.Now().Add(time.Minute).Unix())
	if err := verify(iss.SignRaw(t, jwt.SigningMethodRS256, "rsa-1", raw)); err != nil {
		t.Errorf("SignRaw token: %v", err)
	}
	if err := verify(iss.Sign(t, jwt.SigningMethodNone, "", jwt.MapClaims{"iss": iss.URL}, nil)); err == nil {
		t.Error("alg none token verified")
	}
	// Same kid, different key: another issuer's token must not verify.
	other := testenv.StartIssuer(t)
	if err := verify(other.Token(t, jwt.MapClaims{"iss": iss.URL})); !errors.Is(err, jwt.ErrTokenSignatureInvalid) {
		t.Errorf("other issuer's token: %v", err)
	}

	fetches := iss.JWKSFetches()
	if kid := iss.RotateKey(t); kid != "rsa-2" {
		t.Errorf("RotateKey = %q", kid)
	}
	tok := iss.Token(t, nil)
	if h := jwtHeader(t, tok); h["kid"] != "rsa-2" {
		t.Errorf("token after rotation has kid %v", h["kid"])
	}
	if err := verify(tok); err != nil {
		t.Errorf("token after rotation: %v", err)
	}
	if n := iss.JWKSFetches(); n != fetches+1 {
		t.Errorf("JWKSFetches = %d, want %d (one refresh for the new kid)", n, fetches+1)
	}

	iss.SetDown(true)
	if code := status(t, iss.JWKSURL); code != http.StatusServiceUnavailable {
		t.Errorf("down: status %d", code)
	}
	iss.SetDown(false)
	if code := status(t, iss.JWKSURL); code != http.StatusOK {
		t.Errorf("up again: status %d", code)
	}
	iss.Close()
	if _, err := http.Get(iss.JWKSURL); err == nil {
		t.Error("closed issuer still answers")
	}
}

func TestSentiance(t *testing.T) {
	t.Parallel()
	s := testenv.StartSentiance(t, "key.one")
	post := func(key, contentType, body string) (int, http.Header, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+"/users/auth-code", strings.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		if key != "" {
			req.Header.Set("Authorization", "Bearer "+key)
		}
		if contentType != "" {
			req.Header.Set("Content-Type", contentType)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, b
	}

	code, h, body := post("key.one", "application/json", `{"external_id":"user-1"}`)
	if code != http.StatusOK || h.Get("Content-Type") != "application/json" {
		t.Fatalf("valid call: %d %s %s", code, h.Get("Content-Type"), body)
	}
	var ok map[string]string
	if err := json.Unmarshal(body, &ok); err != nil || len(ok) != 2 {
		t.Fatalf("answer %s: %v", body, err)
	}
	if !regexp.MustCompile(`^[0-9a-f]{128}$`).MatchString(ok["authentication_code"]) {
		t.Errorf("authentication_code = %q", ok["authentication_code"])
	}
	if !regexp.MustCompile(`^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$`).MatchString(ok["expires_at"]) {
		t.Errorf("expires_at = %q", ok["expires_at"])
	}
	exp, _ := time.Parse(time.RFC3339, ok["expires_at"])
	if d := time.Until(exp); d < 9*time.Minute || d > 10*time.Minute {
		t.Errorf("expires_at is %v away, want about 10m", d)
	}
	if codes := s.Codes(); !slices.Equal(codes, []string{ok["authentication_code"]}) {
		t.Errorf("Codes = %v", codes)
	}
	if c := s.Calls()[0]; c.ExternalID != "user-1" || c.Authorization != "Bearer key.one" || c.Method != "POST" || c.Path != "/users/auth-code" {
		t.Errorf("call = %+v", c)
	}

	for _, tc := range []struct {
		name, key, contentType, body string
		want                         int
	}{
		{"wrong key", "key.two", "application/json", `{"external_id":"u"}`, 401},
		{"no key", "", "application/json", `{"external_id":"u"}`, 401},
		{"not JSON type", "key.one", "text/plain", `{"external_id":"u"}`, 415},
		{"JSON with charset", "key.one", "application/json; charset=utf-8", `{"external_id":"u"}`, 200},
		{"no external_id", "key.one", "application/json", `{}`, 400},
		{"number external_id", "key.one", "application/json", `{"external_id":5}`, 400},
		{"empty external_id", "key.one", "application/json", `{"external_id":""}`, 400},
		{"not an object", "key.one", "application/json", `["u"]`, 400},
	} {
		if code, _, body := post(tc.key, tc.contentType, tc.body); code != tc.want {
			t.Errorf("%s: status %d %s, want %d", tc.name, code, body, tc.want)
		}
	}
	if _, _, body := post("key.two", "application/json", `{"external_id":"u"}`); string(body) != `{"errorCode":"unauthorized","message":"Unauthorized"}`+"\n" {
		t.Errorf("401 body = %s", body)
	}
	if code := status(t, s.URL+"/users/auth-code"); code != http.StatusMethodNotAllowed {
		t.Errorf("GET: status %d", code)
	}
	if code := status(t, s.URL+"/other"); code != http.StatusNotFound {
		t.Errorf("other path: status %d", code)
	}

	s.SetKey("key.two")
	if code, _, _ := post("key.one", "application/json", `{"external_id":"u"}`); code != 401 {
		t.Errorf("old key after SetKey: %d", code)
	}
	if code, _, _ := post("key.two", "application/json", `{"external_id":"u"}`); code != 200 {
		t.Errorf("new key after SetKey: %d", code)
	}

	s.Script(
		testenv.SentianceStep{Status: 503, Body: `{"message":"busy"}`},
		testenv.SentianceStep{Status: 429, Header: http.Header{"Retry-After": {"1"}}},
		testenv.SentianceStep{Reset: true},
		testenv.SentianceStep{Delay: 50 * time.Millisecond},
	)
	if code, _, body := post("key.two", "application/json", `{"external_id":"u"}`); code != 503 || string(body) != `{"message":"busy"}` {
		t.Errorf("step 1: %d %s", code, body)
	}
	if code, h, _ := post("key.two", "application/json", `{"external_id":"u"}`); code != 429 || h.Get("Retry-After") != "1" {
		t.Errorf("step 2: %d %v", code, h)
	}
	resp, err := http.Post(s.URL+"/users/auth-code", "application/json", strings.NewReader(`{"external_id":"u"}`))
	if err == nil {
		resp.Body.Close()
		t.Errorf("step 3 (Reset): got %s, want a client error", resp.Status)
	}
	if code, _, _ := post("key.two", "application/json", `{"external_id":"u"}`); code != 200 {
		t.Errorf("step 4 (delayed normal answer): %d", code)
	}

	// A delay ends when the client gives up, so nothing waits for it.
	s.SetDelay(time.Minute)
	client := &http.Client{Timeout: 200 * time.Millisecond}
	start := time.Now()
	if resp, err := client.Post(s.URL+"/users/auth-code", "application/json", strings.NewReader(`{}`)); err == nil {
		resp.Body.Close()
		t.Error("delayed call answered")
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("delayed call took %v", d)
	}
	if n := len(s.Calls()); n != 19 {
		t.Errorf("len(Calls) = %d, want 19: every call is recorded", n)
	}
}

// echoReply is what testdata/echo answers.
type echoReply struct {
	Event    json.RawMessage `json:"event"`
	Echo     string          `json:"echo"`
	EnvNames []string        `json:"env_names"`
	Deadline float64         `json:"deadline_seconds"`
}

func TestLogs(t *testing.T) {
	t.Parallel()
	log, buf := testenv.CaptureLogs(t)
	log.Debug("hello", "k", "v")
	var line map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &line); err != nil || line["level"] != "DEBUG" || line["k"] != "v" {
		t.Errorf("captured %q: %v", buf.String(), err)
	}

	const token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl"
	rec := &recorder{TB: t}
	testenv.AssertNoLeak(rec, "request with "+token+" done", "", "not-there", token)
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "secret #3 (JWT") || strings.Contains(rec.errs[0], token) {
		t.Errorf("AssertNoLeak reported %q", rec.errs)
	}

	if p := testenv.FreePort(t); p <= 0 || p > 65535 {
		t.Errorf("FreePort = %d", p)
	}
}

// recorder catches AssertNoLeak's errors instead of failing the test.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Helper() {}

func getJSON(t *testing.T, url string, v any) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if err := json.NewDecoder(resp.Body).Decode(v); err != nil {
		t.Fatalf("GET %s: %v", url, err)
	}
}

func status(t *testing.T, url string) int {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

func jwtHeader(t *testing.T, tok string) map[string]any {
	t.Helper()
	tk, _, err := jwt.NewParser().ParseUnverified(tok, jwt.MapClaims{})
	if err != nil {
		t.Fatal(err)
	}
	return tk.Header
}

// running lists the processes whose command line starts with path (Linux).
