package authcode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sentiance-authcode/backend/internal/identity"
	"github.com/sentiance-authcode/backend/internal/metrics"
	"github.com/sentiance-authcode/backend/internal/sentiance"
)

// Timeout is the function's timeout: template.yaml's (a test holds them
// together), and each of local mode's invocations.
const Timeout = 10 * time.Second

const (
	margin         = 500 * time.Millisecond // kept back from the deadline to answer in
	limiterTimeout = time.Second            // a slow table must not hold up every login
)

// TokenVerifier verifies a bearer token and returns its claims.
type TokenVerifier interface {
	Verify(ctx context.Context, token string) (map[string]any, error)
}

// KeySource hands out the Sentiance user_link key.
type KeySource interface {
	Key(ctx context.Context) (string, error)
	// Refresh is called after Sentiance rejected key; it returns the key to retry with.
	Refresh(ctx context.Context, rejected string) (string, error)
}

// CodeIssuer asks Sentiance for a code and its expiry.
type CodeIssuer interface {
	AuthCode(ctx context.Context, apiKey, externalID string) (code, expiresAt string, err error)
}

// Limiter counts codes per external_id; a positive wait refuses the request.
type Limiter interface {
	Allow(ctx context.Context, externalID string) (wait time.Duration, err error)
}

// Request is what the caller brought.
type Request struct {
	// BearerToken is the raw token from the Authorization header, or "".
	BearerToken string
	// GatewayClaims are the claims API Gateway's JWT authorizer verified;
	// nil when there was no authorizer.
	GatewayClaims map[string]string
	// BodyExternalID is the external_id the client sent, if it sent one; it
	// is only ever compared with the verified one, never used on its own.
	BodyExternalID *string
}

// Result is a code for the caller, as the 200 answer carries it.
type Result struct {
	Code        string `json:"authentication_code"`
	ExpiresAt   string `json:"expires_at,omitempty"` // empty when Sentiance sent none
	PlatformURL string `json:"platform_url"`
	AppID       string `json:"app_id,omitempty"` // empty when not configured
}

// Options are a Function's parts; Verifier, Limiter and Metrics may be nil.
type Options struct {
	Verifier  TokenVerifier // nil: only the gateway's claims are trusted
	Keys      KeySource
	Sentiance CodeIssuer
	Limiter   Limiter // nil: no per-user limit
	// LimiterFailClosed answers 503 when the limiter fails; otherwise the
	// code is issued anyway (login keeps working) and the failure counted.
	LimiterFailClosed bool
	ExternalIDClaim   string
	PlatformURL       string
	AppID             string
	Logger            *slog.Logger
	Metrics           *metrics.EMF
}

// Function answers API Gateway events with codes. It is safe for concurrent use.
type Function struct{ opts Options }

// New returns the function over its parts.
func New(o Options) *Function { return &Function{opts: o} }

// Issue establishes the caller's external_id and returns a code for it.
// Errors are *Error.
func (f *Function) Issue(ctx context.Context, req Request) (Result, error) {
	ctx, cancel := f.budget(ctx)
	defer cancel()

	externalID, err := f.identify(ctx, req)
	if err != nil {
		return Result{}, err
	}
	if req.BodyExternalID != nil && *req.BodyExternalID != externalID {
		return Result{}, &Error{Reason: ExternalIDMismatch}
	}

	if err := f.limit(ctx, externalID); err != nil {
		return Result{}, err
	}

	key, err := f.opts.Keys.Key(ctx)
	if err != nil {
		return Result{}, &Error{Reason: KeyUnavailable, Err: err}
	}
	code, expiresAt, err := f.opts.Sentiance.AuthCode(ctx, key, externalID)
	if errors.Is(err, sentiance.ErrKeyRejected) {
		f.opts.Metrics.KeyRejected()
		f.opts.Logger.WarnContext(ctx, "Sentiance rejected the user_link key; refreshing it once", "error", err.Error())
		retryKey, rerr := f.opts.Keys.Refresh(ctx, key)
		if rerr == nil && retryKey != key {
			code, expiresAt, err = f.opts.Sentiance.AuthCode(ctx, retryKey, externalID)
			if errors.Is(err, sentiance.ErrKeyRejected) {
				f.opts.Metrics.KeyRejected()
			}
		}
	}
	if err != nil {
		return Result{}, upstreamError(err)
	}
	return Result{Code: code, ExpiresAt: expiresAt, PlatformURL: f.opts.PlatformURL, AppID: f.opts.AppID}, nil
}

// limit applies the per-user rate limit, if any, before Sentiance is asked.
func (f *Function) limit(ctx context.Context, externalID string) error {
	if f.opts.Limiter == nil {
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, limiterTimeout)
	defer cancel()
	wait, err := f.opts.Limiter.Allow(lctx, externalID)
	switch {
	case err != nil && f.opts.LimiterFailClosed:
		f.opts.Metrics.RateLimitError()
		return &Error{Reason: RateLimitUnavailable, Err: err}
	case err != nil:
		f.opts.Metrics.RateLimitError()
		f.opts.Logger.WarnContext(ctx, "rate limit check failed; issuing the code anyway (fail-open)", "error", err.Error())
		return nil
	case wait > 0:
		return &Error{Reason: UserRateLimited, RetryAfter: wait}
	}
	return nil
}

// budget derives the time we may spend from the invocation's deadline,
// keeping a margin to answer before Lambda would cut us off.
func (f *Function) budget(ctx context.Context) (context.Context, context.CancelFunc) {
	if deadline, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, deadline.Add(-margin))
	}
	return context.WithTimeout(ctx, Timeout-margin)
}

// identify returns the caller's external_id from verified claims only. With
// both the gateway's claims and in-function verification, both must pass and
// agree; with neither, the caller is not identified (fail closed).
func (f *Function) identify(ctx context.Context, req Request) (string, error) {
	var fromGateway, fromToken *string
	if req.GatewayClaims != nil {
		id, err := f.externalID(claimValue(req.GatewayClaims, f.opts.ExternalIDClaim))
		if err != nil {
			return "", err
		}
		fromGateway = &id
	}
	if f.opts.Verifier != nil {
		claims, err := f.opts.Verifier.Verify(ctx, req.BearerToken)
		switch {
		case errors.Is(err, identity.ErrKeysUnavailable):
			return "", &Error{Reason: JWKSUnavailable, Err: err}
		case err != nil:
			return "", &Error{Reason: InvalidToken, Err: err}
		}
		id, err := f.externalID(claims[f.opts.ExternalIDClaim])
		if err != nil {
			return "", err
		}
		fromToken = &id
	}
	switch {
	case fromGateway != nil && fromToken != nil:
		if *fromGateway != *fromToken {
			return "", &Error{Reason: IdentityConflict}
		}
		return *fromToken, nil
	case fromToken != nil:
		return *fromToken, nil
	case fromGateway != nil:
		return *fromGateway, nil
	default:
		return "", &Error{Reason: NoIdentity}
	}
}

func (f *Function) externalID(v any) (string, error) {
	id, err := identity.ExternalID(v)
	if err != nil {
		return "", &Error{Reason: ExternalIDClaim, Err: fmt.Errorf("claim %s: %w", f.opts.ExternalIDClaim, err)}
	}
	return id, nil
}

// claimValue returns the gateway claim, nil when absent so it is told apart
// from an empty string.
func claimValue(claims map[string]string, name string) any {
	v, ok := claims[name]
	if !ok {
		return nil
	}
	return v
}

func upstreamError(err error) error {
	var rl *sentiance.RateLimitError
	switch {
	case errors.As(err, &rl):
		return &Error{Reason: SentianceRateLimited, RetryAfter: rl.RetryAfter, Err: err}
	case errors.Is(err, sentiance.ErrTimeout):
		return &Error{Reason: SentianceTimeout, Err: err}
	case errors.Is(err, sentiance.ErrKeyRejected):
		return &Error{Reason: KeyRejected, Err: err}
	default:
		return &Error{Reason: SentianceError, Err: err}
	}
}
