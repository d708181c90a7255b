// Package identity establishes who is calling: it verifies bearer tokens
// against the identity provider's published keys and checks the claim that
// carries the caller's external_id.
package identity

import (
	"errors"
	"fmt"
	"unicode"
	"unicode/utf8"
)

var (
	// ErrInvalidToken: missing, malformed, wrongly signed, expired or meant
	// for someone else (401).
	ErrInvalidToken = errors.New("invalid token")
	// ErrKeysUnavailable: the provider's keys could not be fetched, so the
	// token could not be judged (503, not 401).
	ErrKeysUnavailable = errors.New("identity provider keys unavailable")
	// ErrAudience: meant for another audience; also an ErrInvalidToken.
	ErrAudience = errors.New("audience not accepted")
	// ErrExternalID: a valid token whose external_id claim is unusable (403).
	ErrExternalID = errors.New("unusable external_id claim")
)

// MaxExternalIDBytes bounds the external_id we pass to Sentiance.
const MaxExternalIDBytes = 256

// ExternalID checks the claim: a short non-empty string of valid UTF-8, no
// control characters and no U+FFFD (the JSON decoder's stand-in for bad bytes,
// which would make "user\xff" and "user\xfe" one Sentiance user).
func ExternalID(v any) (string, error) {
	s, ok := v.(string)
	switch {
	case v == nil:
		return "", fmt.Errorf("%w: missing", ErrExternalID)
	case !ok:
		return "", fmt.Errorf("%w: not a string", ErrExternalID)
	case s == "":
		return "", fmt.Errorf("%w: empty", ErrExternalID)
	case len(s) > MaxExternalIDBytes:
		return "", fmt.Errorf("%w: longer than %d bytes", ErrExternalID, MaxExternalIDBytes)
	}
	for _, r := range s {
		switch {
		case r == utf8.RuneError: // an invalid byte, or a U+FFFD a decoder left
			return "", fmt.Errorf("%w: not valid UTF-8", ErrExternalID)
		case unicode.IsControl(r):
			return "", fmt.Errorf("%w: contains control characters", ErrExternalID)
		}
	}
	return s, nil
}
