package authcode

import (
	"errors"
	"time"
)

// Kind classifies a failure; the adapter maps each to an HTTP status.
type Kind int

// The kinds of failure, in the order of the contract's table.
const (
	Unauthenticated Kind = iota + 1 // 401
	Forbidden                       // 403
	RateLimited                     // 429
	Upstream                        // 502
	Unavailable                     // 503
	Timeout                         // 504
)

// Error is a failure the caller is told about. Detail is safe to show;
// Err (the cause) is for logs only.
type Error struct {
	Kind       Kind
	Reason     string // short machine-readable cause, for logs and metrics
	Detail     string
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Reason + ": " + e.Err.Error()
	}
	return e.Reason
}

func (e *Error) Unwrap() error { return e.Err }

// AsError returns err as *Error, or an internal Upstream error for anything else.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return &Error{Kind: Upstream, Reason: "internal", Detail: "The code could not be issued.", Err: err}
}
