package authcode

import (
	"errors"
	"net/http"
	"time"
)

// Reason names why a request got no code. It is the problem type's last
// part, the Reason dimension of the Denied and Failed metrics and the word
// in the logs; its status, detail and Retry-After are defined once, in specs.
type Reason string

// The reasons, in the order of the contract's table.
const (
	BadRequest           Reason = "bad_request"
	NotFound             Reason = "not_found"
	MethodNotAllowed     Reason = "method_not_allowed"
	BodyTooLarge         Reason = "body_too_large"
	UnsupportedMediaType Reason = "unsupported_media_type"
	InvalidToken         Reason = "invalid_token"
	NoIdentity           Reason = "no_identity"
	IdentityConflict     Reason = "identity_conflict"
	ExternalIDClaim      Reason = "external_id_claim"
	ExternalIDMismatch   Reason = "external_id_mismatch"
	UserRateLimited      Reason = "user_rate_limited"
	SentianceRateLimited Reason = "sentiance_rate_limited"
	KeyRejected          Reason = "key_rejected"
	SentianceError       Reason = "sentiance_error"
	Internal             Reason = "internal"
	KeyUnavailable       Reason = "key_unavailable"
	JWKSUnavailable      Reason = "jwks_unavailable"
	RateLimitUnavailable Reason = "rate_limit_unavailable"
	SentianceTimeout     Reason = "sentiance_timeout"
)

// Spec is what the caller is told for a reason.
type Spec struct {
	Reason Reason
	Status int
	Detail string // safe to show to the app's developers
	// RetryAfter is the default Retry-After of a 429 or 503 (at least 1 s is sent).
	RetryAfter time.Duration
}

// A retry after this long lets a blip in Secrets Manager or the identity
// provider pass without apps hammering the function.
const unavailableRetry = 5 * time.Second

// specs is the table; Reasons lists it in this order.
var specs = []Spec{
	{BadRequest, http.StatusBadRequest, "The body must be a JSON object (base64 allowed) whose external_id, if present, is a string.", 0},
	{NotFound, http.StatusNotFound, "No such route.", 0},
	{MethodNotAllowed, http.StatusMethodNotAllowed, "This route does not take that method; the Allow header names the one it takes.", 0},
	{BodyTooLarge, http.StatusRequestEntityTooLarge, "The body is over 4 KiB.", 0},
	{UnsupportedMediaType, http.StatusUnsupportedMediaType, "Send the body as application/json.", 0},
	{InvalidToken, http.StatusUnauthorized, "The bearer token is missing or not valid.", 0},
	{NoIdentity, http.StatusUnauthorized, "No verified identity came with the request.", 0},
	{IdentityConflict, http.StatusUnauthorized, "The verified identities disagree.", 0},
	{ExternalIDClaim, http.StatusForbidden, "The token's external_id claim (EXTERNAL_ID_CLAIM) cannot identify a user.", 0},
	{ExternalIDMismatch, http.StatusForbidden, "The external_id in the body is not the caller's.", 0},
	{UserRateLimited, http.StatusTooManyRequests, "Too many codes for this user; try again later.", time.Second},
	{SentianceRateLimited, http.StatusTooManyRequests, "Sentiance is rate-limiting requests; try again later.", time.Second},
	{KeyRejected, http.StatusBadGateway, "Sentiance rejected this service's API key.", 0},
	{SentianceError, http.StatusBadGateway, "Sentiance could not issue a code.", 0},
	{Internal, http.StatusBadGateway, "The code could not be issued.", 0},
	{KeyUnavailable, http.StatusServiceUnavailable, "The Sentiance API key could not be loaded.", unavailableRetry},
	{JWKSUnavailable, http.StatusServiceUnavailable, "The identity provider's keys could not be fetched.", unavailableRetry},
	{RateLimitUnavailable, http.StatusServiceUnavailable, "The rate limit could not be checked.", unavailableRetry},
	{SentianceTimeout, http.StatusGatewayTimeout, "Sentiance did not answer in time.", 0},
}

// Spec returns the reason's answer; an unknown reason answers as Internal.
func (r Reason) Spec() Spec {
	for _, s := range specs {
		if s.Reason == r {
			return s
		}
	}
	return Internal.Spec()
}

// Reasons lists every reason: for documentation and the tests
// that hold openapi.yaml and the README to this table.
func Reasons() []Reason {
	all := make([]Reason, len(specs))
	for i, s := range specs {
		all[i] = s.Reason
	}
	return all
}

// Error is a failure the caller is told about. Err (the cause) is for logs
// only; what the caller sees comes from Reason's Spec.
type Error struct {
	Reason Reason
	// RetryAfter, when positive, replaces the reason's default (Sentiance's
	// own Retry-After, or the end of the user's rate-limit window).
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return string(e.Reason) + ": " + e.Err.Error()
	}
	return string(e.Reason)
}

func (e *Error) Unwrap() error { return e.Err }

// Wait is the Retry-After to send with this error.
func (e *Error) Wait() time.Duration {
	if e.RetryAfter > 0 {
		return e.RetryAfter
	}
	return e.Reason.Spec().RetryAfter
}

// AsError returns err as *Error, or an Internal error for anything else.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Reason: Internal, Err: err}
}
