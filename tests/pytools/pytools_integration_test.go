package pytools

import (
	"os"
	"strings"
	"testing"
)

// TestPreinstalledTools runs pytools.sh on this machine's PATH: on the dev and
// CI machines the preinstalled tools must be found and nothing installed.
func TestPreinstalledTools(t *testing.T) {
	env := append(os.Environ(), "PYTOOLS_VENV="+t.TempDir())
	out, errOut, code := runScript(t, env, "--plan")
	if code != 0 || errOut != "" {
		t.Fatalf("--plan: exit %d, stderr %q", code, errOut)
	}
	if !strings.HasSuffix(out, "\nplan: use the tools on PATH (no venv)\n") {
		t.Errorf("--plan wants to install:\n%s", out)
	}
	for _, tool := range []string{"moto", "cfn-lint", "aws-sam-translator", "openapi-spec-validator", "PyYAML"} {
		if !strings.Contains(out, "\n"+tool+" ") {
			t.Errorf("no row for %s:\n%s", tool, out)
		}
	}
	if out, errOut, code := runScript(t, env); code != 0 || out != "" || errOut != "" {
		t.Errorf("run: exit %d, stdout %q, stderr %q; want 0 and nothing", code, out, errOut)
	}
}
