package deployment

import (
	"encoding/json"
	"fmt"
	"maps"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sentiance-authcode/backend/internal/authcode"
	"github.com/sentiance-authcode/backend/internal/metrics"
	"github.com/sentiance-authcode/backend/internal/pretraffic"
)

// rollbackAlarms are the alarms CodeDeploy watches during a rollout.
var rollbackAlarms = []string{"RollbackErrorsAlarm", "Rollback5xxAlarm", "RollbackSentianceAlarm"}

// sentianceReasons are the reasons of a 5xx that Sentiance caused.
var sentianceReasons = []authcode.Reason{authcode.KeyRejected, authcode.SentianceError, authcode.SentianceTimeout}

// liveAlias is the function's AutoPublishAlias, from the template as written.
func liveAlias(t *testing.T) string {
	t.Helper()
	alias, _ := at(cfnFile(t, "template.yaml"), "Resources", "AuthCodeFunction", "Properties", "AutoPublishAlias").(string)
	if alias == "" {
		t.Fatal("AuthCodeFunction has no AutoPublishAlias")
	}
	return alias
}

// versionOf returns the logical id of the version the alias points to.
func versionOf(t *testing.T, tpl map[string]any, aliasID string) string {
	t.Helper()
	id, _ := at(tpl, "Resources", aliasID, "Properties", "FunctionVersion", "Fn::GetAtt", "0").(string)
	if at(tpl, "Resources", id, "Type") != "AWS::Lambda::Version" {
		t.Fatalf("alias %s points at %v, not a version", aliasID, at(tpl, "Resources", aliasID, "Properties", "FunctionVersion"))
	}
	return id
}

// The API reaches the function only through the alias, and CodeDeploy
// moves the alias: the deployment preference, its type and its alarms.
func TestRolloutThroughTheAlias(t *testing.T) {
	t.Parallel() // each expand runs the SAM translator (about 2 s)
	alias := liveAlias(t)
	aliasID := "AuthCodeFunctionAlias" + alias
	for _, params := range [][]string{nil, {"AlarmEmail=ops@example.com"}} {
		t.Run(fmt.Sprint("params ", params), func(t *testing.T) {
			tpl := expand(t, params...)
			res := at(tpl, "Resources").(map[string]any)
			if at(res, aliasID, "Type") != "AWS::Lambda::Alias" || at(res, aliasID, "Properties", "Name") != alias {
				t.Fatalf("%s = %v, want the alias %q", aliasID, res[aliasID], alias)
			}
			// Every route's integration invokes the alias.
			uri := map[string]any{"Fn::Sub": "arn:${AWS::Partition}:apigateway:${AWS::Region}:lambda:path/2015-03-31/functions/${" + aliasID + "}/invocations"}
			paths := at(res, "HttpApi", "Properties", "Body", "paths").(map[string]any)
			for path, ops := range paths {
				for method, op := range ops.(map[string]any) {
					if got := at(op, "x-amazon-apigateway-integration", "uri"); !jsonEqual(got, uri) {
						t.Errorf("%s %s integrates with %v, want the alias %s", method, path, got, aliasID)
					}
				}
			}
			// And only the alias may be invoked by API Gateway.
			perms := 0
			for id, r := range res {
				if at(r, "Type") == "AWS::Lambda::Permission" && at(r, "Properties", "Principal") == "apigateway.amazonaws.com" {
					perms++
					if got := at(r, "Properties", "FunctionName"); !jsonEqual(got, map[string]any{"Ref": aliasID}) {
						t.Errorf("%s lets API Gateway invoke %v, want the alias", id, got)
					}
				}
			}
			if perms != len(paths) {
				t.Errorf("API Gateway permissions = %d, want one per route (%d)", perms, len(paths))
			}

			update := at(res, aliasID, "UpdatePolicy", "CodeDeployLambdaAliasUpdate")
			if !jsonEqual(at(update, "DeploymentGroupName"), map[string]any{"Ref": "AuthCodeFunctionDeploymentGroup"}) ||
				!jsonEqual(at(update, "BeforeAllowTrafficHook"), map[string]any{"Ref": "PreTrafficCheckFunction"}) {
				t.Errorf("the alias's CodeDeploy update = %v, want the deployment group and the pre-traffic check", update)
			}
			group := at(res, "AuthCodeFunctionDeploymentGroup", "Properties")
			var alarms []string
			for _, a := range at(group, "AlarmConfiguration", "Alarms").([]any) {
				alarms = append(alarms, fmt.Sprint(at(a, "Name", "Ref")))
			}
			if !jsonEqual(at(group, "AlarmConfiguration", "Enabled"), true) || !slices.Equal(alarms, rollbackAlarms) {
				t.Errorf("deployment group alarms = %v (enabled %v), want %v", alarms, at(group, "AlarmConfiguration", "Enabled"), rollbackAlarms)
			}
			if events := asList(at(group, "AutoRollbackConfiguration", "Events")); !jsonEqual(at(group, "AutoRollbackConfiguration", "Enabled"), true) ||
				!slices.Contains(events, "DEPLOYMENT_STOP_ON_ALARM") || !slices.Contains(events, "DEPLOYMENT_FAILURE") {
				t.Errorf("auto rollback = %v, want on alarm and on failure", at(group, "AutoRollbackConfiguration"))
			}
			// Rollback alarms exist whatever AlarmEmail says, and notify no one.
			for _, name := range rollbackAlarms {
				a := at(res, name)
				if at(a, "Type") != "AWS::CloudWatch::Alarm" || at(a, "Condition") != nil || at(a, "Properties", "AlarmActions") != nil {
					t.Errorf("%s = %v, want an unconditional alarm without actions", name, a)
				}
			}
		})
	}
}

// DeploymentType picks CodeDeploy's configuration; the default is gradual.
func TestDeploymentType(t *testing.T) {
	t.Parallel() // each expand runs the SAM translator (about 2 s)
	tpl := expand(t)
	if got := at(tpl, "Parameters", "DeploymentType", "Default"); got == "AllAtOnce" || !strings.HasPrefix(fmt.Sprint(got), "Canary") && !strings.HasPrefix(fmt.Sprint(got), "Linear") {
		t.Errorf("DeploymentType defaults to %v, want a canary or linear type", got)
	}
	groups, _ := json.Marshal(at(tpl, "Metadata", "AWS::CloudFormation::Interface", "ParameterGroups"))
	if !strings.Contains(string(groups), `"DeploymentType"`) {
		t.Error("DeploymentType is in no parameter group")
	}
	for _, v := range asList(at(tpl, "Parameters", "DeploymentType", "AllowedValues")) {
		t.Run(v, func(t *testing.T) {
			t.Parallel()
			got := at(expand(t, "DeploymentType="+v), "Resources", "AuthCodeFunctionDeploymentGroup", "Properties", "DeploymentConfigName")
			want := map[string]any{"Fn::Sub": []any{"CodeDeployDefault.Lambda${ConfigName}", map[string]any{"ConfigName": v}}}
			if !jsonEqual(got, want) {
				t.Errorf("DeploymentConfigName = %v, want %v", got, want)
			}
		})
	}
}

// The rollback alarms read the new version's errors, and the function's own
// 5xx counts by the reasons of its table: every 5xx reason is watched once,
// Sentiance's in their own alarm.
func TestRollbackAlarmsReadTheFunctionsMetrics(t *testing.T) {
	t.Parallel() // each expand runs the SAM translator (about 2 s)
	alias := liveAlias(t)
	tpl := expand(t)
	res := at(tpl, "Resources").(map[string]any)
	version := versionOf(t, tpl, "AuthCodeFunctionAlias"+alias)

	errs := at(res, "RollbackErrorsAlarm", "Properties")
	wantDims := []any{
		map[string]any{"Name": "FunctionName", "Value": map[string]any{"Ref": "AuthCodeFunction"}},
		map[string]any{"Name": "Resource", "Value": map[string]any{"Fn::Sub": "${AuthCodeFunction}:" + alias}},
		map[string]any{"Name": "ExecutedVersion", "Value": map[string]any{"Fn::GetAtt": []any{version, "Version"}}},
	}
	if at(errs, "Namespace") != "AWS/Lambda" || at(errs, "MetricName") != "Errors" || !jsonEqual(at(errs, "Dimensions"), wantDims) {
		t.Errorf("RollbackErrorsAlarm reads %v %v %v, want AWS/Lambda Errors of the new version through the alias: %v",
			at(errs, "Namespace"), at(errs, "MetricName"), at(errs, "Dimensions"), wantDims)
	}

	watched := map[authcode.Reason]string{}
	for _, name := range rollbackAlarms[1:] {
		queries := at(res, name, "Properties", "Metrics").([]any)
		var ids []string
		var expr string
		for _, q := range queries {
			m := at(q, "MetricStat", "Metric")
			if m == nil {
				expr = fmt.Sprint(at(q, "Expression"))
				if at(q, "ReturnData") != true {
					t.Errorf("%s: the expression does not return data", name)
				}
				continue
			}
			reason := authcode.Reason(fmt.Sprint(at(m, "Dimensions", "1", "Value")))
			ids = append(ids, fmt.Sprint(at(q, "Id")))
			if at(q, "ReturnData") != false || at(q, "Id") != string(reason) || !jsonEqual(at(q, "MetricStat", "Stat"), "Sum") {
				t.Errorf("%s: query %v, want id %s, Sum, no data returned", name, q, reason)
			}
			if !jsonEqual(at(m, "Namespace"), map[string]any{"Ref": "MetricsNamespace"}) || at(m, "MetricName") != metrics.Failed ||
				!jsonEqual(at(m, "Dimensions"), []any{map[string]any{"Name": "Service", "Value": metrics.Service}, map[string]any{"Name": "Reason", "Value": string(reason)}}) {
				t.Errorf("%s: query %v does not read the function's %s by Reason", name, at(q, "Id"), metrics.Failed)
			}
			if prev, ok := watched[reason]; ok {
				t.Errorf("%s is watched by both %s and %s", reason, prev, name)
			}
			watched[reason] = name
			if (name == "RollbackSentianceAlarm") != slices.Contains(sentianceReasons, reason) {
				t.Errorf("%s watches %s; Sentiance's reasons are %v, in RollbackSentianceAlarm alone", name, reason, sentianceReasons)
			}
		}
		if want := "SUM([" + strings.Join(ids, ", ") + "])"; expr != want {
			t.Errorf("%s: expression %q, want %q", name, expr, want)
		}
	}
	var want []authcode.Reason
	for _, r := range authcode.Reasons() {
		if r.Spec().Status >= 500 {
			want = append(want, r)
		}
	}
	if got := slices.Sorted(maps.Keys(watched)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("5xx reasons watched = %v, want every 5xx reason of the table: %v", got, want)
	}
}

// The pre-traffic check is wired as CodeDeploy can run it: a name the role
// SAM creates may invoke, the new version to check, least privilege.
func TestPreTrafficCheckWired(t *testing.T) {
	t.Parallel() // each expand runs the SAM translator (about 2 s)
	alias := liveAlias(t)
	tpl := expand(t)
	res := at(tpl, "Resources").(map[string]any)
	version := versionOf(t, tpl, "AuthCodeFunctionAlias"+alias)
	fn := at(res, "PreTrafficCheckFunction", "Properties")

	// CodeDeployHook_ + something unique per stack, at most 64 characters
	// once the stack id's UUID (36 characters) is in.
	name := at(fn, "FunctionName", "Fn::Sub")
	pattern, _ := at(name, "0").(string)
	uuid, _ := json.Marshal(at(name, "1", "StackUuid"))
	if !strings.HasPrefix(pattern, "CodeDeployHook_") || string(uuid) != `{"Fn::Select":[2,{"Fn::Split":["/",{"Ref":"AWS::StackId"}]}]}` {
		t.Errorf("FunctionName = %v, want CodeDeployHook_ and the stack id's UUID", at(fn, "FunctionName"))
	}
	if n := len(regexp.MustCompile(`\$\{StackUuid\}`).ReplaceAllString(pattern, strings.Repeat("u", 36))); n > 64 {
		t.Errorf("FunctionName is %d characters long; Lambda allows 64", n)
	}
	if got := asList(at(res, "CodeDeployServiceRole", "Properties", "ManagedPolicyArns")); !slices.Equal(got, []string{"arn:aws:iam::aws:policy/service-role/AWSCodeDeployRoleForLambda"}) {
		t.Errorf("CodeDeploy's role has %v; the name above is chosen for AWSCodeDeployRoleForLambda (invokes CodeDeployHook_* only)", got)
	}

	// The environment is the one the check reads, pointing at the new version.
	env := at(fn, "Environment", "Variables").(map[string]any)
	var read []string
	pretraffic.FromEnv(func(k string) string { read = append(read, k); return "" })
	if got := slices.Sorted(maps.Keys(env)); !slices.Equal(got, slices.Sorted(slices.Values(read))) {
		t.Errorf("the template sets %v; the check reads %v", got, read)
	}
	if !jsonEqual(env["AUTHCODE_VERSION"], map[string]any{"Ref": version}) || !jsonEqual(env["VERIFY_TOKEN_IN_FUNCTION"], map[string]any{"Ref": "VerifyTokenInFunction"}) {
		t.Errorf("the check's environment = %v, want the alias's version %s and VerifyTokenInFunction", env, version)
	}
	if timeout, _ := at(fn, "Timeout").(float64); timeout <= pretraffic.ProbeTimeout.Seconds() {
		t.Errorf("the check's Timeout = %v s, want more than pretraffic.ProbeTimeout (%v)", at(fn, "Timeout"), pretraffic.ProbeTimeout)
	}
	for _, c := range []struct {
		name      string
		got, want any
	}{
		{"Runtime", at(fn, "Runtime"), "provided.al2023"},
		{"Architectures", at(fn, "Architectures"), []any{"arm64"}},
		{"BuildMethod", at(res, "PreTrafficCheckFunction", "Metadata", "BuildMethod"), "makefile"},
		{"LogGroup", at(fn, "LoggingConfig", "LogGroup"), map[string]any{"Ref": "PreTrafficCheckLogGroup"}},
	} {
		if !jsonEqual(c.got, c.want) {
			t.Errorf("the check's %s = %v, want %v", c.name, c.got, c.want)
		}
	}
	// It takes no traffic and is deployed directly: no alias, no events.
	for id, r := range res {
		if strings.HasPrefix(id, "PreTrafficCheckFunction") && id != "PreTrafficCheckFunction" && id != "PreTrafficCheckFunctionRole" {
			t.Errorf("the check has a %s (%v)", id, at(r, "Type"))
		}
	}

	// Least privilege: invoke the new version, report to this stack's
	// CodeDeploy application; logs through the basic role only.
	role := at(res, "PreTrafficCheckFunctionRole", "Properties")
	if got := asList(at(role, "ManagedPolicyArns")); !slices.Equal(got, []string{"arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole"}) {
		t.Errorf("the check's managed policies = %v", got)
	}
	var grants []string
	for _, p := range at(role, "Policies").([]any) {
		for _, st := range at(p, "PolicyDocument", "Statement").([]any) {
			r, _ := json.Marshal(at(st, "Resource"))
			grants = append(grants, fmt.Sprintf("%v %v on %s", at(st, "Effect"), at(st, "Action"), r))
		}
	}
	want := []string{
		`Allow lambda:InvokeFunction on {"Ref":"` + version + `"}`,
		`Allow codedeploy:PutLifecycleEventHookExecutionStatus on {"Fn::Sub":"arn:${AWS::Partition}:codedeploy:${AWS::Region}:${AWS::AccountId}:deploymentgroup:${ServerlessDeploymentApplication}/*"}`,
	}
	if !slices.Equal(grants, want) {
		t.Errorf("the check may:\n%s\nwant:\n%s", strings.Join(grants, "\n"), strings.Join(want, "\n"))
	}
}

// The outputs the deploy guide's rollback commands use name what they say.
func TestRolloutOutputs(t *testing.T) {
	t.Parallel() // each expand runs the SAM translator (about 2 s)
	tpl := expand(t)
	alias := liveAlias(t)
	for output, want := range map[string][2]string{
		"LiveAlias":               {"AuthCodeFunctionAlias" + alias, "AWS::Lambda::Alias"},
		"DeploymentApplication":   {"ServerlessDeploymentApplication", "AWS::CodeDeploy::Application"},
		"DeploymentGroup":         {"AuthCodeFunctionDeploymentGroup", "AWS::CodeDeploy::DeploymentGroup"},
		"PreTrafficCheckLogGroup": {"PreTrafficCheckLogGroup", "AWS::Logs::LogGroup"},
	} {
		ref := at(tpl, "Outputs", output, "Value", "Ref")
		if ref != want[0] || at(tpl, "Resources", want[0], "Type") != want[1] {
			t.Errorf("output %s = %v, want a Ref to %s (%s)", output, at(tpl, "Outputs", output, "Value"), want[0], want[1])
		}
	}
}
