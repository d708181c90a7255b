package identity_test

import (
	"errors"
	"testing"

	"github.com/sentiance-authcode/backend/internal/identity"
)

func TestCheckAudience(t *testing.T) {
	accepted := []string{"app-client", "second-app"}
	tests := []struct {
		name   string
		claims map[string]any
		ok     bool
	}{
		{"aud string", map[string]any{"aud": "app-client"}, true},
		{"aud list with ours", map[string]any{"aud": []any{"x", "second-app"}}, true},
		{"client_id when aud is absent", map[string]any{"client_id": "app-client"}, true},
		{"aud wins over client_id", map[string]any{"aud": "other", "client_id": "app-client"}, false},
		{"wrong aud", map[string]any{"aud": "other"}, false},
		{"aud of the wrong type", map[string]any{"aud": 42}, false},
		{"wrong client_id", map[string]any{"client_id": "other"}, false},
		{"neither", map[string]any{"sub": "u"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := identity.CheckAudience(tt.claims, accepted)
			if tt.ok != (err == nil) {
				t.Fatalf("CheckAudience = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, identity.ErrAudience) {
				t.Fatalf("error %v does not wrap ErrAudience", err)
			}
		})
	}
}
