// Package sentiance calls Sentiance's POST /users/auth-code with the
// user_link API key: bounded retries where a retry is safe, typed errors the
// caller can map to answers, and nothing of Sentiance's body passed on.
package sentiance

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/sentiance-authcode/backend/internal/metrics"
	"github.com/sentiance-authcode/backend/internal/outbound"
)

var (
	// ErrKeyRejected: Sentiance answered 401 or 403 to our API key.
	ErrKeyRejected = errors.New("sentiance rejected the API key")
	// ErrUpstream: Sentiance answered an error or an unusable 200.
	ErrUpstream = errors.New("sentiance error")
	// ErrTimeout: no answer within the time budget.
	ErrTimeout = errors.New("sentiance did not answer in time")
)

// RateLimitError: Sentiance answered 429.
type RateLimitError struct {
	RetryAfter time.Duration // zero when Sentiance sent none
}

func (e *RateLimitError) Error() string { return "sentiance rate-limited the request" }

// Code is what Sentiance issued.
type Code struct {
	Value     string // the authentication code
	ExpiresAt string // RFC 3339; empty when Sentiance sent none or an invalid one
}

// Observer is the part of metrics.Observer the client reports to: each
// attempt's HTTP status (0 for no answer) and how long it took.
type Observer interface {
	SentianceCall(status int, took time.Duration)
}

// Options tune a client; zero values take the defaults.
type Options struct {
	Attempts int           // tries in all, default 3
	Backoff  time.Duration // base of the jittered exponential backoff, default 100 ms
	Metrics  Observer      // default metrics.Nop
}

// Client calls one Sentiance region. It is safe for concurrent use.
type Client struct {
	endpoint string
	hc       *http.Client
	opts     Options
}

// New returns a client for the region at baseURL, using hc for every call
// (reuse one so connections are kept alive across invocations).
func New(baseURL string, hc *http.Client, o Options) *Client {
	if o.Attempts <= 0 {
		o.Attempts = 3
	}
	if o.Backoff <= 0 {
		o.Backoff = 100 * time.Millisecond
	}
	if o.Metrics == nil {
		o.Metrics = metrics.Nop{}
	}
	return &Client{endpoint: strings.TrimRight(baseURL, "/") + "/users/auth-code", hc: hc, opts: o}
}

// Warm opens the TLS connection to the region's host ahead of the first
// request (outbound.Preconnect): a connect and a handshake, no HTTP request,
// so it sends no key and cannot mint a code. A cold start calls it while it
// fetches the key. Its error is not fatal: AuthCode dials as usual.
func (c *Client) Warm(ctx context.Context) error {
	return outbound.Preconnect(ctx, c.hc, c.endpoint)
}

// AuthCode asks Sentiance for an authentication code for externalID. It
// retries network errors and 500/502/503/504 with jittered backoff while the
// context's deadline leaves room, and never retries 4xx answers.
func (c *Client) AuthCode(ctx context.Context, apiKey, externalID string) (Code, error) {
	body, err := json.Marshal(map[string]string{"external_id": externalID})
	if err != nil {
		return Code{}, fmt.Errorf("encode request: %w", err)
	}
	var last error
	for attempt := 0; attempt < c.opts.Attempts; attempt++ {
		if attempt > 0 && !c.sleep(ctx, attempt) {
			break
		}
		code, retry, err := c.once(ctx, apiKey, body)
		if err == nil {
			return code, nil
		}
		last = err
		if !retry {
			return Code{}, err
		}
	}
	if ctx.Err() != nil {
		return Code{}, fmt.Errorf("%w: %w", ErrTimeout, last)
	}
	return Code{}, last
}

// sleep waits before a retry; false when the budget cannot fit the wait.
func (c *Client) sleep(ctx context.Context, attempt int) bool {
	wait := c.opts.Backoff << (attempt - 1)
	wait = wait/2 + rand.N(wait/2+1) // jitter, so instances do not retry in step
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait+c.opts.Backoff {
		return false
	}
	t := time.NewTimer(wait)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// once makes one attempt and says whether a failure may be retried.
func (c *Client) once(ctx context.Context, apiKey string, body []byte) (Code, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return Code{}, false, fmt.Errorf("%w: build request: %w", ErrUpstream, err)
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json")

	start := time.Now()
	resp, err := c.hc.Do(req)
	if errors.Is(err, outbound.ErrRedirect) {
		// An answer from Sentiance (a redirect we refuse to follow), not a
		// network failure: asking again would get the same, so no retry.
		status := 0
		if resp != nil {
			status = resp.StatusCode
		}
		c.opts.Metrics.SentianceCall(status, time.Since(start))
		return Code{}, false, fmt.Errorf("%w: status %d: %w", ErrUpstream, status, err)
	}
	if err != nil {
		c.opts.Metrics.SentianceCall(0, time.Since(start))
		if ctx.Err() != nil {
			return Code{}, false, fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
		}
		// The request may not have reached Sentiance; asking again only mints another code.
		return Code{}, true, fmt.Errorf("%w: %w", ErrUpstream, err)
	}
	defer resp.Body.Close()
	raw, readErr := io.ReadAll(resp.Body)
	c.opts.Metrics.SentianceCall(resp.StatusCode, time.Since(start))

	switch {
	case resp.StatusCode == http.StatusOK:
		if readErr != nil {
			if ctx.Err() != nil {
				return Code{}, false, fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
			}
			return Code{}, false, fmt.Errorf("%w: read 200 body: %w", ErrUpstream, readErr)
		}
		code, err := decode(raw)
		return code, false, err
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return Code{}, false, fmt.Errorf("%w: status %d%s", ErrKeyRejected, resp.StatusCode, errorCode(raw))
	case resp.StatusCode == http.StatusTooManyRequests:
		return Code{}, false, &RateLimitError{RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	case resp.StatusCode == 500 || resp.StatusCode == 502 || resp.StatusCode == 503 || resp.StatusCode == 504:
		return Code{}, true, fmt.Errorf("%w: status %d%s", ErrUpstream, resp.StatusCode, errorCode(raw))
	default:
		return Code{}, false, fmt.Errorf("%w: status %d%s", ErrUpstream, resp.StatusCode, errorCode(raw))
	}
}

// decode checks the 200 body: a JSON object whose authentication_code looks
// like one (hex, sane length), so garbage is never handed to the app.
func decode(raw []byte) (Code, error) {
	var body struct {
		Code      *string `json:"authentication_code"`
		ExpiresAt *string `json:"expires_at"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return Code{}, fmt.Errorf("%w: 200 body is not the documented JSON", ErrUpstream)
	}
	if body.Code == nil || !ValidCode(*body.Code) {
		return Code{}, fmt.Errorf("%w: 200 body has no usable authentication_code", ErrUpstream)
	}
	code := Code{Value: *body.Code}
	if body.ExpiresAt != nil {
		if _, err := time.Parse(time.RFC3339Nano, *body.ExpiresAt); err == nil {
			code.ExpiresAt = *body.ExpiresAt
		}
	}
	return code, nil
}

// ValidCode reports whether s has the form of a Sentiance authentication
// code: hexadecimal (128 characters today; 32 to 512 are accepted so a
// longer code from Sentiance does not break sign-ups).
func ValidCode(s string) bool {
	if len(s) < 32 || len(s) > 512 {
		return false
	}
	for i := 0; i < len(s); i++ {
		ch := s[i]
		if !('0' <= ch && ch <= '9' || 'a' <= ch && ch <= 'f' || 'A' <= ch && ch <= 'F') {
			return false
		}
	}
	return true
}

// errorCode picks Sentiance's errorCode from an error body for the logs, short
// and printable only; the rest of the body is never passed on.
func errorCode(raw []byte) string {
	var body struct {
		ErrorCode string `json:"errorCode"`
	}
	if json.Unmarshal(raw, &body) != nil || body.ErrorCode == "" {
		return ""
	}
	code := body.ErrorCode
	if len(code) > 64 {
		code = code[:64]
	}
	if strings.IndexFunc(code, func(r rune) bool { return r < 0x20 || r > 0x7e }) >= 0 {
		return ""
	}
	return " (" + code + ")"
}

// retryAfter reads Retry-After in seconds or as an HTTP date.
func retryAfter(v string) time.Duration {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil {
		if d := time.Until(t); d > 0 {
			return d
		}
	}
	return 0
}
