package authcode

import (
	"errors"
	"fmt"
	"net/http"
	"time"
)

// Reason names why a request got no code: the problem type's last part, the
// metrics' Reason dimension and the logs' word; specs defines its answer once.
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

// Spec is what the caller is told for a reason, and what to do about it.
type Spec struct {
	Reason Reason
	Status int
	Detail string // safe to show to the app's developers
	// RetryAfter is the default Retry-After of a 429 or 503 (at least 1 s is sent).
	RetryAfter time.Duration
	Fix        string // for whoever runs the stack: the doctor and the docs say it
}

// A retry after this long lets a blip in Secrets Manager or the identity
// provider pass without apps hammering the function.
const unavailableRetry = 5 * time.Second

const seeLogs = "see the function's logs (the stack's FunctionLogGroup output)"

// specs is the table; Reasons lists it in this order.
var specs = []Spec{
	{BadRequest, http.StatusBadRequest, "The body must be a JSON object (base64 allowed) whose external_id, if present, is a string.", 0, "the app sends no body, or a JSON object"},
	{NotFound, http.StatusNotFound, "No such route.", 0, "call POST /auth-code or GET /auth/code"},
	{MethodNotAllowed, http.StatusMethodNotAllowed, "This route does not take that method; the Allow header names the one it takes.", 0, "use the method the Allow header names"},
	{BodyTooLarge, http.StatusRequestEntityTooLarge, fmt.Sprintf("The body is over %d KiB.", MaxBodyBytes>>10), 0, "the app sends no body, or a small one"},
	{UnsupportedMediaType, http.StatusUnsupportedMediaType, "Send the body as application/json.", 0, "send Content-Type: application/json with a body"},
	{InvalidToken, http.StatusUnauthorized, "The bearer token is missing or not valid: send a current token as Authorization: Bearer <token>.", 0, "the app sends its user's current token as Authorization: Bearer <token>; the doctor's token checks say what is wrong with one"},
	{NoIdentity, http.StatusUnauthorized, "No verified identity came with the request.", 0, "keep the gateway's JWT authorizer on the route, or VerifyTokenInFunction=true"},
	{IdentityConflict, http.StatusUnauthorized, "The verified identities disagree.", 0, "the gateway and the function must accept the same issuer and audience"},
	{ExternalIDClaim, http.StatusForbidden, "The token's external_id claim (EXTERNAL_ID_CLAIM) cannot identify a user.", 0, "set ExternalIdClaim to a claim every token carries as a short string (sub is usually right)"},
	{ExternalIDMismatch, http.StatusForbidden, "The external_id in the body is not the caller's.", 0, "the app leaves external_id out of the body"},
	{UserRateLimited, http.StatusTooManyRequests, "Too many codes for this user; try again later.", time.Second, "wait for Retry-After (PerUserLimit sets the limit)"},
	{SentianceRateLimited, http.StatusTooManyRequests, "Sentiance is rate-limiting requests; try again later.", time.Second, "wait for Retry-After"},
	{KeyRejected, http.StatusBadGateway, "Sentiance rejected this service's API key.", 0, "the key is wrong, expired (keys last a year) or lacks the user_link scope: put a new user_link key in with the stack's PutKeyCommand output"},
	{SentianceError, http.StatusBadGateway, "Sentiance could not issue a code.", 0, "try again; if it persists, " + seeLogs},
	{Internal, http.StatusBadGateway, "The code could not be issued.", 0, seeLogs},
	{KeyUnavailable, http.StatusServiceUnavailable, "The Sentiance API key could not be loaded.", unavailableRetry, "put the key in with the stack's PutKeyCommand output; if it is there, " + seeLogs},
	{JWKSUnavailable, http.StatusServiceUnavailable, "The identity provider's keys could not be fetched.", unavailableRetry, "the issuer's JWKS must be reachable over https; the doctor's jwks check says why it is not"},
	{RateLimitUnavailable, http.StatusServiceUnavailable, "The rate limit could not be checked.", unavailableRetry, "the per-user limit's table could not be reached (RateLimitFailMode=closed): " + seeLogs},
	{SentianceTimeout, http.StatusGatewayTimeout, "Sentiance did not answer in time.", 0, "try again; if it persists, " + seeLogs},
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

// Reasons lists every reason: for the doctor and the tests that hold
// openapi.yaml and the docs to this table.
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

// asError returns err as *Error, or an Internal error for anything else.
func asError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Reason: Internal, Err: err}
}
