// Package secret keeps the Sentiance user_link key from Secrets Manager in
// memory: one fetch per TTL at a time, the last good key through an outage, a
// rate-limited refresh on rejection, and each load reports the key's expiry.
package secret

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"golang.org/x/sync/singleflight"

	"github.com/sentiance-authcode/backend/internal/metrics"
)

var (
	// ErrUnavailable: no key could be had (Secrets Manager unreachable, the
	// secret missing or empty).
	ErrUnavailable = errors.New("user_link key unavailable")
	// ErrEmpty: the secret exists but holds no key (yet); ErrNotJSON and
	// ErrNoField, wrapped with it, say why.
	ErrEmpty   = errors.New("secret holds no key")
	ErrNotJSON = errors.New("secret is not valid JSON")
	ErrNoField = errors.New("field missing or empty")
	// ErrBadExpiry: expires_at is present but unreadable. The key is still
	// used; only its expiry goes unwatched.
	ErrBadExpiry = errors.New("expires_at is not an RFC 3339 date (2006-01-02) or date-time (2006-01-02T15:04:05Z)")
)

// The secret's JSON fields: the key, and its optional expiry.
const (
	KeyField    = "user_link_api_key"
	ExpiryField = "expires_at"
)

// WarnDaysBeforeExpiry: with fewer days left, every load logs a warning (a
// month leaves time to get a new key; the template's KeyExpiryWarningDays
// defaults to it).
const WarnDaysBeforeExpiry = 30

const (
	fetchTimeout      = 3 * time.Second  // one GetSecretValue call
	retryAfterFailure = 30 * time.Second // a stale key is served this long before the next try
	// minForcedInterval rate-limits the refreshes rejections force, so a
	// revoked key cannot cause a storm of Secrets Manager calls.
	minForcedInterval = time.Minute
)

// API is the part of the Secrets Manager client the cache uses.
type API interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Options configure a Cache; all but Metrics are required.
type Options struct {
	SecretID string
	TTL      time.Duration // how long a loaded key is used before it is fetched again
	Logger   *slog.Logger
	Now      func() time.Time
	Metrics  *metrics.EMF // nil counts nothing
}

// Cache holds the key. It is safe for concurrent use.
type Cache struct {
	api   API
	opts  Options
	group singleflight.Group

	mu         sync.Mutex
	key        string
	expires    time.Time // when the key must be fetched again
	retryAt    time.Time // after a failed fetch, when to try again
	lastForced time.Time

	keyExpires time.Time // expires_at of the cached key; zero when unknown
	// expiryNote is the last "expiry not watched" condition reported ("none"
	// or the unreadable value), so each is said once per instance, not on
	// every load; empty while the expiry is watched.
	expiryNote string
}

// New returns a cache over api.
func New(api API, o Options) *Cache {
	return &Cache{api: api, opts: o}
}

// Key returns the cached key, fetching it when absent or older than the TTL.
func (c *Cache) Key(ctx context.Context) (string, error) {
	c.mu.Lock()
	now := c.opts.Now()
	key := c.key
	fresh := key != "" && now.Before(c.expires)
	backingOff := key != "" && now.Before(c.retryAt)
	c.mu.Unlock()
	if fresh || backingOff {
		return key, nil
	}
	return c.fetch(ctx, false)
}

// Refresh is called when Sentiance rejected key. It fetches the secret again
// unless the cache already holds a different key, or a forced refresh ran
// less than minForcedInterval ago. It returns the key to retry with, which is the
// rejected one when nothing newer could be had.
func (c *Cache) Refresh(ctx context.Context, rejected string) (string, error) {
	c.mu.Lock()
	now := c.opts.Now()
	if c.key != "" && c.key != rejected {
		key := c.key
		c.mu.Unlock()
		return key, nil
	}
	if !c.lastForced.IsZero() && now.Sub(c.lastForced) < minForcedInterval {
		c.mu.Unlock()
		return rejected, nil
	}
	c.lastForced = now
	c.mu.Unlock()
	return c.fetch(ctx, true)
}

// fetch runs one GetSecretValue at a time; concurrent callers share its result
// but each stops waiting when its own context ends. force skips the check
// for a fresh key (a rejection made the cached one suspect).
func (c *Cache) fetch(ctx context.Context, force bool) (string, error) {
	ch := c.group.DoChan("fetch", func() (any, error) {
		// A caller that found the key stale may arrive just after another
		// fetch stored a fresh one: use it rather than fetch again.
		if !force {
			c.mu.Lock()
			key, fresh := c.key, c.key != "" && c.opts.Now().Before(c.expires)
			c.mu.Unlock()
			if fresh {
				return key, nil
			}
		}
		// Detached from the first caller's cancellation: the others share this fetch.
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), fetchTimeout)
		defer cancel()
		return c.load(fctx)
	})
	select {
	case <-ctx.Done():
		if key := c.staleKey(); key != "" {
			return key, nil
		}
		return "", fmt.Errorf("%w: %w", ErrUnavailable, ctx.Err())
	case res := <-ch:
		if res.Err != nil {
			return c.afterFailure(res.Err)
		}
		return res.Val.(string), nil
	}
}

// load fetches and parses the secret and stores the key on success.
func (c *Cache) load(ctx context.Context) (string, error) {
	out, err := c.api.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(c.opts.SecretID)})
	if err != nil {
		return "", fmt.Errorf("get secret %s: %w", c.opts.SecretID, err)
	}
	v, err := Parse(aws.ToString(out.SecretString))
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", c.opts.SecretID, err)
	}
	c.mu.Lock()
	now := c.opts.Now()
	c.key = v.Key
	c.keyExpires = v.Expires
	c.expires = now.Add(c.opts.TTL)
	c.retryAt = time.Time{}
	c.mu.Unlock()
	// Every load says whether the expiry is watched, 0 included, so the
	// not-watched alarm reads a value rather than an absence.
	c.opts.Metrics.KeyExpiryWatched(!v.Expires.IsZero())
	c.opts.Metrics.SecretFetch(metrics.FetchOK)
	c.reportExpiry(v, now)
	return v.Key, nil
}

// reportExpiry tells how long the key has left on every load (the alarms
// need a steady signal); an unwatched expiry is said once per condition.
func (c *Cache) reportExpiry(v Value, now time.Time) {
	note := ""
	switch {
	case v.ExpiryErr != nil:
		note = "bad:" + v.rawExpiry
	case v.Expires.IsZero():
		note = "none"
	}
	c.mu.Lock()
	first := note != c.expiryNote
	c.expiryNote = note
	c.mu.Unlock()

	log := c.opts.Logger
	switch {
	case v.Expires.IsZero() && !first:
		return // said already
	case v.ExpiryErr != nil:
		// The value is not logged: it is free text next to the key and
		// could be the key pasted into the wrong field.
		log.Warn("the secret's expires_at cannot be read; the key's expiry is not watched",
			"field", ExpiryField, "error", v.ExpiryErr.Error())
		return
	case v.Expires.IsZero():
		log.Info("the key comes with no expires_at; its expiry is not watched", "field", ExpiryField)
		return
	}
	days := DaysLeft(v.Expires, now)
	c.opts.Metrics.KeyDaysToExpiry(days)
	attrs := []any{"expires_at", v.Expires.UTC().Format(time.RFC3339), "days_left", days}
	switch {
	case days < 0:
		log.Error("the Sentiance user_link key has expired; put a new key into the secret", attrs...)
	case days < WarnDaysBeforeExpiry:
		log.Warn("the Sentiance user_link key expires soon; put a new key into the secret", attrs...)
	default:
		log.Debug("the Sentiance user_link key's expiry", attrs...)
	}
}

// DaysLeft is the whole days from now until expires, rounded down: 0 on
// the last day, negative once expired (-1 during the first day after).
func DaysLeft(expires, now time.Time) int {
	return int(math.Floor(expires.Sub(now).Hours() / 24))
}

// KeyExpiry loads the key if need be and returns when it expires; ok is
// false without a readable expires_at. Local mode's banner shows it.
func (c *Cache) KeyExpiry(ctx context.Context) (expires time.Time, ok bool, err error) {
	if _, err := c.Key(ctx); err != nil {
		return time.Time{}, false, err
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.keyExpires, !c.keyExpires.IsZero(), nil
}

// afterFailure serves the last good key, if any, and backs off before the
// next attempt; with no key at all the caller must answer 503.
func (c *Cache) afterFailure(err error) (string, error) {
	c.mu.Lock()
	key := c.key
	if key != "" {
		c.retryAt = c.opts.Now().Add(retryAfterFailure)
	}
	c.mu.Unlock()
	if key != "" {
		c.opts.Metrics.SecretFetch(metrics.FetchStale)
		c.opts.Logger.Warn("secret refresh failed; serving the cached key", "error", err.Error())
		return key, nil
	}
	c.opts.Metrics.SecretFetch(metrics.FetchError)
	return "", fmt.Errorf("%w: %w", ErrUnavailable, err)
}

func (c *Cache) staleKey() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.key
}

// Value is what one secret string holds: the key and, when the secret
// carries expires_at, the key's expiry.
type Value struct {
	Key       string
	Expires   time.Time // zero when expires_at is absent or unreadable
	ExpiryErr error     // expires_at present but unreadable (wraps ErrBadExpiry)
	rawExpiry string    // the unreadable expires_at, only to say it once
}

// Parse reads a secret string, for the cache and the doctor: the key is the
// KeyField of a JSON object, or the whole string when it is not one; its
// errors wrap ErrEmpty. An unreadable expires_at does not fail the parse but
// is reported in ExpiryErr.
func Parse(secret string) (Value, error) {
	secret = strings.TrimSpace(secret)
	if !strings.HasPrefix(secret, "{") {
		if secret == "" {
			return Value{}, ErrEmpty
		}
		return Value{Key: secret}, nil
	}
	var fields map[string]any
	if err := json.Unmarshal([]byte(secret), &fields); err != nil {
		return Value{}, fmt.Errorf("%w: %w", ErrEmpty, ErrNotJSON)
	}
	s, ok := fields[KeyField].(string)
	if !ok || strings.TrimSpace(s) == "" {
		return Value{}, fmt.Errorf("%w: %w: %q", ErrEmpty, ErrNoField, KeyField)
	}
	v := Value{Key: strings.TrimSpace(s)}
	switch raw := fields[ExpiryField].(type) {
	case nil: // absent or null: expiry not given
	case string:
		if v.Expires, v.ExpiryErr = ParseExpiry(raw); v.ExpiryErr != nil {
			v.rawExpiry = raw
		}
	default:
		v.ExpiryErr = fmt.Errorf("%w: not a string", ErrBadExpiry)
		v.rawExpiry = fmt.Sprint(raw)
	}
	return v, nil
}

// ParseExpiry reads an expiry as Insights Control Tower shows it: an RFC
// 3339 date-time, or a date taken as the start of that day in UTC (so
// warnings come early rather than late).
func ParseExpiry(s string) (time.Time, error) {
	s = strings.TrimSpace(s)
	if t, err := time.Parse(time.RFC3339, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, ErrBadExpiry
}
