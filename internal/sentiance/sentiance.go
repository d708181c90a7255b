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

// Path is the route of Sentiance's API the client calls, under the region's URL.
const Path = "/users/auth-code"

const (
	attempts = 3                      // tries in all
	backoff  = 100 * time.Millisecond // base of the jittered exponential backoff
)

// Client calls one Sentiance region. It is safe for concurrent use.
type Client struct {
	endpoint string
	hc       *http.Client
	metrics  *metrics.EMF
}

// New returns a client for the region at baseURL over hc (kept, so warm
// invocations reuse its connections); m counts each attempt, nil nothing.
func New(baseURL string, hc *http.Client, m *metrics.EMF) *Client {
	return &Client{endpoint: strings.TrimRight(baseURL, "/") + Path, hc: hc, metrics: m}
}

// Warm opens the TLS connection to Sentiance ahead of the first request; no
// key is sent. Its error is not fatal: AuthCode dials as usual.
func (c *Client) Warm(ctx context.Context) error {
	return outbound.Preconnect(ctx, c.hc, c.endpoint)
}

// AuthCode asks Sentiance for a code for externalID and returns it with its
// expires_at (empty when Sentiance sent none or an invalid one). It retries
// network errors and 500/502/503/504 while the deadline leaves room, never 4xx.
func (c *Client) AuthCode(ctx context.Context, apiKey, externalID string) (code, expiresAt string, err error) {
	body, err := json.Marshal(map[string]string{"external_id": externalID})
	if err != nil {
		return "", "", fmt.Errorf("encode request: %w", err)
	}
	var last error
	for attempt := 0; attempt < attempts; attempt++ {
		if attempt > 0 && !sleep(ctx, attempt) {
			break
		}
		a, retry, err := c.once(ctx, apiKey, body)
		if err == nil {
			return a.code, a.expiresAt, nil
		}
		last = err
		if !retry {
			return "", "", err
		}
	}
	if ctx.Err() != nil {
		return "", "", fmt.Errorf("%w: %w", ErrTimeout, last)
	}
	return "", "", last
}

// sleep waits before a retry; false when the budget cannot fit the wait.
func sleep(ctx context.Context, attempt int) bool {
	wait := backoff << (attempt - 1)
	wait = wait/2 + rand.N(wait/2+1) // jitter, so instances do not retry in step
	if deadline, ok := ctx.Deadline(); ok && time.Until(deadline) < wait+backoff {
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

// answer is a 200's content.
type answer struct{ code, expiresAt string }

// once makes one attempt and says whether a failure may be retried.
func (c *Client) once(ctx context.Context, apiKey string, body []byte) (answer, bool, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.endpoint, bytes.NewReader(body))
	if err != nil {
		return answer{}, false, fmt.Errorf("%w: build request: %w", ErrUpstream, err)
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
		c.metrics.SentianceCall(status, time.Since(start))
		return answer{}, false, fmt.Errorf("%w: status %d: %w", ErrUpstream, status, err)
	}
	if err != nil {
		c.metrics.SentianceCall(0, time.Since(start))
		if ctx.Err() != nil {
			return answer{}, false, fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
		}
		// The request may not have reached Sentiance; asking again only mints another code.
		return answer{}, true, fmt.Errorf("%w: %w", ErrUpstream, err)
	}
	defer resp.Body.Close()
	raw, readErr := io.ReadAll(resp.Body)
	c.metrics.SentianceCall(resp.StatusCode, time.Since(start))

	switch {
	case resp.StatusCode == http.StatusOK:
		if readErr != nil {
			if ctx.Err() != nil {
				return answer{}, false, fmt.Errorf("%w: %w", ErrTimeout, ctx.Err())
			}
			return answer{}, false, fmt.Errorf("%w: read 200 body: %w", ErrUpstream, readErr)
		}
		code, err := decode(raw)
		return code, false, err
	case resp.StatusCode == http.StatusUnauthorized || resp.StatusCode == http.StatusForbidden:
		return answer{}, false, fmt.Errorf("%w: status %d%s", ErrKeyRejected, resp.StatusCode, errorCode(raw))
	case resp.StatusCode == http.StatusTooManyRequests:
		return answer{}, false, &RateLimitError{RetryAfter: retryAfter(resp.Header.Get("Retry-After"))}
	case resp.StatusCode == 500 || resp.StatusCode == 502 || resp.StatusCode == 503 || resp.StatusCode == 504:
		return answer{}, true, fmt.Errorf("%w: status %d%s", ErrUpstream, resp.StatusCode, errorCode(raw))
	default:
		return answer{}, false, fmt.Errorf("%w: status %d%s", ErrUpstream, resp.StatusCode, errorCode(raw))
	}
}

// decode checks the 200 body: a JSON object whose authentication_code looks
// like one (hex, sane length), so garbage is never handed to the app.
func decode(raw []byte) (answer, error) {
	var body struct {
		Code      *string `json:"authentication_code"`
		ExpiresAt *string `json:"expires_at"`
	}
	if err := json.Unmarshal(raw, &body); err != nil {
		return answer{}, fmt.Errorf("%w: 200 body is not the documented JSON", ErrUpstream)
	}
	if body.Code == nil || !ValidCode(*body.Code) {
		return answer{}, fmt.Errorf("%w: 200 body has no usable authentication_code", ErrUpstream)
	}
	a := answer{code: *body.Code}
	if body.ExpiresAt != nil {
		if _, err := time.Parse(time.RFC3339Nano, *body.ExpiresAt); err == nil {
			a.expiresAt = *body.ExpiresAt
		}
	}
	return a, nil
}

// ValidCode reports whether s has the form of a Sentiance authentication
// code: hexadecimal (128 characters today; 32 to 512 are accepted so a
// longer code from Sentiance does not break sign-ups).
func ValidCode(s string) bool {
	return len(s) >= 32 && len(s) <= 512 && strings.Trim(s, "0123456789abcdefABCDEF") == ""
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
