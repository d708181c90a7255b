package identity

import (
	"errors"
	"strings"
	"testing"
)

func TestExternalID(t *testing.T) {
	tests := []struct {
		name string
		v    any
		ok   bool
	}{
		{"plain", "user-42", true},
		{"unicode", "Zoë_ユーザー", true},
		{"exactly 256 bytes", strings.Repeat("a", 256), true},
		{"missing", nil, false},
		{"empty", "", false},
		{"number", 42.0, false},
		{"array", []any{"a"}, false},
		{"object", map[string]any{"id": "a"}, false},
		{"257 bytes", strings.Repeat("a", 257), false},
		{"newline", "user\n42", false},
		{"nul", "user\x0042", false},
		{"c1 control", "user\u008542", false},
		{"invalid utf-8", "user\xff42", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ExternalID(tt.v)
			if tt.ok {
				if err != nil || got != tt.v {
					t.Fatalf("ExternalID(%q) = %q, %v", tt.v, got, err)
				}
				return
			}
			if !errors.Is(err, ErrExternalID) {
				t.Fatalf("ExternalID(%q) err = %v, want ErrExternalID", tt.v, err)
			}
		})
	}
}
