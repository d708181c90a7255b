package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

// Nothing that mints tokens or fakes Sentiance is linked into the artifact:
// none of the developer tools, the test harness, or a test library.
func TestArtifactHoldsNoDevelopmentTools(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	deps := strings.Fields(string(out))
	const mod = "github.com/sentiance-authcode/backend/"
	if !slices.Contains(deps, mod+"internal/app") {
		t.Fatalf("go list -deps does not list internal/app; the check below would prove nothing:\n%s", out)
	}
	for _, dep := range deps {
		if strings.HasPrefix(dep, mod+"devtools/") || strings.HasPrefix(dep, mod+"tests/") ||
			dep == "testing" || dep == "net/http/httptest" {
			t.Errorf("the Lambda artifact links %s", dep)
		}
	}
}
