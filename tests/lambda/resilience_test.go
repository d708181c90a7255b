package lambda_test

// Faults injected into real processes around the real bootstrap: moto_server
// stopped and restarted, the secret changed in moto, the identity provider
// taken down, Sentiance slow, failing or garbled. Each test bounds its own
// time and sends traffic only to loopback.

import (
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sentiance-authcode/backend/devtools/devsentiance"
	"github.com/sentiance-authcode/backend/tests/testenv"
)

const getSecretValue = "secretsmanager.GetSecretValue"

func TestSecretsManagerDownWithKeyCached(t *testing.T) {
	f := startFunction(t, map[string]string{"SECRET_CACHE_TTL": "1s"})
	ev := f.post(t, f.token)
	if resp, _ := f.invoke(t, ev); resp.StatusCode != 200 {
		t.Fatalf("warm-up: %d %s", resp.StatusCode, resp.Body)
	}
	f.moto.Stop(t)
	// Until the TTL has passed the key is served from the cache; the first
	// request after it tries Secrets Manager.
	before := f.moto.Calls(getSecretValue)
	var took time.Duration
	testenv.Poll(t, "a request tries to refresh the key", 30*time.Second, func() bool {
		var resp events.APIGatewayV2HTTPResponse
		if resp, took = f.invoke(t, ev); resp.StatusCode != 200 {
			t.Fatalf("with Secrets Manager down and a key cached: %d %s", resp.StatusCode, resp.Body)
		}
		return f.moto.Calls(getSecretValue) > before
	})
	tried := f.moto.Calls(getSecretValue)
	for i := 0; i < 5; i++ {
		if resp, _ := f.invoke(t, ev); resp.StatusCode != 200 {
			t.Fatalf("request %d while down: %d %s", i, resp.StatusCode, resp.Body)
		}
	}
	if n := f.moto.Calls(getSecretValue); n != tried {
		t.Errorf("GetSecretValue attempts went from %d to %d: the refresh should back off", tried, n)
	}
	logs := f.lambda.Logs()
	if !strings.Contains(logs, "serving the cached key") || emfCount(logs, "SecretFetches") < 2 {
		t.Errorf("want a warning and a stale SecretFetches metric; output:\n%s", logs)
	}
	t.Logf("first request after the TTL with Secrets Manager down took %v", took)
}

func TestSecretsManagerDownAtColdStart(t *testing.T) {
	// By name: moto restarts empty, and the secret made again gets a new ARN.
	f := startFunction(t, map[string]string{"AWS_LAMBDA_FUNCTION_TIMEOUT": "3", "USER_LINK_SECRET_ID": "sentiance/user-link"})
	f.moto.Stop(t)
	resp, took := f.invoke(t, f.post(t, f.token))
	if resp.StatusCode != 503 || reason(resp) != "key_unavailable" || resp.Headers["Retry-After"] == "" {
		t.Fatalf("cold start with Secrets Manager down: %d %v %s, want 503 key_unavailable with Retry-After", resp.StatusCode, resp.Headers, resp.Body)
	}
	if took > 3*time.Second {
		t.Errorf("took %v, beyond the 3 s invocation deadline", took)
	}
	if len(f.stand.Calls()) != 0 {
		t.Errorf("Sentiance was called without a key")
	}

	// Back up, with the secret put back: the next request recovers.
	f.moto.Start(t)
	f.moto.CreateSecret(t, "sentiance/user-link", `{"user_link_api_key":"`+apiKey+`"}`)
	if resp, _ := f.invoke(t, f.post(t, f.token)); resp.StatusCode != 200 {
		t.Fatalf("after Secrets Manager came back: %d %s", resp.StatusCode, resp.Body)
	}
}

func TestKeyRotatedUnderRIE(t *testing.T) {
	f := startFunction(t, nil)
	ev := f.post(t, f.token)
	if resp, _ := f.invoke(t, ev); resp.StatusCode != 200 {
		t.Fatalf("warm-up: %d %s", resp.StatusCode, resp.Body)
	}
	const rotated = "rotated-user-link-key-under-rie"
	f.moto.PutSecretValue(t, f.secretARN, `{"user_link_api_key":"`+rotated+`"}`)
	f.stand.SetKey(rotated)
	fetches, calls := f.moto.Calls(getSecretValue), len(f.stand.Calls())

	if resp, _ := f.invoke(t, ev); resp.StatusCode != 200 {
		t.Fatalf("after rotation: %d %s", resp.StatusCode, resp.Body)
	}
	if n := f.moto.Calls(getSecretValue) - fetches; n != 1 {
		t.Errorf("GetSecretValue calls for the rotation = %d, want exactly 1", n)
	}
	if n := len(f.stand.Calls()) - calls; n != 2 {
		t.Errorf("Sentiance calls for the rotation = %d, want 2 (rejected, then retried)", n)
	}

	// Sentiance now rejects the new key too (revoked): 502, the alarm's
	// metric, and no storm of refreshes however many requests come.
	f.stand.SetKey("a-key-nobody-has")
	fetches = f.moto.Calls(getSecretValue)
	for i := 0; i < 5; i++ {
		resp, _ := f.invoke(t, ev)
		if resp.StatusCode != 502 || reason(resp) != "key_rejected" {
			t.Fatalf("with the key revoked: %d %s, want 502 key_rejected", resp.StatusCode, resp.Body)
		}
	}
	if n := f.moto.Calls(getSecretValue) - fetches; n > 1 {
		t.Errorf("GetSecretValue calls during 5 rejections = %d, want at most 1 (rate-limited)", n)
	}
	if n := emfCount(f.lambda.Logs(), "KeyRejected"); n < 5 {
		t.Errorf("KeyRejected metric lines = %d, want one per rejection", n)
	}
}

func TestIdentityProviderFaults(t *testing.T) {
	f := startFunction(t, nil)
	f.issuer.SetDown(true)
	resp, _ := f.invoke(t, f.post(t, f.token))
	if resp.StatusCode != 503 || reason(resp) != "jwks_unavailable" {
		t.Fatalf("JWKS down at cold start: %d %s, want 503 jwks_unavailable (the token may be fine)", resp.StatusCode, resp.Body)
	}
	f.issuer.SetDown(false)
	// The verifier tries a JWKS it never loaded again after a short pause,
	// answering 503 until then.
	testenv.Poll(t, "a code once the provider is back", 30*time.Second, func() bool {
		resp, _ := f.invoke(t, f.post(t, f.token))
		if resp.StatusCode != 200 && reason(resp) != "jwks_unavailable" {
			t.Fatalf("while the provider comes back: %d %s", resp.StatusCode, resp.Body)
		}
		return resp.StatusCode == 200
	})

	// The provider rotates its key: the new kid is fetched on demand, once.
	fetches := f.issuer.JWKSFetches()
	f.issuer.RotateKey(t)
	rotated := f.issuer.Token(t, jwt.MapClaims{"sub": user, "aud": audience})
	for i := 0; i < 3; i++ {
		if resp, _ := f.invoke(t, f.post(t, rotated)); resp.StatusCode != 200 {
			t.Fatalf("token with the new kid: %d %s", resp.StatusCode, resp.Body)
		}
	}
	if n := f.issuer.JWKSFetches() - fetches; n != 1 {
		t.Errorf("JWKS fetches after rotation = %d, want 1", n)
	}

	// The provider goes away: the keys already fetched keep working.
	f.issuer.Close()
	if resp, _ := f.invoke(t, f.post(t, rotated)); resp.StatusCode != 200 {
		t.Fatalf("with the provider gone: %d %s", resp.StatusCode, resp.Body)
	}
}

func TestSentianceFaults(t *testing.T) {
	// A 3 s invocation deadline: the function keeps 500 ms to answer in.
	f := startFunction(t, map[string]string{"AWS_LAMBDA_FUNCTION_TIMEOUT": "3"})
	hex := strings.Repeat("ab", 64)
	tests := []struct {
		name       string
		steps      []devsentiance.Step
		status     int
		reason     string
		calls      int
		retryAfter string
	}{
		{name: "slow beyond the deadline", steps: []devsentiance.Step{{Delay: 10 * time.Second}}, status: 504, reason: "sentiance_timeout", calls: 1},
		{name: "503 twice, then a code", steps: []devsentiance.Step{{Status: 503}, {Status: 503}}, status: 200, calls: 3},
		{name: "connection reset, then a code", steps: []devsentiance.Step{{Reset: true}}, status: 200, calls: 2},
		{name: "500, 502, 504", steps: []devsentiance.Step{{Status: 500}, {Status: 502}, {Status: 504}}, status: 502, reason: "sentiance_error", calls: 3},
		{name: "429 is passed on at once", steps: []devsentiance.Step{{Status: 429, Header: http.Header{"Retry-After": {"9"}}}}, status: 429, reason: "sentiance_rate_limited", calls: 1, retryAfter: "9"},
		{name: "truncated 200", steps: []devsentiance.Step{{Status: 200, Body: `{"authentication_code":"` + hex[:40], Header: http.Header{"Content-Length": {"400"}}}}, status: 502, reason: "sentiance_error", calls: 1},
		{name: "non-JSON 200", steps: []devsentiance.Step{{Status: 200, Body: "<html>maintenance</html>"}}, status: 502, reason: "sentiance_error", calls: 1},
		{name: "huge 200", steps: []devsentiance.Step{{Status: 200, Body: `{"authentication_code":"` + hex + `","pad":"` + strings.Repeat("x", 1<<20) + `"}`}}, status: 502, reason: "sentiance_error", calls: 1},
		{name: "200 without a code", steps: []devsentiance.Step{{Status: 200, Body: `{"expires_at":"2030-01-01T00:00:00Z"}`}}, status: 502, reason: "sentiance_error", calls: 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f.stand.Script(tt.steps...)
			before := len(f.stand.Calls())
			resp, took := f.invoke(t, f.post(t, f.token))
			if resp.StatusCode != tt.status || reason(resp) != tt.reason {
				t.Fatalf("got %d %s, want %d %s", resp.StatusCode, resp.Body, tt.status, tt.reason)
			}
			if took > 3*time.Second {
				t.Errorf("took %v: past the invocation deadline", took)
			}
			if n := len(f.stand.Calls()) - before; n != tt.calls {
				t.Errorf("Sentiance calls = %d, want %d", n, tt.calls)
			}
			if tt.retryAfter != "" && resp.Headers["Retry-After"] != tt.retryAfter {
				t.Errorf("Retry-After = %q, want %q", resp.Headers["Retry-After"], tt.retryAfter)
			}
		})
	}
	if strings.Contains(f.lambda.Logs(), "Task timed out") {
		t.Errorf("the Lambda itself timed out; the function must answer 504 first")
	}
}
