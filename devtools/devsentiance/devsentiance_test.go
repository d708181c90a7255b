package devsentiance_test

import (
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sentiance-authcode/backend/devtools/devsentiance"
	"github.com/sentiance-authcode/backend/internal/sentiance"
)

func TestSentiance(t *testing.T) {
	t.Parallel()
	s := devsentiance.Start(t, "key.one")
	post := func(key, contentType, body string) (int, http.Header, []byte) {
		t.Helper()
		req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, s.URL+sentiance.Path, strings.NewReader(body))
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

	before := time.Now()
	code, h, body := post("key.one", "application/json", `{"external_id":"user-1"}`)
	after := time.Now()
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
	// Ten minutes after the call, to the millisecond.
	exp, _ := time.Parse(time.RFC3339, ok["expires_at"])
	if exp.Before(before.Add(devsentiance.CodeLifetime).Truncate(time.Millisecond)) || exp.After(after.Add(devsentiance.CodeLifetime)) {
		t.Errorf("expires_at = %s, want %v after the call", exp, devsentiance.CodeLifetime)
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
	if code := status(t, s.URL+sentiance.Path); code != http.StatusMethodNotAllowed {
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
		devsentiance.Step{Status: 503, Body: `{"message":"busy"}`},
		devsentiance.Step{Status: 429, Header: http.Header{"Retry-After": {"1"}}},
		devsentiance.Step{Reset: true},
		devsentiance.Step{Delay: 50 * time.Millisecond},
	)
	if code, _, body := post("key.two", "application/json", `{"external_id":"u"}`); code != 503 || string(body) != `{"message":"busy"}` {
		t.Errorf("step 1: %d %s", code, body)
	}
	if code, h, _ := post("key.two", "application/json", `{"external_id":"u"}`); code != 429 || h.Get("Retry-After") != "1" {
		t.Errorf("step 2: %d %v", code, h)
	}
	resp, err := http.Post(s.URL+sentiance.Path, "application/json", strings.NewReader(`{"external_id":"u"}`))
	if err == nil {
		resp.Body.Close()
		t.Errorf("step 3 (Reset): got %s, want a client error", resp.Status)
	}
	if code, _, _ := post("key.two", "application/json", `{"external_id":"u"}`); code != 200 {
		t.Errorf("step 4 (delayed normal answer): %d", code)
	}

	// A delay ends when the client gives up, so nothing waits for it.
	s.Script(devsentiance.Step{Delay: time.Minute})
	client := &http.Client{Timeout: 200 * time.Millisecond}
	start := time.Now()
	if resp, err := client.Post(s.URL+sentiance.Path, "application/json", strings.NewReader(`{}`)); err == nil {
		resp.Body.Close()
		t.Error("delayed call answered")
	}
	if d := time.Since(start); d >= time.Minute {
		t.Errorf("delayed call took %v: it waited for the delay", d)
	}
	if n := len(s.Calls()); n != 19 {
		t.Errorf("len(Calls) = %d, want 19: every call is recorded", n)
	}
}

// Reset forgets the calls and codes, not the script.
func TestReset(t *testing.T) {
	t.Parallel()
	{
		s := devsentiance.Start(t, "key.one")
		s.Script(devsentiance.Step{Status: 500})
		resp, err := http.Post(s.URL+sentiance.Path, "application/json", strings.NewReader(`{"external_id":"a"}`))
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		s.Reset()
		if len(s.Calls()) != 0 || len(s.Codes()) != 0 {
			t.Errorf("after Reset: %d calls, %d codes", len(s.Calls()), len(s.Codes()))
		}
	}
}

func TestCodes(t *testing.T) {
	if c := devsentiance.NewCode(); !regexp.MustCompile(`^[0-9a-f]{128}$`).MatchString(c) || c == devsentiance.NewCode() {
		t.Errorf("NewCode = %q", c)
	}
	at := time.Date(2021, 2, 3, 14, 22, 3, 76_000_000, time.FixedZone("CET", 3600))
	if got := devsentiance.ExpiresAt(at); got != "2021-02-03T13:32:03.076Z" {
		t.Errorf("ExpiresAt = %s", got)
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

// During a rotation both keys are active; an empty key accepts nothing.
func TestKeys(t *testing.T) {
	t.Parallel()
	s := devsentiance.Start(t, "")
	post := func(key string) int {
		req, _ := http.NewRequest(http.MethodPost, s.URL+sentiance.Path, strings.NewReader(`{"external_id":"u"}`))
		req.Header.Set("Authorization", "Bearer "+key)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp.StatusCode
	}
	if code := post(""); code != http.StatusUnauthorized {
		t.Errorf("empty key: %d", code)
	}
	s.SetKey("k.2", "k.3")
	for _, key := range []string{"k.2", "k.3"} {
		if code := post(key); code != http.StatusOK {
			t.Errorf("%s with two keys active: %d", key, code)
		}
	}
}
