package identity

import (
	"encoding/base64"
	"errors"
	"strings"
	"testing"
)

func TestExternalID(t *testing.T) {
	tests := []struct {
		name   string
		v      any
		reason string // in the error; "" means accepted
	}{
		{"plain", "user-42", ""},
		{"unicode", "Zoë_ユーザー", ""},
		{"exactly 256 bytes", strings.Repeat("a", 256), ""},
		{"format character is not a control", "user\u200d42", ""},
		{"missing", nil, "missing"},
		{"empty", "", "empty"},
		{"number", 42.0, "not a string"},
		{"array", []any{"a"}, "not a string"},
		{"object", map[string]any{"id": "a"}, "not a string"},
		{"257 bytes", strings.Repeat("a", 257), "longer than 256 bytes"},
		{"newline", "user\n42", "control characters"},
		{"nul", "user\x0042", "control characters"},
		{"c1 control", "user\u008542", "control characters"},
		{"invalid utf-8", "user\xff42", "not valid UTF-8"},
		{"replacement character (what JSON decoding leaves of invalid UTF-8)", "user\uFFFD42", "not valid UTF-8"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ExternalID(tt.v)
			if tt.reason == "" {
				if err != nil || got != tt.v {
					t.Fatalf("ExternalID(%q) = %q, %v", tt.v, got, err)
				}
				return
			}
			if !errors.Is(err, ErrExternalID) || !strings.Contains(err.Error(), tt.reason) {
				t.Fatalf("ExternalID(%q) err = %v, want ErrExternalID: %s", tt.v, err, tt.reason)
			}
		})
	}
}

// checkSegments names why it refused a token; Verify wraps the reason in
// ErrInvalidToken. Each of its checks has a case here.
func TestCheckSegments(t *testing.T) {
	seg := func(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }
	h := seg(`{"alg":"RS256"}`)
	tests := []struct {
		name, token, reason string // reason "" means accepted
	}{
		{"fine", h + "." + seg(`{"sub":"a","x":{"sub":1},"y":[{"a":1},{"a":2}]}`) + ".sig", ""},
		{"no dots", "abc", "not three segments"},
		{"two segments", h + ".e30", "not three segments"},
		{"four segments", h + ".e30.sig.x", "not three segments"},
		{"header not base64url", "%%%.e30.sig", "segment is not base64url"},
		{"payload not base64url", h + ".e30=.sig", "segment is not base64url"},
		{"payload not JSON", h + "." + seg(`{"sub"`) + ".sig", "segment is not JSON"},
		{"payload empty", h + "..sig", "segment is not JSON"},
		{"trailing data", h + "." + seg(`{"sub":"a"} {}`) + ".sig", "trailing data after JSON value"},
		{"duplicate", h + "." + seg(`{"sub":"a","sub":"b"}`) + ".sig", `duplicate member "sub"`},
		{"case variant at the top", h + "." + seg(`{"sub":"a","SUB":"b"}`) + ".sig", `duplicate member "SUB"`},
		{"Kelvin sign folds to k", h + "." + seg(`{"kid":"a","\u212aid":"b"}`) + ".sig", "duplicate member"},
		{"case variants nested", h + "." + seg(`{"x":{"a":1,"A":2}}`) + ".sig", ""},
		{"duplicate nested", h + "." + seg(`{"x":{"a":1,"a":2}}`) + ".sig", `duplicate member "a"`},
		{"duplicate in an array", h + "." + seg(`{"x":[{"a":1,"a":2}]}`) + ".sig", `duplicate member "a"`},
		{"duplicate in the header", seg(`{"alg":"none","alg":"RS256"}`) + ".e30.sig", `duplicate member "alg"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := checkSegments(tt.token)
			switch {
			case tt.reason == "" && err != nil:
				t.Fatalf("refused: %v", err)
			case tt.reason != "" && (err == nil || !strings.Contains(err.Error(), tt.reason)):
				t.Fatalf("err = %v, want %q", err, tt.reason)
			}
		})
	}
}
