package lambda_test

// The key's expiry (issue 13) through the real bootstrap under
// aws-lambda-rie, the secret in moto: the KeyDaysToExpiry and
// KeyExpiryWatched metrics, the log levels, and that codes flow whatever
// the expiry says (Sentiance decides whether a key works).

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sentiance-authcode/backend/internal/metrics"
	"github.com/sentiance-authcode/backend/tests/testenv"
)

// logRecord is one of the function's own JSON log lines.
type logRecord struct {
	Level, Msg string
	DaysLeft   *float64 `json:"days_left"`
}

// logRecords returns the function's log lines at level that mention msg.
func logRecords(logs, level, msg string) []logRecord {
	var out []logRecord
	for _, line := range strings.Split(logs, "\n") {
		var r logRecord
		if json.Unmarshal([]byte(line), &r) == nil && r.Level == level && strings.Contains(r.Msg, msg) {
			out = append(out, r)
		}
	}
	return out
}

// emfValues returns the values of metric in the EMF lines of logs, in the
// default namespace (emfCount counts the same lines).
func emfValues(logs, metric string) []float64 {
	var out []float64
	for _, line := range strings.Split(logs, "\n") {
		if emfCount(line, metric) == 0 {
			continue
		}
		var values map[string]any
		json.Unmarshal([]byte(line), &values)
		if v, ok := values[metric].(float64); ok {
			out = append(out, v)
		}
	}
	return out
}

// secretWithExpiry is the secret as the PutKeyCommand output writes it.
func secretWithExpiry(key, expiresAt string) string {
	return `{"user_link_api_key":"` + key + `","expires_at":"` + expiresAt + `"}`
}

func TestKeyExpiryUnderRIE(t *testing.T) {
	day := 24 * time.Hour
	tests := []struct {
		name   string
		secret string
		// KeyDaysToExpiry of the one load; none when both are 0.
		minDays, maxDays float64
		metric           bool
		level, msg       string // the one expiry line logged
	}{
		{name: "10 days ahead", secret: secretWithExpiry(apiKey, time.Now().Add(10*day).UTC().Format(time.RFC3339)),
			metric: true, minDays: 9, maxDays: 10, level: "WARN", msg: "expires soon"},
		{name: "90 days ahead", secret: secretWithExpiry(apiKey, time.Now().Add(90*day).UTC().Format(time.DateOnly)),
			metric: true, minDays: 89, maxDays: 90},
		{name: "expired", secret: secretWithExpiry(apiKey, time.Now().Add(-3*day).UTC().Format(time.DateOnly)),
			metric: true, minDays: -4, maxDays: -3, level: "ERROR", msg: "has expired"},
		{name: "no expires_at", secret: `{"user_link_api_key":"` + apiKey + `"}`,
			level: "INFO", msg: "no expires_at"},
		{name: "invalid date", secret: secretWithExpiry(apiKey, "in about a year"),
			level: "WARN", msg: "expires_at cannot be read"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// A 1 ms TTL: every request loads the secret again, so "once"
			// and "on every load" are told apart.
			f := startFunction(t, map[string]string{"SECRET_CACHE_TTL": "1ms"})
			f.moto.PutSecretValue(t, f.secretARN, tt.secret) // before the first invoke starts the bootstrap
			const requests = 3
			for i := range requests {
				if resp, _ := f.invoke(t, f.post(t, f.token)); resp.StatusCode != 200 {
					t.Fatalf("request %d: %d %s; codes must flow whatever the expiry says", i, resp.StatusCode, resp.Body)
				}
			}
			if n := len(f.stand.Calls()); n != requests {
				t.Errorf("Sentiance calls = %d, want %d", n, requests)
			}
			loads := f.moto.Calls(getSecretValue)
			if loads < requests {
				t.Fatalf("GetSecretValue calls = %d, want one per request (TTL 1 ms)", loads)
			}
			logs := f.lambda.Logs()
			days := emfValues(logs, "KeyDaysToExpiry")
			switch {
			case !tt.metric && len(days) != 0:
				t.Errorf("KeyDaysToExpiry = %v, want none", days)
			case tt.metric && len(days) != loads:
				t.Errorf("KeyDaysToExpiry lines = %d, want one per load (%d)", len(days), loads)
			}
			for _, d := range days {
				if d < tt.minDays || d > tt.maxDays {
					t.Errorf("KeyDaysToExpiry = %v, want %v to %v", d, tt.minDays, tt.maxDays)
				}
			}
			// Every load says whether the expiry is watched, 0 included:
			// KeyExpiryNotWatchedAlarm reads that value.
			watched := emfValues(logs, metrics.KeyExpiryWatched)
			want := 0.0
			if tt.metric {
				want = 1
			}
			if len(watched) != loads || slices.ContainsFunc(watched, func(v float64) bool { return v != want }) {
				t.Errorf("KeyExpiryWatched = %v, want %v on each of %d loads", watched, want, loads)
			}
			for _, level := range []string{"DEBUG", "INFO", "WARN", "ERROR"} {
				got := len(logRecords(logs, level, "expir"))
				want := 0
				switch {
				case level != tt.level:
				case tt.metric:
					want = loads // a warning or error on every load
				default:
					want = 1 // a condition that is not watched is said once
				}
				if got != want {
					t.Errorf("%s lines about the expiry = %d, want %d", level, got, want)
				}
			}
			if tt.level != "" && len(logRecords(logs, tt.level, tt.msg)) == 0 {
				t.Errorf("no %s line saying %q", tt.level, tt.msg)
			}
			if emfCount(logs, "SecretFetches") != loads {
				t.Errorf("SecretFetches lines = %d, want one per load", emfCount(logs, "SecretFetches"))
			}
			testenv.AssertNoLeak(t, logs, apiKey, f.token)
		})
	}
}

// A rotation: the new key and its expires_at are put into the secret while
// Sentiance accepts both keys. Every instance moves to the new key within
// SECRET_CACHE_TTL, with no failed request and no rejection on the way.
func TestKeyExpiryRotationUnderRIE(t *testing.T) {
	const ttl = time.Second
	f := startFunction(t, map[string]string{"SECRET_CACHE_TTL": ttl.String()})
	oldExpiry := time.Now().Add(10 * 24 * time.Hour).UTC().Format(time.RFC3339)
	f.moto.PutSecretValue(t, f.secretARN, secretWithExpiry(apiKey, oldExpiry))
	ev := f.post(t, f.token)
	if resp, _ := f.invoke(t, ev); resp.StatusCode != 200 {
		t.Fatalf("warm-up: %d %s", resp.StatusCode, resp.Body)
	}
	if days := emfValues(f.lambda.Logs(), "KeyDaysToExpiry"); len(days) != 1 || days[0] > 10 {
		t.Fatalf("KeyDaysToExpiry before the rotation = %v, want one value of 9 or 10", days)
	}

	const rotated = "rotated.user-link-key-with-expiry"
	f.stand.SetKey(apiKey, rotated) // both active, as in Insights Control Tower
	newExpiry := time.Now().Add(365 * 24 * time.Hour).UTC().Format(time.DateOnly)
	f.moto.PutSecretValue(t, f.secretARN, secretWithExpiry(rotated, newExpiry))
	rotatedAt := time.Now()

	// Requests keep coming; poll (bounded) until one uses the new key.
	deadline := rotatedAt.Add(ttl + 10*time.Second)
	for {
		if resp, _ := f.invoke(t, ev); resp.StatusCode != 200 {
			t.Fatalf("during the rotation: %d %s", resp.StatusCode, resp.Body)
		}
		calls := f.stand.Calls()
		if calls[len(calls)-1].Authorization == "Bearer "+rotated {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the new key was not used %v after the rotation (TTL %v)", time.Since(rotatedAt), ttl)
		}
		time.Sleep(50 * time.Millisecond)
	}
	logs := f.lambda.Logs()
	days := emfValues(logs, "KeyDaysToExpiry")
	if last := days[len(days)-1]; last < 364 || last > 365 {
		t.Errorf("KeyDaysToExpiry after the rotation = %v, want 364 or 365", last)
	}
	if n := emfCount(logs, "KeyRejected"); n != 0 {
		t.Errorf("KeyRejected lines = %d: the old key was valid throughout", n)
	}

	// Old key revoked afterwards: nothing changes for the function.
	f.stand.SetKey(rotated)
	if resp, _ := f.invoke(t, ev); resp.StatusCode != 200 {
		t.Fatalf("after revoking the old key: %d %s", resp.StatusCode, resp.Body)
	}
	testenv.AssertNoLeak(t, f.lambda.Logs(), apiKey, rotated, f.token)
}
