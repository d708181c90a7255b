package deployment

import (
	"maps"
	"regexp"
	"slices"
	"testing"
)

// samconfig.toml as shipped cannot deploy a stack: JwtIssuer and JwtAudience
// get a value neither from the template nor from samconfig, so CloudFormation
// refuses the stack ("Parameters: [JwtIssuer, JwtAudience] must have values")
// until the user gives theirs, instead of deploying one that answers 401 to
// every token. Pressing Enter at the guided prompt does not help either: it
// gives "", which their patterns refuse.
func TestSamconfigLeavesIssuerAndAudienceUnset(t *testing.T) {
	cfg := readSamconfig(t)
	params := at(expand(t), "Parameters").(map[string]any)
	// staging and prod get the team's values once they are known; until
	// then they are unset too (TestSamconfigEnvironments checks any value).
	for _, es := range [][2]string{{"default", "deploy"}, {"default", "sync"}} {
		t.Run(es[0]+"."+es[1], func(t *testing.T) {
			raw, _ := samEnv(cfg, es[0], es[1])["parameter_overrides"].(string)
			overrides := parameterOverrides(raw)
			// What CloudFormation would be left without: no Default, no override.
			var unset []string
			for name, p := range params {
				if _, ok := p.(map[string]any)["Default"]; ok {
					continue
				}
				if _, ok := overrides[name]; !ok {
					unset = append(unset, name)
				}
			}
			slices.Sort(unset)
			if want := []string{"JwtAudience", "JwtIssuer"}; !slices.Equal(unset, want) {
				t.Errorf("parameters without a value = %v, want exactly %v", unset, want)
			}
			for _, name := range []string{"JwtIssuer", "JwtAudience"} {
				pattern, _ := at(params, name, "AllowedPattern").(string)
				if pattern == "" || regexp.MustCompile(pattern).MatchString("") {
					t.Errorf("%s accepts an empty value (pattern %q): the guided prompt's empty default would deploy", name, pattern)
				}
			}
		})
	}
}

// pipelineEnvs are the environments the pipeline deploys, in order; the
// workflow's --config-env values are held to them.
var pipelineEnvs = []string{"staging", "prod"}

// samEnv is what `sam <command> --config-env env` reads from samconfig.toml:
// SAM CLI merges [env.global.parameters] with [env.<command>.parameters],
// the command's table winning.
func samEnv(cfg map[string]any, env, command string) map[string]any {
	out := map[string]any{}
	for _, table := range []string{"global", command} {
		if m, ok := at(cfg, env, table, "parameters").(map[string]any); ok {
			maps.Copy(out, m)
		}
	}
	return out
}

// `sam deploy --config-env staging` and `--config-env prod` reach two
// stacks of their own, with their own secret, metrics and parameters, and
// run without a prompt; the default environment stays the guided first
// deploy. Their JwtIssuer and JwtAudience, once the team adds them, must be
// values the template accepts (checkOverrides).
func TestSamconfigEnvironments(t *testing.T) {
	cfg := readSamconfig(t)
	params := at(expand(t), "Parameters").(map[string]any)
	stacks, namespaces := map[string]string{}, map[string]string{}
	overrides := map[string]map[string]string{}
	for _, env := range append([]string{"default"}, pipelineEnvs...) {
		deploy := samEnv(cfg, env, "deploy")
		stack, _ := deploy["stack_name"].(string)
		raw, _ := deploy["parameter_overrides"].(string)
		o := parameterOverrides(raw)
		t.Run(env, func(t *testing.T) {
			if prev, ok := stacks[stack]; ok || stack == "" {
				t.Errorf("stack_name %q (shared with %q)", stack, prev)
			}
			checkOverrides(t, params, raw)
			if ns := o["MetricsNamespace"]; namespaces[ns] != "" {
				t.Errorf("MetricsNamespace %q is %s's too: their metrics, and rollback alarms, would mix", ns, namespaces[ns])
			}
			if deploy["capabilities"] != "CAPABILITY_IAM" {
				t.Errorf("capabilities = %v", deploy["capabilities"])
			}
			if env == "default" {
				return
			}
			// Deployed by the pipeline: nothing to confirm, its own bucket.
			if deploy["confirm_changeset"] != false || deploy["resolve_s3"] != nil || deploy["s3_prefix"] != stack || deploy["fail_on_empty_changeset"] != false {
				t.Errorf("confirm_changeset %v, resolve_s3 %v, s3_prefix %v, fail_on_empty_changeset %v; want false, unset (the pipeline passes --s3-bucket), the stack name, false",
					deploy["confirm_changeset"], deploy["resolve_s3"], deploy["s3_prefix"], deploy["fail_on_empty_changeset"])
			}
			// The environment's own secret and Sentiance app, stated here
			// (empty: the stack creates the secret; no app id echoed).
			for _, name := range []string{"UserLinkSecretArn", "SentianceAppId"} {
				if _, ok := o[name]; !ok {
					t.Errorf("%s is not in the environment's parameter_overrides", name)
				}
			}
		})
		stacks[stack], namespaces[o["MetricsNamespace"]], overrides[env] = env, env, o
	}
	if maps.Equal(overrides["staging"], overrides["prod"]) {
		t.Error("staging and prod have the same parameters")
	}
	if got := overrides["prod"]["DeploymentType"]; got == "" || got == "AllAtOnce" {
		t.Errorf("prod's DeploymentType = %q, want a gradual one", got)
	}
}
