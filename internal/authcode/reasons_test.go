package authcode_test

import (
	"os"
	"regexp"
	"slices"
	"testing"

	"github.com/sentiance-authcode/backend/internal/authcode"
)

// openapi.yaml enumerates exactly the problem types of authcode's one table
// (tests/docs holds docs/api.md's error table to it too).
func TestReasonsDocumented(t *testing.T) {
	spec, err := os.ReadFile("../../openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	var enum []string
	for _, m := range regexp.MustCompile(`(?m)^\s+- (urn:sentiance-auth-code:problem:\S+)$`).FindAllStringSubmatch(string(spec), -1) {
		enum = append(enum, m[1])
	}
	var want []string
	for _, r := range authcode.Reasons() {
		want = append(want, authcode.ProblemTypePrefix+string(r))
	}
	slices.Sort(enum)
	slices.Sort(want)
	if !slices.Equal(enum, want) {
		t.Errorf("openapi.yaml enumerates\n%v\nthe code has\n%v", enum, want)
	}
}
