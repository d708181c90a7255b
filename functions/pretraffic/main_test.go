package main

import (
	"os/exec"
	"slices"
	"strings"
	"testing"
)

func deps(t *testing.T, pkg string) []string {
	t.Helper()
	out, err := exec.Command("go", "list", "-deps", "-tags", "lambda.norpc", pkg).Output()
	if err != nil {
		t.Fatalf("go list %s: %v", pkg, err)
	}
	return strings.Fields(string(out))
}

const mod = "github.com/sentiance-authcode/backend/"

// The check is its own artifact: the auth-code function links none of it
// (nor the clients it alone needs), and the check links nothing that mints
// tokens or fakes Sentiance.
func TestArtifactsAreSeparate(t *testing.T) {
	hook, fn := deps(t, "."), deps(t, "../authcode")
	if !slices.Contains(hook, mod+"internal/pretraffic") || !slices.Contains(fn, mod+"internal/app") {
		t.Fatal("go list -deps does not list the packages it should; the checks below would prove nothing")
	}
	for _, dep := range fn {
		if dep == mod+"internal/pretraffic" || strings.HasPrefix(dep, "github.com/aws/aws-sdk-go-v2/service/codedeploy") ||
			strings.HasPrefix(dep, "github.com/aws/aws-sdk-go-v2/service/lambda") {
			t.Errorf("the auth-code function links %s", dep)
		}
	}
	for _, dep := range hook {
		if strings.HasPrefix(dep, mod+"devtools/") || strings.HasPrefix(dep, mod+"tests/") ||
			dep == mod+"internal/app" || dep == "testing" || dep == "net/http/httptest" {
			t.Errorf("the pre-traffic check links %s", dep)
		}
	}
}
