// Package authcode is the use case: given who the caller is, obtain a
// Sentiance authentication code for them. It knows nothing of API Gateway or
// AWS; an adapter translates requests to it and its answers back.
package authcode

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/sentiance-authcode/backend/internal/identity"
	"github.com/sentiance-authcode/backend/internal/metrics"
	"github.com/sentiance-authcode/backend/internal/ratelimit"
	"github.com/sentiance-authcode/backend/internal/sentiance"
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

// CodeIssuer asks Sentiance for a code.
type CodeIssuer interface {
	AuthCode(ctx context.Context, apiKey, externalID string) (sentiance.Code, error)
}

// RateLimiter counts codes per external_id.
type RateLimiter interface {
	Allow(ctx context.Context, externalID string) (ratelimit.Decision, error)
}

// Observer is the part of metrics.Observer the use case reports to.
type Observer interface {
	KeyRejected()
	RateLimitError()
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

// Result is a code for the caller.
type Result struct {
	Code        string
	ExpiresAt   string // empty when Sentiance sent none
	PlatformURL string
	AppID       string // empty when not configured
}

// Options configure a Service.
type Options struct {
	Verifier        TokenVerifier // nil: only the gateway's claims are trusted
	Keys            KeySource
	Sentiance       CodeIssuer
	ExternalIDClaim string
	PlatformURL     string
	AppID           string
	// Margin is kept back from the invocation's deadline to answer in, default 500 ms.
	Margin time.Duration
	// Budget applies when the context has no deadline (local runs), default 10 s.
	Budget  time.Duration
	Logger  *slog.Logger
	Metrics Observer // default metrics.Nop
	// Limiter, when set, caps codes per external_id.
	Limiter RateLimiter
	// LimiterFailClosed answers 503 when the limiter fails; otherwise the
	// code is issued anyway (login keeps working) and the failure counted.
	LimiterFailClosed bool
	// LimiterTimeout bounds one limiter check, default 1 s: a slow table
	// must not hold up every login.
	LimiterTimeout time.Duration
}

// Service issues codes. It is safe for concurrent use.
type Service struct{ opts Options }

// New returns a service.
func New(o Options) *Service {
	if o.Margin <= 0 {
		o.Margin = 500 * time.Millisecond
	}
	if o.Budget <= 0 {
		o.Budget = 10 * time.Second
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = metrics.Nop{}
	}
	if o.LimiterTimeout <= 0 {
		o.LimiterTimeout = time.Second
	}
	return &Service{opts: o}
}

// Issue establishes the caller's external_id and returns a code for it.
// Errors are *Error.
func (s *Service) Issue(ctx context.Context, req Request) (Result, error) {
	ctx, cancel := s.budget(ctx)
	defer cancel()

	externalID, err := s.identify(ctx, req)
	if err != nil {
		return Result{}, err
	}
	if req.BodyExternalID != nil && *req.BodyExternalID != externalID {
		return Result{}, &Error{Reason: ExternalIDMismatch}
	}

	if err := s.limit(ctx, externalID); err != nil {
		return Result{}, err
	}

	key, err := s.opts.Keys.Key(ctx)
	if err != nil {
		return Result{}, &Error{Reason: KeyUnavailable, Err: err}
	}
	code, err := s.opts.Sentiance.AuthCode(ctx, key, externalID)
	if errors.Is(err, sentiance.ErrKeyRejected) {
		s.opts.Metrics.KeyRejected()
		s.opts.Logger.WarnContext(ctx, "Sentiance rejected the user_link key; refreshing it once", "error", err.Error())
		retryKey, rerr := s.opts.Keys.Refresh(ctx, key)
		if rerr == nil && retryKey != key {
			code, err = s.opts.Sentiance.AuthCode(ctx, retryKey, externalID)
			if errors.Is(err, sentiance.ErrKeyRejected) {
				s.opts.Metrics.KeyRejected()
			}
		}
	}
	if err != nil {
		return Result{}, upstreamError(err)
	}
	return Result{Code: code.Value, ExpiresAt: code.ExpiresAt, PlatformURL: s.opts.PlatformURL, AppID: s.opts.AppID}, nil
}

// limit applies the per-user rate limit, if any, before Sentiance is asked.
func (s *Service) limit(ctx context.Context, externalID string) error {
	if s.opts.Limiter == nil {
		return nil
	}
	lctx, cancel := context.WithTimeout(ctx, s.opts.LimiterTimeout)
	defer cancel()
	d, err := s.opts.Limiter.Allow(lctx, externalID)
	switch {
	case err != nil && s.opts.LimiterFailClosed:
		s.opts.Metrics.RateLimitError()
		return &Error{Reason: RateLimitUnavailable, Err: err}
	case err != nil:
		s.opts.Metrics.RateLimitError()
		s.opts.Logger.WarnContext(ctx, "rate limit check failed; issuing the code anyway (fail-open)", "error", err.Error())
		return nil
	case !d.Allowed:
		return &Error{Reason: UserRateLimited, RetryAfter: d.RetryAfter}
	}
	return nil
}

// budget derives the time we may spend from the invocation's deadline,
// keeping a margin to answer before Lambda would cut us off.
func (s *Service) budget(ctx context.Context) (context.Context, context.CancelFunc) {
	if deadline, ok := ctx.Deadline(); ok {
		return context.WithDeadline(ctx, deadline.Add(-s.opts.Margin))
	}
	return context.WithTimeout(ctx, s.opts.Budget)
}

// identify returns the caller's external_id from verified claims only. With
// both the gateway's claims and in-function verification, both must pass and
// agree; with neither, the caller is not identified (fail closed).
func (s *Service) identify(ctx context.Context, req Request) (string, error) {
	var fromGateway, fromToken *string
	if req.GatewayClaims != nil {
		id, err := s.externalID(claimValue(req.GatewayClaims, s.opts.ExternalIDClaim))
		if err != nil {
			return "", err
		}
		fromGateway = &id
	}
	if s.opts.Verifier != nil {
		claims, err := s.opts.Verifier.Verify(ctx, req.BearerToken)
		switch {
		case errors.Is(err, identity.ErrKeysUnavailable):
			return "", &Error{Reason: JWKSUnavailable, Err: err}
		case err != nil:
			return "", &Error{Reason: InvalidToken, Err: err}
		}
		id, err := s.externalID(claims[s.opts.ExternalIDClaim])
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

func (s *Service) externalID(v any) (string, error) {
	id, err := identity.ExternalID(v)
	if err != nil {
		return "", &Error{Reason: ExternalIDClaim, Err: fmt.Errorf("claim %s: %w", s.opts.ExternalIDClaim, err)}
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
