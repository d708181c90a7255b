package secret_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sentiance-authcode/backend/devtools/devsecrets"
	"github.com/sentiance-authcode/backend/internal/metrics"
	"github.com/sentiance-authcode/backend/internal/secret"
)

// recorder reads back the metric lines the cache writes.
type recorder struct{ bytes.Buffer }

func (r *recorder) emf() *metrics.EMF { return metrics.New(r, "Test") }

// read returns the SecretFetches outcomes and KeyDaysToExpiry values
// written since the last Reset.
func (r *recorder) read(t *testing.T) (outcomes []metrics.FetchOutcome, days []float64) {
	t.Helper()
	for _, line := range strings.Split(strings.TrimSpace(r.String()), "\n") {
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("metric line is not JSON: %s", line)
		}
		if outcome, ok := doc["Outcome"].(string); ok && doc[metrics.SecretFetches] != nil {
			outcomes = append(outcomes, metrics.FetchOutcome(outcome))
		}
		if d, ok := doc[metrics.KeyDaysToExpiry].(float64); ok {
			days = append(days, d)
		}
	}
	return outcomes, days
}

// watched returns the KeyExpiryWatched values written since the last Reset.
func (r *recorder) watched(t *testing.T) []float64 {
	t.Helper()
	var out []float64
	for _, line := range strings.Split(strings.TrimSpace(r.String()), "\n") {
		var doc map[string]any
		if err := json.Unmarshal([]byte(line), &doc); err != nil {
			t.Fatalf("metric line is not JSON: %s", line)
		}
		if v, ok := doc[metrics.KeyExpiryWatched].(float64); ok {
			out = append(out, v)
		}
	}
	return out
}

// captureLogs is a JSON logger at debug level writing into the buffer.
func captureLogs() (*slog.Logger, *bytes.Buffer) {
	var logs bytes.Buffer
	return slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug})), &logs
}

// logLines returns the captured JSON log lines as "LEVEL msg".
func logLines(t *testing.T, logs *bytes.Buffer) []string {
	t.Helper()
	var out []string
	for _, line := range strings.Split(strings.TrimSpace(logs.String()), "\n") {
		if line == "" {
			continue
		}
		var rec struct{ Level, Msg string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatalf("log line is not JSON: %s", line)
		}
		out = append(out, rec.Level+" "+rec.Msg)
	}
	return out
}

// levels returns the level of each captured line.
func levels(lines []string) []string {
	var out []string
	for _, l := range lines {
		out = append(out, strings.SplitN(l, " ", 2)[0])
	}
	return out
}

const testKey = "abcd1234.expiry-test-user-link-key"

// now is the tests' fixed clock: noon UTC, so a date-only expiry (midnight)
// falls half a day away from a whole number of days.
var now = time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)

func TestKeyExpiry(t *testing.T) {
	secretWith := func(expiry string) string {
		return `{"user_link_api_key":"` + testKey + `","expires_at":` + expiry + `}`
	}
	tests := []struct {
		name     string
		value    string
		days     []float64 // KeyDaysToExpiry values, nil for none
		outcome  metrics.FetchOutcome
		levels   []string // levels of the lines logged
		expires  time.Time
		watching bool
	}{
		{name: "date 10 days ahead", value: secretWith(`"2026-12-05"`), days: []float64{9}, outcome: metrics.FetchOK,
			levels: []string{"WARN"}, expires: time.Date(2026, 12, 5, 0, 0, 0, 0, time.UTC), watching: true},
		{name: "date-time 90 days ahead", value: secretWith(`"2027-02-23T12:00:00Z"`), days: []float64{90}, outcome: metrics.FetchOK,
			levels: []string{"DEBUG"}, expires: time.Date(2027, 2, 23, 12, 0, 0, 0, time.UTC), watching: true},
		{name: "exactly 30 days left is not yet a warning", value: secretWith(`"2026-12-25T12:00:00Z"`), days: []float64{30}, outcome: metrics.FetchOK,
			levels: []string{"DEBUG"}, expires: time.Date(2026, 12, 25, 12, 0, 0, 0, time.UTC), watching: true},
		{name: "a minute under 30 days", value: secretWith(`"2026-12-25T11:59:00Z"`), days: []float64{29}, outcome: metrics.FetchOK,
			levels: []string{"WARN"}, expires: time.Date(2026, 12, 25, 11, 59, 0, 0, time.UTC), watching: true},
		{name: "date-time with an offset", value: secretWith(`"2026-12-05T14:00:00+02:00"`), days: []float64{10}, outcome: metrics.FetchOK,
			levels: []string{"WARN"}, expires: time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC), watching: true},
		{name: "last day", value: secretWith(`"2026-11-25T23:00:00Z"`), days: []float64{0}, outcome: metrics.FetchOK,
			levels: []string{"WARN"}, expires: time.Date(2026, 11, 25, 23, 0, 0, 0, time.UTC), watching: true},
		{name: "expired three and a half days ago", value: secretWith(`"2026-11-22"`), days: []float64{-4}, outcome: metrics.FetchOK,
			levels: []string{"ERROR"}, expires: time.Date(2026, 11, 22, 0, 0, 0, 0, time.UTC), watching: true},
		{name: "no expires_at", value: `{"user_link_api_key":"` + testKey + `"}`, outcome: metrics.FetchOK, levels: []string{"INFO"}},
		{name: "null expires_at", value: secretWith(`null`), outcome: metrics.FetchOK, levels: []string{"INFO"}},
		{name: "plain string secret", value: testKey, outcome: metrics.FetchOK, levels: []string{"INFO"}},
		{name: "not a date", value: secretWith(`"next spring"`), outcome: metrics.FetchOK, levels: []string{"WARN"}},
		{name: "US date", value: secretWith(`"12/05/2026"`), outcome: metrics.FetchOK, levels: []string{"WARN"}},
		{name: "empty string", value: secretWith(`""`), outcome: metrics.FetchOK, levels: []string{"WARN"}},
		{name: "a number", value: secretWith(`20261205`), outcome: metrics.FetchOK, levels: []string{"WARN"}},
		{name: "the key pasted into expires_at", value: secretWith(`"` + testKey + `"`), outcome: metrics.FetchOK, levels: []string{"WARN"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			sm := devsecrets.New()
			sm.Put("user-link", tt.value)
			log, logs := captureLogs()
			rec := &recorder{}
			c := newCache(sm, "user-link", secret.Options{Logger: log, Metrics: rec.emf(), Now: func() time.Time { return now }})

			key, err := c.Key(context.Background())
			if err != nil || key != testKey {
				t.Fatalf("Key() = %q, %v; the key must load whatever expires_at holds", key, err)
			}
			outcomes, days := rec.read(t)
			if !slices.Equal(days, tt.days) {
				t.Errorf("KeyDaysToExpiry = %v, want %v", days, tt.days)
			}
			if want := []metrics.FetchOutcome{tt.outcome}; !slices.Equal(outcomes, want) {
				t.Errorf("SecretFetch outcomes = %v, want %v", outcomes, want)
			}
			// One value per load, 0 included: the not-watched alarm reads it.
			want := []float64{0}
			if tt.watching {
				want = []float64{1}
			}
			if got := rec.watched(t); !slices.Equal(got, want) {
				t.Errorf("KeyExpiryWatched = %v, want %v", got, want)
			}
			lines := logLines(t, logs)
			if got := levels(lines); !slices.Equal(got, tt.levels) {
				t.Errorf("logged %q, want levels %v", lines, tt.levels)
			}
			expires, watching, err := c.KeyExpiry(context.Background())
			if err != nil || watching != tt.watching || !expires.Equal(tt.expires) {
				t.Errorf("KeyExpiry() = %v, %v, %v; want %v, %v", expires, watching, err, tt.expires, tt.watching)
			}
			if strings.Contains(logs.String(), testKey) {
				t.Error("the key is in the logs")
			}
		})
	}
}

// Each load reports the days left; a missing or unreadable expiry is said
// once per instance and distinct value, not on every load.
func TestKeyExpiryReportedOncePerValue(t *testing.T) {
	sm := devsecrets.New()
	log, logs := captureLogs()
	rec := &recorder{}
	clock := &clock{now: now}
	c := newCache(sm, "user-link", secret.Options{Logger: log, Metrics: rec.emf(), Now: clock.Now})
	put := func(expiry string) {
		v := `{"user_link_api_key":"` + testKey + `"`
		if expiry != "" {
			v += `,"expires_at":"` + expiry + `"`
		}
		sm.Put("user-link", v+"}")
	}
	// loads fetches the secret n times, a TTL apart.
	loads := func(n int) {
		for range n {
			clock.Advance(time.Minute + time.Second)
			if _, err := c.Key(context.Background()); err != nil {
				t.Fatal(err)
			}
		}
	}
	steps := []struct {
		expiry   string
		loads    int
		outcomes []metrics.FetchOutcome
		days     []float64
		lines    []string
	}{
		{expiry: "soon-ish", loads: 3,
			outcomes: []metrics.FetchOutcome{metrics.FetchOK, metrics.FetchOK, metrics.FetchOK},
			lines:    []string{"WARN the secret's expires_at cannot be read; the key's expiry is not watched"}},
		{expiry: "later", loads: 2,
			outcomes: []metrics.FetchOutcome{metrics.FetchOK, metrics.FetchOK},
			lines:    []string{"WARN the secret's expires_at cannot be read; the key's expiry is not watched"}},
		{expiry: "", loads: 3,
			outcomes: []metrics.FetchOutcome{metrics.FetchOK, metrics.FetchOK, metrics.FetchOK},
			lines:    []string{"INFO the key comes with no expires_at; its expiry is not watched"}},
		// Valid: reported on every load (the alarms need the steady signal).
		{expiry: "2026-12-10", loads: 2,
			outcomes: []metrics.FetchOutcome{metrics.FetchOK, metrics.FetchOK},
			days:     []float64{14, 14},
			lines: []string{
				"WARN the Sentiance user_link key expires soon; put a new key into the secret",
				"WARN the Sentiance user_link key expires soon; put a new key into the secret",
			}},
		// expires_at removed again: said again, once.
		{expiry: "", loads: 2,
			outcomes: []metrics.FetchOutcome{metrics.FetchOK, metrics.FetchOK},
			lines:    []string{"INFO the key comes with no expires_at; its expiry is not watched"}},
	}
	for i, s := range steps {
		rec.Reset()
		before := len(logLines(t, logs))
		put(s.expiry)
		loads(s.loads)
		if outcomes, days := rec.read(t); !slices.Equal(outcomes, s.outcomes) || !slices.Equal(days, s.days) {
			t.Errorf("step %d (%q): outcomes %v, days %v; want %v, %v", i, s.expiry, outcomes, days, s.outcomes, s.days)
		}
		// Said once in the logs, but published on every load.
		want := slices.Repeat([]float64{0}, s.loads)
		if s.days != nil {
			want = slices.Repeat([]float64{1}, s.loads)
		}
		if got := rec.watched(t); !slices.Equal(got, want) {
			t.Errorf("step %d (%q): KeyExpiryWatched = %v, want %v", i, s.expiry, got, want)
		}
		if got := logLines(t, logs)[before:]; !slices.Equal(got, s.lines) {
			t.Errorf("step %d (%q): logged %q, want %q", i, s.expiry, got, s.lines)
		}
	}
	if strings.Contains(logs.String(), testKey) {
		t.Error("the key is in the logs")
	}
}

func TestDaysLeft(t *testing.T) {
	tests := []struct {
		name  string
		until time.Duration
		want  int
	}{
		{"a year", 365 * 24 * time.Hour, 365},
		{"one day and a second", 24*time.Hour + time.Second, 1},
		{"a second short of a day", 24*time.Hour - time.Second, 0},
		{"now", 0, 0},
		{"a second ago", -time.Second, -1},
		{"a day ago", -24 * time.Hour, -1},
		{"a day and a second ago", -24*time.Hour - time.Second, -2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := secret.DaysLeft(now.Add(tt.until), now); got != tt.want {
				t.Errorf("DaysLeft(now%+v) = %d, want %d", tt.until, got, tt.want)
			}
		})
	}
}

func TestParseExpiry(t *testing.T) {
	tests := []struct {
		in   string
		want time.Time
		err  error
	}{
		{in: "2027-03-01", want: time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)},
		{in: " 2027-03-01 ", want: time.Date(2027, 3, 1, 0, 0, 0, 0, time.UTC)},
		{in: "2027-03-01T10:20:30Z", want: time.Date(2027, 3, 1, 10, 20, 30, 0, time.UTC)},
		{in: "2027-03-01T10:20:30.123Z", want: time.Date(2027, 3, 1, 10, 20, 30, 123e6, time.UTC)},
		{in: "2027-03-01T12:20:30+02:00", want: time.Date(2027, 3, 1, 10, 20, 30, 0, time.UTC)},
		{in: "2027-03-01 10:20:30", err: secret.ErrBadExpiry},
		{in: "01/03/2027", err: secret.ErrBadExpiry},
		{in: "2027-02-30", err: secret.ErrBadExpiry},
		{in: "", err: secret.ErrBadExpiry},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			got, err := secret.ParseExpiry(tt.in)
			if !errors.Is(err, tt.err) || !got.Equal(tt.want) {
				t.Errorf("ParseExpiry(%q) = %v, %v; want %v, %v", tt.in, got, err, tt.want, tt.err)
			}
		})
	}
}
