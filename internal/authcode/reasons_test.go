package authcode_test

import (
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sentiance-authcode/backend/internal/authcode"
)

// openapi.yaml's enumeration of problem types and README.md's error table
// list exactly the reasons of authcode's one table, each under its status.
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

	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	// Rows like "| 401 | `invalid_token`, `no_identity` | when |" or "| 404 / 405 | ...".
	rows := map[string][]string{} // reason -> the statuses of its row
	for _, m := range regexp.MustCompile("(?m)^\\| ([0-9 /]+) \\| (`[a-z_]+`(?:, `[a-z_]+`)*) \\|").FindAllStringSubmatch(string(readme), -1) {
		statuses := strings.Fields(strings.ReplaceAll(m[1], "/", " "))
		for _, name := range regexp.MustCompile("`([a-z_]+)`").FindAllStringSubmatch(m[2], -1) {
			rows[name[1]] = append(rows[name[1]], statuses...)
		}
	}
	for _, r := range authcode.Reasons() {
		if !slices.Contains(rows[string(r)], strconv.Itoa(r.Spec().Status)) {
			t.Errorf("README.md's error table has no row for %s under %d", r, r.Spec().Status)
		}
		delete(rows, string(r))
	}
	for name := range rows {
		t.Errorf("README.md's error table lists %s, which the code does not have", name)
	}
}
