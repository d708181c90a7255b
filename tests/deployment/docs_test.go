package deployment

import (
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sentiance-authcode/backend/internal/authcode"
)

const deploysDoc = "docs/deploys.md"

// Every name docs/deploys.md gives a reader to type or look for exists:
// make targets, samconfig environments and stacks, stack outputs, the
// alias, parameters and their values, alarms and the reasons each reads,
// the pipeline role's parameters and outputs, the workflow's variables and
// secret, and the files it points to.
func TestDeploysDoc(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(root, deploysDoc))
	if err != nil {
		t.Fatal(err)
	}
	doc := string(raw)
	if n := strings.Count(doc, "\n"); n > 150 {
		t.Errorf("%s is %d lines; keep it under 150", deploysDoc, n)
	}
	tpl := expand(t)
	cfg := readSamconfig(t)
	role := cfnFile(t, pipelineRole)
	deployYML, err := os.ReadFile(filepath.Join(root, ".github/workflows/deploy.yml"))
	if err != nil {
		t.Fatal(err)
	}
	all := func(pattern string) []string {
		var out []string
		// The first group that matched, for patterns with alternatives.
		for _, m := range regexp.MustCompile(pattern).FindAllStringSubmatch(doc, -1) {
			for _, g := range m[1:] {
				if g != "" {
					out = append(out, g)
					break
				}
			}
		}
		if len(out) == 0 {
			t.Errorf("%s has nothing matching %s; this check would prove nothing", deploysDoc, pattern)
		}
		return out
	}
	check := func(what string, names []string, ok func(string) bool) {
		t.Helper()
		for _, n := range names {
			if !ok(n) {
				t.Errorf("%s names %s %q, which does not exist", deploysDoc, what, n)
			}
		}
	}

	targets := makeTargets(t)
	check("make target", all("`make ([a-z][a-z-]*)"), func(n string) bool { return slices.Contains(targets, n) })
	check("make target", all(`(?m)^make ([a-z][a-z-]*)`+"|`make ([a-z-]+) "), func(n string) bool { return slices.Contains(targets, n) })
	check("samconfig environment", all("--config-env ([a-z]+)"), func(n string) bool { return at(cfg, n, "deploy", "parameters") != nil })
	check("samconfig environment", all("(?m)^\\| `([a-z]+)` \\|"), func(n string) bool { return at(cfg, n) != nil })
	stacks := map[string]string{}
	for env := range cfg {
		if s, ok := samEnv(cfg, env, "deploy")["stack_name"].(string); ok {
			stacks[s] = env
		}
	}
	check("app stack", all(`(sentiance-auth-code(?:-[a-z]+)*)`), func(n string) bool {
		_, ok := stacks[n]
		return ok || strings.HasPrefix(n, "sentiance-auth-code-pipeline-")
	})
	// The table's stack and traffic columns are each environment's.
	for _, m := range regexp.MustCompile("(?m)^\\| `([a-z]+)` \\| `([a-z-]+)` \\| .* \\| `?([A-Za-z0-9]+)`? \\|$").FindAllStringSubmatch(doc, -1) {
		if stacks[m[2]] != m[1] {
			t.Errorf("the table gives %s the stack %s; samconfig.toml gives it %v", m[1], m[2], samEnv(cfg, m[1], "deploy")["stack_name"])
		}
		if m[1] != "default" {
			raw, _ := samEnv(cfg, m[1], "deploy")["parameter_overrides"].(string)
			if got := parameterOverrides(raw)["DeploymentType"]; got != m[3] {
				t.Errorf("the table says %s deploys %s; samconfig.toml says %q", m[1], m[3], got)
			}
		}
	}
	check("stack output", all(`\$\(out (\w+)\)|\x60(\w+)\x60 output`), func(n string) bool { return at(tpl, "Outputs", n) != nil })
	check("alias", all(`--name (\w+)`+"|alias `(\\w+)`"), func(n string) bool { return n == liveAlias(t) })
	check("template resource", all("`((?:Rollback\\w*|PreTraffic\\w*)(?:Alarm|Function))`"), func(n string) bool { return at(tpl, "Resources", n) != nil })
	deploymentTypes := asList(at(tpl, "Parameters", "DeploymentType", "AllowedValues"))
	check("DeploymentType value", all("`((?:Canary|Linear|AllAtOnce)\\w*)`"), func(n string) bool { return slices.Contains(deploymentTypes, n) })
	if def := at(tpl, "Parameters", "DeploymentType", "Default"); !strings.Contains(doc, "the default,\n   `"+def.(string)+"`") {
		t.Errorf("%s does not name %v as the default DeploymentType", deploysDoc, def)
	}
	check("template parameter", all("`(\\w+)=(?:false|true)`|`(AlarmEmail)`|`(JwtIssuer)=|`(JwtAudience)=|`(SentianceAppId)="), func(n string) bool {
		return at(tpl, "Parameters", n) != nil
	})

	// Each rollback alarm's row names exactly the reasons it reads.
	res := at(tpl, "Resources").(map[string]any)
	for _, name := range rollbackAlarms[1:] {
		row := regexp.MustCompile("(?m)^\\| `" + name + "` \\|.*$").FindString(doc)
		var inRow, inAlarm []string
		for _, r := range authcode.Reasons() {
			if strings.Contains(row, "`"+string(r)+"`") {
				inRow = append(inRow, string(r))
			}
		}
		for _, q := range at(res, name, "Properties", "Metrics").([]any) {
			if at(q, "MetricStat") != nil {
				inAlarm = append(inAlarm, at(q, "Id").(string))
			}
		}
		slices.Sort(inRow)
		slices.Sort(inAlarm)
		if !slices.Equal(inRow, inAlarm) {
			t.Errorf("the table gives %s the reasons %v; the template %v", name, inRow, inAlarm)
		}
	}

	// The pipeline role's parameters, their values, and its outputs.
	check("pipeline role parameter", all(`\b(GitHub\w+|AppStackName)=`), func(n string) bool { return at(role, "Parameters", n) != nil })
	envs := asList(at(role, "Parameters", "GitHubEnvironment", "AllowedValues"))
	check("GitHub environment", all(`GitHubEnvironment=(\w+)`), func(n string) bool { return slices.Contains(envs, n) })
	check("app stack", all(`AppStackName=([\w-]+)`), func(n string) bool { _, ok := stacks[n]; return ok })
	check("pipeline role output", all(`<(\w+Arn|ArtifactsBucket)>|(OidcProviderArn) output`), func(n string) bool { return at(role, "Outputs", n) != nil })
	check("workflow variable", all(`gh variable set (\w+)`), func(n string) bool { return strings.Contains(string(deployYML), "vars."+n+" }}") })
	check("workflow secret", all(`gh secret set\s+(\w+)`), func(n string) bool { return strings.Contains(string(deployYML), "secrets."+n+" }}") })
	check("file", all("`((?:\\.github|deploy|tests|docs)/[\\w./-]+)`"), func(n string) bool {
		_, err := os.Stat(filepath.Join(root, n))
		return err == nil
	})
}
