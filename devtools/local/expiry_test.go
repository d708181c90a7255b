package local

import (
	"errors"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/sentiance-authcode/backend/devtools/devsentiance"
	"github.com/sentiance-authcode/backend/internal/app"
)

// With SENTIANCE_USER_LINK_KEY_EXPIRES_AT the banner tells how long the key
// has left; without it, that its expiry is not watched.
func TestRunKeyExpiry(t *testing.T) {
	t.Parallel()
	const key = "key.local-expiry"
	in10 := time.Now().AddDate(0, 0, 10).UTC().Format(time.DateOnly)
	tests := []struct {
		name, expiresAt string
		banner          []string // what the banner's Key line says (any of)
		logLevel        string   // the cache's expiry line
	}{
		{name: "expires in 10 days", expiresAt: in10,
			banner:   []string{"Key        expires in 9 days (" + in10 + ")", "Key        expires in 10 days (" + in10 + ")"},
			logLevel: "WARN"},
		{name: "no expiry", banner: []string{"Key        expiry not watched"}, logLevel: "INFO"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			stand := devsentiance.Start(t, key)
			s := startRun(t, map[string]string{
				"SENTIANCE_USER_LINK_KEY": key, "SENTIANCE_USER_LINK_KEY_EXPIRES_AT": tt.expiresAt, "SENTIANCE_API_URL": stand.URL,
			})
			banner := s.stderr.String()
			found := false
			for _, want := range tt.banner {
				found = found || strings.Contains(banner, want)
			}
			if !found {
				t.Errorf("banner has none of %q:\n%s", tt.banner, banner)
			}
			// The key still works, served as the deployed secret's JSON.
			status, _, body := call(t, &http.Client{Timeout: 10 * time.Second}, "POST", s.url+"/auth-code", s.token(t), "", "")
			if status != 200 {
				t.Errorf("POST /auth-code: %d %s", status, body)
			}
			logs := s.stdout.String()
			if !strings.Contains(logs, `"level":"`+tt.logLevel+`"`) || !strings.Contains(logs, "expir") {
				t.Errorf("no %s line about the key's expiry in the logs:\n%s", tt.logLevel, logs)
			}
			noLeak(t, logs+banner, key)
		})
	}
}

func TestRunBadKeyExpiry(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name string
		env  map[string]string
	}{
		{"not a date", map[string]string{"SENTIANCE_USER_LINK_KEY": "key.secret-value", "SENTIANCE_USER_LINK_KEY_EXPIRES_AT": "key.secret-value"}},
		{"without a key", map[string]string{"SENTIANCE_USER_LINK_KEY_EXPIRES_AT": "2027-03-01"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			tt.env["LOCAL_ADDR"] = "127.0.0.1:0"
			var stderr syncBuffer
			err := Run(t.Context(), Options{Getenv: func(k string) string { return tt.env[k] }, Stdout: io.Discard, Stderr: &stderr})
			if !errors.Is(err, app.ErrInvalid) || !strings.Contains(err.Error(), "SENTIANCE_USER_LINK_KEY_EXPIRES_AT") {
				t.Fatalf("err = %v, want one naming SENTIANCE_USER_LINK_KEY_EXPIRES_AT", err)
			}
			noLeak(t, err.Error()+stderr.String(), tt.env["SENTIANCE_USER_LINK_KEY"])
		})
	}
}

func TestKeyExpiryLine(t *testing.T) {
	t.Parallel()
	now := time.Date(2026, 11, 25, 12, 0, 0, 0, time.UTC)
	tests := []struct {
		name    string
		expires time.Time
		watched bool
		err     error
		want    string
	}{
		{"far", now.AddDate(0, 0, 200), true, nil, "expires in 200 days (2027-06-13)"},
		{"soon", now.AddDate(0, 0, 12), true, nil, "expires in 12 days (2026-12-07): put a new key in soon"},
		{"expired", now.AddDate(0, 0, -2), true, nil, "EXPIRED 2 days ago (2026-11-23): Sentiance will reject it"},
		{"not watched", time.Time{}, false, nil, "expiry not watched (no expires_at; see SENTIANCE_USER_LINK_KEY_EXPIRES_AT)"},
		{"not loaded", time.Time{}, false, errors.New("user_link key unavailable"), "not loaded yet (user_link key unavailable); requests will retry"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := keyExpiryLine(tt.expires, tt.watched, tt.err, now); got != tt.want {
				t.Errorf("keyExpiryLine = %q, want %q", got, tt.want)
			}
		})
	}
}
