package deployment

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const pipelineRole = "deploy/pipeline-role.yaml"

// yamlFile decodes a YAML file with PyYAML. YAML 1.1 reads a workflow's
// `on:` key as true; it is put back under "on".
func yamlFile(t *testing.T, path string) map[string]any {
	t.Helper()
	needModule(t, "yaml", "pip install pyyaml (comes with cfn-lint)")
	out := runOnce(t, "python3", "-c", "import json,sys,yaml; d=yaml.safe_load(open(sys.argv[1])); True in d and d.update(on=d.pop(True)); json.dump(d, sys.stdout, default=str)", filepath.Join(root, path))
	var doc map[string]any
	if err := json.Unmarshal(out, &doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

// cfnFile decodes a CloudFormation template as cfn-lint does (short-form
// intrinsics such as !Sub become their long form).
func cfnFile(t *testing.T, path string) map[string]any {
	t.Helper()
	needModule(t, "cfnlint", "pip install cfn-lint (preinstalled on these machines)")
	out := runOnce(t, "python3", "-c", "import json,sys; from cfnlint.decode import decode; t,m = decode(sys.argv[1]); sys.exit(str(m)) if m else json.dump(t, sys.stdout, default=str)", filepath.Join(root, path))
	var tpl map[string]any
	if err := json.Unmarshal(out, &tpl); err != nil {
		t.Fatal(err)
	}
	return tpl
}

// workflows returns every workflow file, decoded, by name.
func workflows(t *testing.T) map[string]map[string]any {
	t.Helper()
	paths, _ := filepath.Glob(filepath.Join(root, ".github/workflows/*.yml"))
	if len(paths) < 2 {
		t.Fatalf("workflows = %v, want test.yml and deploy.yml", paths)
	}
	out := map[string]map[string]any{}
	for _, p := range paths {
		rel, _ := filepath.Rel(root, p)
		out[filepath.Base(p)] = yamlFile(t, rel)
	}
	return out
}

// jobs returns a workflow's jobs by id.
func jobs(wf map[string]any) map[string]any {
	j, _ := wf["jobs"].(map[string]any)
	return j
}

// steps returns a job's steps.
func steps(job any) []any {
	s, _ := at(job, "steps").([]any)
	return s
}

// makeTargets returns the targets the Makefile defines.
func makeTargets(t *testing.T) []string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	var targets []string
	for _, m := range regexp.MustCompile(`(?m)^([A-Za-z][A-Za-z0-9_-]*):`).FindAllStringSubmatch(string(raw), -1) {
		targets = append(targets, m[1])
	}
	return targets
}

// The commands the workflows run exist: make targets of the Makefile, sam
// build and sam deploy with flags that mean something, environments of
// samconfig.toml in the pipeline's order, the doctor on staging's stack.
func TestWorkflowsCallWhatExists(t *testing.T) {
	targets := makeTargets(t)
	cfg := readSamconfig(t)
	samFlags := map[string][]string{
		"build":  {},
		"deploy": {"--config-env", "--s3-bucket", "--role-arn", "--no-progressbar"},
	}
	var envs []string
	ran := map[string]bool{}
	for name, wf := range workflows(t) {
		for id, job := range jobs(wf) {
			for _, st := range steps(job) {
				script, _ := at(st, "run").(string)
				if strings.Contains(script, "secrets.") {
					t.Errorf("%s %s: a secret on a command line: %q", name, id, script)
				}
				for _, line := range strings.Split(script, "\n") {
					f := strings.Fields(line)
					switch {
					case len(f) > 0 && f[0] == "make":
						for _, a := range f[1:] {
							if strings.HasPrefix(a, "-") || strings.Contains(a, "=") {
								continue
							}
							ran["make "+a] = true
							if !slices.Contains(targets, a) {
								t.Errorf("%s %s runs make %s; the Makefile has no such target", name, id, a)
							}
						}
						for _, a := range f[1:] {
							if stack, ok := strings.CutPrefix(a, "STACK="); ok {
								if want := samEnv(cfg, "staging", "deploy")["stack_name"]; stack != want {
									t.Errorf("%s %s: the doctor checks %s; staging's stack is %v", name, id, stack, want)
								}
							}
						}
					case len(f) > 1 && f[0] == "sam":
						allowed, ok := samFlags[f[1]]
						if !ok {
							t.Errorf("%s %s runs sam %s; the pipeline uses build and deploy", name, id, f[1])
						}
						ran["sam "+f[1]] = true
						for i, a := range f[2:] {
							if !strings.HasPrefix(a, "--") {
								continue
							}
							if !slices.Contains(allowed, a) {
								t.Errorf("%s %s: sam %s %s: not a flag this test knows", name, id, f[1], a)
							}
							if a == "--config-env" && i+3 < len(f) {
								env := f[i+3]
								envs = append(envs, env)
								if at(cfg, env, "deploy", "parameters") == nil {
									t.Errorf("%s %s deploys --config-env %s; samconfig.toml has no [%s.deploy.parameters]", name, id, env, env)
								}
							}
						}
					}
				}
			}
		}
	}
	slices.Sort(envs)
	if want := slices.Sorted(slices.Values(pipelineEnvs)); !slices.Equal(envs, want) {
		t.Errorf("the workflows deploy %v, want each of %v once", envs, want)
	}
	for _, cmd := range []string{"make test", "make doctor", "sam build", "sam deploy"} {
		if !ran[cmd] {
			t.Errorf("no workflow runs %s", cmd)
		}
	}
}

// The pipeline's shape: test, one build, staging with the doctor, then prod
// behind the production environment; the same artifact throughout; OIDC
// only where AWS is reached; every action pinned by commit.
func TestDeployWorkflow(t *testing.T) {
	wfs := workflows(t)
	deploy, test := wfs["deploy.yml"], wfs["test.yml"]
	if deploy == nil || test == nil {
		t.Fatal("deploy.yml or test.yml is missing")
	}
	// Pushes to main and tags reach test.yml through deploy.yml's call.
	on, _ := at(test, "on").(map[string]any)
	for _, event := range []string{"pull_request", "push", "workflow_call"} {
		if _, ok := on[event]; !ok {
			t.Errorf("test.yml does not run on %s (it runs on %v)", event, on)
		}
	}
	if at(on, "pull_request") != nil || !jsonEqual(at(on, "push", "branches-ignore"), []any{"main"}) {
		t.Errorf("test.yml runs on %v, want every pull request and every push deploy.yml does not test", on)
	}
	if !jsonEqual(at(deploy, "on", "push", "branches"), []any{"main"}) || at(deploy, "on", "push", "tags") == nil {
		t.Errorf("deploy.yml runs on %v, want pushes to main and tags", at(deploy, "on"))
	}
	for name, wf := range wfs {
		if !jsonEqual(wf["permissions"], map[string]any{"contents": "read"}) {
			t.Errorf("%s: workflow permissions %v, want contents: read alone", name, wf["permissions"])
		}
	}
	j := jobs(deploy)
	for _, c := range []struct{ job, needs, env string }{
		{"build", "test", ""}, {"staging", "build", "staging"}, {"prod", "staging", "production"},
	} {
		if at(j, c.job, "needs") != c.needs || fmt.Sprint(at(j, c.job, "environment")) != c.env && c.env != "" {
			t.Errorf("job %s needs %v in environment %v; want %s, %q", c.job, at(j, c.job, "needs"), at(j, c.job, "environment"), c.needs, c.env)
		}
	}
	if at(j, "test", "uses") != "./.github/workflows/test.yml" {
		t.Errorf("deploy.yml's test job = %v, want test.yml", at(j, "test"))
	}
	var uploaded string
	for id, job := range j {
		usesOIDC := false
		for _, st := range steps(job) {
			uses, _ := at(st, "uses").(string)
			switch {
			case strings.HasPrefix(uses, "aws-actions/configure-aws-credentials@"):
				usesOIDC = true
				if at(st, "with", "role-to-assume") != "${{ vars.AWS_DEPLOY_ROLE_ARN }}" || at(st, "with", "aws-access-key-id") != nil {
					t.Errorf("job %s: credentials %v, want the environment's role through OIDC", id, at(st, "with"))
				}
			case strings.HasPrefix(uses, "actions/upload-artifact@"):
				uploaded = fmt.Sprint(at(st, "with", "name"))
			case strings.HasPrefix(uses, "actions/download-artifact@"):
				if got := fmt.Sprint(at(st, "with", "name")); got != "sam-build" {
					t.Errorf("job %s downloads %s", id, got)
				}
			}
			if strings.Contains(fmt.Sprint(at(st, "run")), "sam build") && id != "build" {
				t.Errorf("job %s builds again; it must deploy the build job's artifact", id)
			}
		}
		perms := at(job, "permissions")
		if usesOIDC != (at(perms, "id-token") == "write") {
			t.Errorf("job %s: id-token %v while it assumes a role: %v; want write exactly where AWS is reached", id, at(perms, "id-token"), usesOIDC)
		}
		if usesOIDC && at(job, "environment") == nil {
			t.Errorf("job %s reaches AWS outside a GitHub environment; the role trusts environments only", id)
		}
	}
	if uploaded != "sam-build" {
		t.Errorf("the build job uploads %q, want sam-build", uploaded)
	}
	// The token reaches the doctor through the environment only.
	for _, st := range steps(j["staging"]) {
		if strings.Contains(fmt.Sprint(at(st, "run")), "make doctor") && !strings.HasPrefix(fmt.Sprint(at(st, "env", "AUTHCODE_TOKEN")), "${{ secrets.") {
			t.Errorf("the doctor step's AUTHCODE_TOKEN = %v, want a repository secret", at(st, "env", "AUTHCODE_TOKEN"))
		}
	}

	// Every action is pinned by a full commit, its version in a comment.
	pinned := regexp.MustCompile(`^\s*(?:-\s+)?uses:\s+([\w.-]+/[\w.-]+)@([0-9a-f]{40}) # v\d+(\.\d+)*$`)
	for name := range wfs {
		raw, err := os.ReadFile(filepath.Join(root, ".github/workflows", name))
		if err != nil {
			t.Fatal(err)
		}
		for i, line := range strings.Split(string(raw), "\n") {
			if !strings.Contains(line, "uses:") || strings.Contains(line, "uses: ./") {
				continue
			}
			if !pinned.MatchString(line) {
				t.Errorf("%s:%d: %s: not pinned by a full commit SHA with a # vX comment", name, i+1, strings.TrimSpace(line))
			}
		}
	}
}

// The pipeline's role: only one GitHub environment of one repository can
// assume it, by OIDC; what it and CloudFormation's role may do is scoped to
// the app stack; its outputs are the workflow's variables.
func TestPipelineRole(t *testing.T) {
	need(t, "cfn-lint", "pip install cfn-lint (preinstalled on these machines)")
	if out, err := exec.Command("cfn-lint", filepath.Join(root, pipelineRole)).CombinedOutput(); err != nil || len(strings.TrimSpace(string(out))) > 0 {
		t.Fatalf("cfn-lint %s (%v):\n%s", pipelineRole, err, out)
	}
	tpl := cfnFile(t, pipelineRole)
	res := at(tpl, "Resources").(map[string]any)

	if at(res, "GitHubOidcProvider", "Properties", "Url") != "https://token.actions.githubusercontent.com" ||
		!jsonEqual(at(res, "GitHubOidcProvider", "Properties", "ClientIdList"), []any{"sts.amazonaws.com"}) {
		t.Errorf("OIDC provider = %v", at(res, "GitHubOidcProvider"))
	}
	trust := at(res, "DeployRole", "Properties", "AssumeRolePolicyDocument", "Statement").([]any)
	wantCond := map[string]any{"StringEquals": map[string]any{
		"token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
		"token.actions.githubusercontent.com:sub": map[string]any{"Fn::Sub": "repo:${GitHubRepository}:environment:${GitHubEnvironment}"},
	}}
	if len(trust) != 1 || at(trust[0], "Effect") != "Allow" || at(trust[0], "Action") != "sts:AssumeRoleWithWebIdentity" ||
		!jsonEqual(at(trust[0], "Principal", "Federated"), map[string]any{"Fn::If": []any{"CreateOidcProvider", map[string]any{"Ref": "GitHubOidcProvider"}, map[string]any{"Ref": "GitHubOidcProviderArn"}}}) ||
		!jsonEqual(at(trust[0], "Condition"), wantCond) {
		t.Errorf("DeployRole trusts %v;\nwant GitHub's OIDC provider, audience sts.amazonaws.com and sub pinned to the repository's environment", trust)
	}
	// The environments the role can be made for are the deploy jobs'.
	var envs []string
	for _, job := range jobs(workflows(t)["deploy.yml"]) {
		if at(job, "permissions", "id-token") == "write" {
			envs = append(envs, fmt.Sprint(at(job, "environment")))
		}
	}
	if got := asList(at(tpl, "Parameters", "GitHubEnvironment", "AllowedValues")); !slices.Equal(slices.Sorted(slices.Values(got)), slices.Sorted(slices.Values(envs))) {
		t.Errorf("GitHubEnvironment allows %v; the deploy jobs run in %v", got, envs)
	}
	execTrust, _ := json.Marshal(at(res, "ExecutionRole", "Properties", "AssumeRolePolicyDocument"))
	if !strings.Contains(string(execTrust), `{"Service":"cloudformation.amazonaws.com"}`) || strings.Count(string(execTrust), `"Effect"`) != 1 {
		t.Errorf("ExecutionRole trusts %s, want CloudFormation alone", execTrust)
	}

	// No wildcard action; a "*" resource only for reads and the log
	// delivery API Gateway's access logs need.
	anyResource := []string{"logs:DescribeLogGroups", "logs:CreateLogDelivery", "logs:GetLogDelivery", "logs:UpdateLogDelivery", "logs:DeleteLogDelivery",
		"logs:ListLogDeliveries", "logs:PutResourcePolicy", "logs:DescribeResourcePolicies", "cloudwatch:DescribeAlarms", "codedeploy:GetDeploymentConfig"}
	services := map[string]bool{}
	for _, role := range []string{"DeployRole", "ExecutionRole"} {
		for _, p := range at(res, role, "Properties", "Policies").([]any) {
			for _, st := range at(p, "PolicyDocument", "Statement").([]any) {
				if at(st, "NotAction") != nil || at(st, "NotResource") != nil || at(st, "Effect") != "Allow" {
					t.Errorf("%s: statement %v; want plain Allow statements", role, st)
				}
				for _, a := range asList(at(st, "Action")) {
					if a == "*" || a == "iam:*" || a == "s3:*" || a == "sts:*" {
						t.Errorf("%s may %s", role, a)
					}
					if at(st, "Resource") == "*" && !slices.Contains(anyResource, a) {
						t.Errorf("%s may %s on any resource", role, a)
					}
					if role == "ExecutionRole" {
						services[strings.Split(a, ":")[0]] = true
					}
				}
			}
		}
	}
	// CloudFormation's role reaches every service the app stack has
	// resources in, all options on.
	app := expand(t, "AlarmEmail=ops@example.com", "PerUserLimit=5/1m", "CorsAllowedOrigins=https://app.example.com")
	for id, r := range at(app, "Resources").(map[string]any) {
		svc := strings.ToLower(strings.Split(fmt.Sprint(at(r, "Type")), "::")[1])
		if svc == "apigatewayv2" {
			svc = "apigateway" // IAM's prefix for both API Gateway versions
		}
		if !services[svc] {
			t.Errorf("the app stack's %s (%v) is in %s, which ExecutionRole may not touch", id, at(r, "Type"), svc)
		}
	}

	// Its outputs are the GitHub environment variables deploy.yml reads.
	deployYML, err := os.ReadFile(filepath.Join(root, ".github/workflows/deploy.yml"))
	if err != nil {
		t.Fatal(err)
	}
	varName := regexp.MustCompile(`^GitHub environment variable (\w+)\.$`)
	seen := 0
	for name, o := range at(tpl, "Outputs").(map[string]any) {
		m := varName.FindStringSubmatch(fmt.Sprint(at(o, "Description")))
		if m == nil {
			continue
		}
		seen++
		if !strings.Contains(string(deployYML), "vars."+m[1]+" }}") {
			t.Errorf("output %s is variable %s, which deploy.yml does not read", name, m[1])
		}
	}
	for _, m := range regexp.MustCompile(`vars\.(\w+)`).FindAllStringSubmatch(string(deployYML), -1) {
		if m[1] != "AWS_REGION" && !regexp.MustCompile(`GitHub environment variable `+m[1]+`\.`).MatchString(fmt.Sprint(at(tpl, "Outputs"))) {
			t.Errorf("deploy.yml reads vars.%s, which no output of %s gives", m[1], pipelineRole)
		}
	}
	if seen != 3 {
		t.Errorf("outputs naming a variable = %d, want 3 (role, execution role, bucket)", seen)
	}
}
