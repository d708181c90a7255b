package secret_test

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"time"

	"github.com/sentiance-authcode/backend/devtools/devsecrets"
	"github.com/sentiance-authcode/backend/internal/secret"
)

// clock is a settable time source, safe for the cache's concurrent use.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func newClock() *clock { return &clock{now: time.Now()} }

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// newCache is a cache of secret id in sm with the tests' defaults (a TTL
// of a minute, no logs, no metrics) where o leaves them out.
func newCache(sm secret.API, id string, o secret.Options) *secret.Cache {
	o.SecretID = id
	if o.TTL == 0 {
		o.TTL = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return secret.New(sm, o)
}

// The cache against the in-process stand-in of Secrets Manager; the
// bootstrap tests (tests/lambda) read the secret from moto through the
// real SDK client.
func TestKey(t *testing.T) {
	sm := devsecrets.New()
	sm.Put("json-secret", `{"user_link_api_key":"key-from-json","other":"x"}`)
	sm.Put("other-field", `{"sentiance":"key-under-another-field"}`)
	sm.Put("plain-secret", "  key-plain\n")
	sm.Put("empty-field", `{"user_link_api_key":""}`)
	sm.Put("blank", " ")
	sm.Put("broken-json", `{"user_link_api_key":`)

	tests := []struct {
		name, id string
		want     string
		wantErr  error
	}{
		{name: "JSON secret", id: "json-secret", want: "key-from-json"},
		{name: "plain string secret", id: "plain-secret", want: "key-plain"},
		{name: "JSON without the key's field", id: "other-field", wantErr: secret.ErrEmpty},
		{name: "empty field", id: "empty-field", wantErr: secret.ErrEmpty},
		{name: "blank secret", id: "blank", wantErr: secret.ErrEmpty},
		{name: "broken JSON", id: "broken-json", wantErr: secret.ErrEmpty},
		{name: "no such secret", id: "does-not-exist", wantErr: secret.ErrUnavailable},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := newCache(sm, tt.id, secret.Options{})
			got, err := c.Key(context.Background())
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !errors.Is(err, secret.ErrUnavailable) {
					t.Fatalf("err = %v, want %v (and ErrUnavailable)", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Key() = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}

func TestOneFetchPerTTL(t *testing.T) {
	sm := devsecrets.New()
	sm.Put("user-link", `{"user_link_api_key":"k1"}`)
	clock := newClock()
	c := newCache(sm, "user-link", secret.Options{Now: clock.Now})

	// 200 requests, 20 at a time, within the TTL: one GetSecretValue.
	var wg sync.WaitGroup
	errs := make(chan error, 200)
	for i := 0; i < 200; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if k, err := c.Key(context.Background()); err != nil || k != "k1" {
				errs <- errors.Join(err, errors.New("got "+k))
			}
		}()
		if i%20 == 19 {
			wg.Wait()
		}
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if n := sm.Calls(); n != 1 {
		t.Fatalf("GetSecretValue calls = %d within the TTL, want 1", n)
	}

	// After the TTL the new value is fetched once.
	sm.Put("user-link", `{"user_link_api_key":"k2"}`)
	clock.Advance(61 * time.Second)
	for i := 0; i < 10; i++ {
		if k, err := c.Key(context.Background()); err != nil || k != "k2" {
			t.Fatalf("after TTL: Key() = %q, %v; want k2", k, err)
		}
	}
	if n := sm.Calls(); n != 2 {
		t.Fatalf("GetSecretValue calls = %d after one TTL, want 2", n)
	}
}

func TestRefreshAfterRejection(t *testing.T) {
	sm := devsecrets.New()
	sm.Put("user-link", "old-key")
	c := newCache(sm, "user-link", secret.Options{Now: newClock().Now})
	ctx := context.Background()
	if k, err := c.Key(ctx); err != nil || k != "old-key" {
		t.Fatalf("Key() = %q, %v", k, err)
	}
	sm.Put("user-link", "new-key")

	if k, err := c.Refresh(ctx, "old-key"); err != nil || k != "new-key" {
		t.Fatalf("Refresh(old) = %q, %v; want new-key", k, err)
	}
	// A second rejection of the same key soon after must not fetch again.
	if k, _ := c.Refresh(ctx, "new-key"); k != "new-key" {
		t.Fatalf("rate-limited Refresh = %q, want the rejected key back", k)
	}
	// A stale rejection (the cache already moved on) returns the current key without a fetch.
	if k, _ := c.Refresh(ctx, "old-key"); k != "new-key" {
		t.Fatalf("Refresh(stale) = %q, want new-key", k)
	}
	if n := sm.Calls(); n != 2 {
		t.Fatalf("GetSecretValue calls = %d, want 2 (first load + one forced refresh)", n)
	}
}

func TestStaleKeyWhileSecretsManagerIsDown(t *testing.T) {
	sm := devsecrets.New()
	sm.Put("user-link", "cached-key")
	clock := newClock()
	c := newCache(sm, "user-link", secret.Options{Now: clock.Now})
	ctx := context.Background()
	if _, err := c.Key(ctx); err != nil {
		t.Fatal(err)
	}
	sm.SetDown(true)
	clock.Advance(2 * time.Minute)
	// The first call after the TTL tries Secrets Manager (the SDK may retry
	// inside that one attempt); the calls after it back off.
	if k, err := c.Key(ctx); err != nil || k != "cached-key" {
		t.Fatalf("with Secrets Manager down: Key() = %q, %v; want the cached key", k, err)
	}
	tried := sm.Calls()
	if tried < 2 {
		t.Fatalf("GetSecretValue calls = %d: the expired key was not refreshed", tried)
	}
	for i := 0; i < 5; i++ {
		if k, err := c.Key(ctx); err != nil || k != "cached-key" {
			t.Fatalf("with Secrets Manager down: Key() = %q, %v; want the cached key", k, err)
		}
	}
	if n := sm.Calls(); n != tried {
		t.Fatalf("GetSecretValue calls went from %d to %d during the back-off", tried, n)
	}

	// A cold cache with Secrets Manager down has nothing to serve.
	cold := newCache(sm, "user-link", secret.Options{})
	if _, err := cold.Key(ctx); !errors.Is(err, secret.ErrUnavailable) {
		t.Fatalf("cold cache with Secrets Manager down: err = %v, want ErrUnavailable", err)
	}
}

// Parse is the cache's rule, exported for the doctor: its errors say which
// way a secret holds no key, and all of them are ErrEmpty.
func TestParse(t *testing.T) {
	tests := []struct {
		name, value string
		want        string
		wantErr     error
	}{
		{name: "JSON field", value: `{"user_link_api_key":" k.1 "}`, want: "k.1"},
		{name: "plain key", value: " k.2\n", want: "k.2"},
		{name: "blank", value: " \n", wantErr: secret.ErrEmpty},
		{name: "broken JSON", value: `{"user_link_api_key":`, wantErr: secret.ErrNotJSON},
		{name: "other field", value: `{"apiKey":"k.3"}`, wantErr: secret.ErrNoField},
		{name: "empty field", value: `{"user_link_api_key":""}`, wantErr: secret.ErrNoField},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := secret.Parse(tt.value)
			got := v.Key
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !errors.Is(err, secret.ErrEmpty) {
					t.Fatalf("err = %v, want %v (and ErrEmpty)", err, tt.wantErr)
				}
				return
			}
			if err != nil || got != tt.want {
				t.Fatalf("Parse = %q, %v; want %q", got, err, tt.want)
			}
		})
	}
}
