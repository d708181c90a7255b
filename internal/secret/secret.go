// Package secret loads the Sentiance user_link API key from AWS Secrets
// Manager and keeps it in memory: one fetch per TTL, one fetch at a time, the
// last good key kept when Secrets Manager is briefly unreachable, and a forced
// refresh (rate-limited) when Sentiance says the key was rejected.
package secret

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"golang.org/x/sync/singleflight"

	"github.com/sentiance-authcode/backend/internal/metrics"
)

// ErrUnavailable means no key could be had: Secrets Manager unreachable, the
// secret missing, or its value empty.
var ErrUnavailable = errors.New("user_link key unavailable")

// ErrEmpty means the secret exists but holds no key (yet).
var ErrEmpty = errors.New("secret holds no key")

// ErrNotJSON and ErrNoField tell why a secret that looks like a JSON object
// holds no key; both come wrapped with ErrEmpty.
var (
	ErrNotJSON = errors.New("secret is not valid JSON")
	ErrNoField = errors.New("field missing or empty")
)

// API is the part of the Secrets Manager client the cache uses.
type API interface {
	GetSecretValue(ctx context.Context, in *secretsmanager.GetSecretValueInput, opts ...func(*secretsmanager.Options)) (*secretsmanager.GetSecretValueOutput, error)
}

// Observer is the part of metrics.Observer the cache reports to.
type Observer interface {
	SecretFetch(outcome metrics.FetchOutcome)
}

// Options configure a Cache; zero values take the defaults.
type Options struct {
	SecretID string
	Field    string        // JSON field holding the key, default user_link_api_key
	TTL      time.Duration // default 5 minutes
	// FetchTimeout bounds one GetSecretValue call, default 3 s.
	FetchTimeout time.Duration
	// RetryAfterFailure is how long a stale key is served before Secrets
	// Manager is tried again, default 30 s.
	RetryAfterFailure time.Duration
	// MinForcedInterval rate-limits refreshes forced by rejections, default 1 minute.
	MinForcedInterval time.Duration
	Logger            *slog.Logger
	Now               func() time.Time
	Metrics           Observer // default metrics.Nop
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
}

// New returns a cache over api.
func New(api API, o Options) *Cache {
	if o.Field == "" {
		o.Field = "user_link_api_key"
	}
	if o.TTL <= 0 {
		o.TTL = 5 * time.Minute
	}
	if o.FetchTimeout <= 0 {
		o.FetchTimeout = 3 * time.Second
	}
	if o.RetryAfterFailure <= 0 {
		o.RetryAfterFailure = 30 * time.Second
	}
	if o.MinForcedInterval <= 0 {
		o.MinForcedInterval = time.Minute
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	if o.Metrics == nil {
		o.Metrics = metrics.Nop{}
	}
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
// less than MinForcedInterval ago (so a revoked key cannot cause a storm of
// Secrets Manager calls). It returns the key to retry with, which is the
// rejected one when nothing newer could be had.
func (c *Cache) Refresh(ctx context.Context, rejected string) (string, error) {
	c.mu.Lock()
	now := c.opts.Now()
	if c.key != "" && c.key != rejected {
		key := c.key
		c.mu.Unlock()
		return key, nil
	}
	if !c.lastForced.IsZero() && now.Sub(c.lastForced) < c.opts.MinForcedInterval {
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
		fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), c.opts.FetchTimeout)
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
	key, err := Parse(aws.ToString(out.SecretString), c.opts.Field)
	if err != nil {
		return "", fmt.Errorf("secret %s: %w", c.opts.SecretID, err)
	}
	c.mu.Lock()
	now := c.opts.Now()
	c.key = key
	c.expires = now.Add(c.opts.TTL)
	c.retryAt = time.Time{}
	c.mu.Unlock()
	c.opts.Metrics.SecretFetch(metrics.FetchOK)
	return key, nil
}

// afterFailure serves the last good key, if any, and backs off before the
// next attempt; with no key at all the caller must answer 503.
func (c *Cache) afterFailure(err error) (string, error) {
	c.mu.Lock()
	key := c.key
	if key != "" {
		c.retryAt = c.opts.Now().Add(c.opts.RetryAfterFailure)
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

// Parse takes the key from a secret string: a JSON object's field, or the
// whole string when it is not a JSON object. Its errors wrap ErrEmpty.
func Parse(value, field string) (string, error) {
	value = strings.TrimSpace(value)
	if strings.HasPrefix(value, "{") {
		var fields map[string]any
		if err := json.Unmarshal([]byte(value), &fields); err != nil {
			return "", fmt.Errorf("%w: %w", ErrEmpty, ErrNotJSON)
		}
		s, ok := fields[field].(string)
		if !ok || strings.TrimSpace(s) == "" {
			return "", fmt.Errorf("%w: %w: %q", ErrEmpty, ErrNoField, field)
		}
		value = strings.TrimSpace(s)
	}
	if value == "" {
		return "", ErrEmpty
	}
	return value, nil
}
