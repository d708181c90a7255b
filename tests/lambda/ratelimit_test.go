package lambda_test

import (
	"strconv"
	"testing"
	"time"
)

// The per-user limit through the real bootstrap, counted in moto's DynamoDB.
func TestPerUserLimit(t *testing.T) {
	f := startFunction(t, map[string]string{"RATE_LIMIT": "2/1h", "RATE_LIMIT_TABLE": "limits"})
	f.moto.CreateRateLimitTable(t, "limits")
	ev := f.post(t, f.token)
	for i := 0; i < 2; i++ {
		if resp, _ := f.invoke(t, ev); resp.StatusCode != 200 {
			t.Fatalf("request %d within the limit: %d %s", i+1, resp.StatusCode, resp.Body)
		}
	}
	resp, _ := f.invoke(t, ev)
	secs, _ := strconv.Atoi(resp.Headers["Retry-After"])
	if resp.StatusCode != 429 || reason(resp) != "user_rate_limited" || secs < 1 || secs > 3600 {
		t.Fatalf("over the limit: %d %v %s, want 429 user_rate_limited with Retry-After to the window's end", resp.StatusCode, resp.Headers, resp.Body)
	}
	if n := len(f.stand.Calls()); n != 2 {
		t.Errorf("Sentiance calls = %d, want 2: never called over the limit", n)
	}
	if emfCount(f.lambda.Logs(), "Denied") != 1 {
		t.Errorf("want one Denied metric line (Reason user_rate_limited)")
	}

	// DynamoDB down, fail-open (the default): codes are still issued.
	f.moto.Stop(t)
	resp, took := f.invoke(t, ev)
	if resp.StatusCode != 200 {
		t.Fatalf("fail-open with DynamoDB down: %d %s", resp.StatusCode, resp.Body)
	}
	if took > 3*time.Second {
		t.Errorf("fail-open took %v: the limiter check must be bounded", took)
	}
	if emfCount(f.lambda.Logs(), "RateLimitErrors") != 1 {
		t.Errorf("want one RateLimitErrors metric line")
	}
}

func TestPerUserLimitFailClosed(t *testing.T) {
	f := startFunction(t, map[string]string{"RATE_LIMIT": "5/1m", "RATE_LIMIT_TABLE": "limits", "RATE_LIMIT_FAIL_MODE": "closed"})
	f.moto.CreateRateLimitTable(t, "limits")
	ev := f.post(t, f.token)
	if resp, _ := f.invoke(t, ev); resp.StatusCode != 200 {
		t.Fatalf("warm-up: %d %s", resp.StatusCode, resp.Body)
	}
	f.moto.Stop(t)
	resp, _ := f.invoke(t, ev)
	if resp.StatusCode != 503 || reason(resp) != "rate_limit_unavailable" || resp.Headers["Retry-After"] == "" {
		t.Fatalf("fail-closed with DynamoDB down: %d %v %s, want 503 rate_limit_unavailable", resp.StatusCode, resp.Headers, resp.Body)
	}
	if n := len(f.stand.Calls()); n != 1 {
		t.Errorf("Sentiance calls = %d, want 1 (none once the limit cannot be checked)", n)
	}
}
