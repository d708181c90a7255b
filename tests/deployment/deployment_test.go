package deployment

import (
	"bytes"
	"debug/elf"
	"encoding/json"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"

	"github.com/sentiance-authcode/backend/devtools/local"
	"github.com/sentiance-authcode/backend/internal/app"
	"github.com/sentiance-authcode/backend/internal/authcode"
	"github.com/sentiance-authcode/backend/internal/metrics"
	"github.com/sentiance-authcode/backend/tests/testenv"
)

const root = "../.."

// need fails the test with an install hint when a tool is missing.
func need(t *testing.T, tool, install string) {
	t.Helper()
	if _, err := exec.LookPath(tool); err != nil {
		t.Fatalf("%s not found: %s", tool, install)
	}
}

// needModule fails the test with an install hint when a Python module is missing.
func needModule(t *testing.T, module, install string) {
	t.Helper()
	need(t, "python3", "install Python 3 (apt-get install python3)")
	if _, ok := outputs.Load("import " + module); ok {
		return
	}
	if err := exec.Command("python3", "-c", "import "+module).Run(); err != nil {
		t.Fatalf("Python module %s not found: %s", module, install)
	}
	outputs.Store("import "+module, []byte{})
}

// outputs keeps what runOnce's commands printed in this run: the Python
// tools take seconds to start, and most tests ask them the same thing.
var outputs sync.Map

// runOnce is run for a command whose output cannot change during a run (the
// template's translation, a TOML or YAML read).
func runOnce(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	key := name + "\x00" + strings.Join(args, "\x00")
	if out, ok := outputs.Load(key); ok {
		return out.([]byte)
	}
	out := run(t, name, args...)
	outputs.Store(key, out)
	return out
}

func run(t *testing.T, name string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(name, args...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s%s", name, strings.Join(args, " "), err, out, stderr.String())
	}
	return out
}

// expand returns template.yaml as CloudFormation after the SAM transform,
// with parameter defaults overridden by params ("Name=Value").
func expand(t *testing.T, params ...string) map[string]any {
	t.Helper()
	needModule(t, "cfnlint", "pip install cfn-lint (preinstalled on these machines)")
	out := runOnce(t, "python3", append([]string{"testdata/expand.py", filepath.Join(root, "template.yaml")}, params...)...)
	var tpl map[string]any // decoded afresh: a test may change its copy
	if err := json.Unmarshal(out, &tpl); err != nil {
		t.Fatal(err)
	}
	return tpl
}

// at walks a decoded JSON document: at(doc, "Resources", "X", "Properties").
func at(v any, path ...string) any {
	for _, p := range path {
		switch m := v.(type) {
		case map[string]any:
			v = m[p]
		case []any:
			i, err := strconv.Atoi(p)
			if err != nil || i >= len(m) {
				return nil
			}
			v = m[i]
		default:
			return nil
		}
	}
	return v
}

func TestCfnLint(t *testing.T) {
	need(t, "cfn-lint", "pip install cfn-lint (preinstalled on these machines)")
	raw, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	// Every option switched on at once, by changing the defaults in a copy
	// (cfn-lint checks a template, not a deployment's parameter values).
	allOn := string(raw)
	for _, r := range [][2]string{
		{"  AlarmEmail:\n    Type: String\n    Default: \"\"", "  AlarmEmail:\n    Type: String\n    Default: ops@example.com"},
		{"  CorsAllowedOrigins:\n    Type: String\n    Default: \"\"", "  CorsAllowedOrigins:\n    Type: String\n    Default: https://app.example.com"},
		{"  ReservedConcurrency:\n    Type: Number\n    Default: 0", "  ReservedConcurrency:\n    Type: Number\n    Default: 5"},
		{"  VerifyTokenInFunction:\n    Type: String\n    Default: \"true\"", "  VerifyTokenInFunction:\n    Type: String\n    Default: \"false\""},
		{"  PerUserLimit:\n    Type: String\n    Default: \"\"", "  PerUserLimit:\n    Type: String\n    Default: 5/1m"},
	} {
		if !strings.Contains(allOn, r[0]) {
			t.Fatalf("template.yaml no longer has %q; update this test", r[0])
		}
		allOn = strings.Replace(allOn, r[0], r[1], 1)
	}
	variant := filepath.Join(t.TempDir(), "template.yaml")
	if err := os.WriteFile(variant, []byte(allOn), 0o644); err != nil {
		t.Fatal(err)
	}
	for name, path := range map[string]string{"defaults": filepath.Join(root, "template.yaml"), "all options on": variant} {
		t.Run(name, func(t *testing.T) {
			out, err := exec.Command("cfn-lint", path).CombinedOutput()
			if err != nil || len(bytes.TrimSpace(out)) > 0 {
				t.Fatalf("cfn-lint found problems (%v):\n%s", err, out)
			}
		})
	}
}

func TestFunctionMatchesCode(t *testing.T) {
	tpl := expand(t)
	fn := at(tpl, "Resources", "AuthCodeFunction").(map[string]any)
	props := fn["Properties"].(map[string]any)
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"Runtime", props["Runtime"], "provided.al2023"},
		{"Handler", props["Handler"], "bootstrap"},
		{"Architectures", props["Architectures"], []any{"arm64"}},
		{"BuildMethod", at(fn, "Metadata", "BuildMethod"), "makefile"},
		{"MemorySize", props["MemorySize"], 256.0},
		{"Tracing", at(props, "TracingConfig", "Mode"), "Active"},
		{"LogFormat", at(props, "LoggingConfig", "LogFormat"), "JSON"},
	}
	for _, c := range checks {
		if !jsonEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	if timeout, _ := props["Timeout"].(float64); timeout <= 0 || timeout > 20 {
		t.Errorf("Timeout = %v s, want well under API Gateway's 30 s", props["Timeout"])
	}
	env := at(props, "Environment", "Variables").(map[string]any)
	// Go's trust roots: the provided.al2023 bundle only, no folder to scan.
	if env["SSL_CERT_FILE"] != "/etc/pki/tls/certs/ca-bundle.crt" || env["SSL_CERT_DIR"] != "/nonexistent" {
		t.Errorf("SSL_CERT_FILE = %v, SSL_CERT_DIR = %v; want the AL2023 bundle and a folder that does not exist", env["SSL_CERT_FILE"], env["SSL_CERT_DIR"])
	}
	// The template sets every variable the function reads but the overrides,
	// whose defaults are right for production.
	overrides := []string{"SENTIANCE_API_URL", "JWKS_URL", "JWT_ALGORITHMS", "SECRET_CACHE_TTL"}
	want := []string{"SSL_CERT_FILE", "SSL_CERT_DIR"}
	for _, v := range testenv.FunctionVariables(t) {
		if !slices.Contains(overrides, v) {
			want = append(want, v)
		}
	}
	if got := slices.Sorted(maps.Keys(env)); !slices.Equal(got, slices.Sorted(slices.Values(want))) {
		t.Errorf("template sets %v,\nwant what the function reads but %v: %v", got, overrides, slices.Sorted(slices.Values(want)))
	}
	for _, v := range local.Variables {
		if _, ok := env[v[0]]; ok {
			t.Errorf("template sets %s, which only local runs may read", v[0])
		}
	}
}

func TestRoutesMatchHandler(t *testing.T) {
	tpl := expand(t)
	paths := at(tpl, "Resources", "HttpApi", "Properties", "Body", "paths").(map[string]any)
	got := map[string]string{}
	for path, ops := range paths {
		for method, op := range ops.(map[string]any) {
			got[path] = strings.ToUpper(method)
			if !jsonEqual(at(op, "security"), []any{map[string]any{"JwtAuthorizer": []any{}}}) {
				t.Errorf("%s %s is not behind the JWT authorizer: %v", method, path, at(op, "security"))
			}
			if at(op, "x-amazon-apigateway-integration", "payloadFormatVersion") != "2.0" {
				t.Errorf("%s %s does not use payload format 2.0", method, path)
			}
		}
	}
	if !maps.Equal(got, authcode.Routes) {
		t.Errorf("template routes %v, handler routes %v", got, authcode.Routes)
	}
	auth := at(tpl, "Resources", "HttpApi", "Properties", "Body", "components", "securitySchemes", "JwtAuthorizer", "x-amazon-apigateway-authorizer")
	if at(auth, "identitySource") != "$request.header.Authorization" || at(auth, "type") != "jwt" {
		t.Errorf("authorizer = %v", auth)
	}
}

// The function may read its one secret and nothing else.
func TestLeastPrivilege(t *testing.T) {
	tests := []struct {
		name   string
		params []string
	}{
		{name: "stack creates the secret"},
		{name: "existing secret and customer key", params: []string{
			"UserLinkSecretArn=arn:aws:secretsmanager:eu-west-1:123456789012:secret:sentiance-AbCdEf",
			"SecretKmsKeyArn=arn:aws:kms:eu-west-1:123456789012:key/1234abcd-12ab-34cd-56ef-1234567890ab",
		}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tpl := expand(t, tt.params...)
			role := at(tpl, "Resources", "AuthCodeFunctionRole", "Properties")
			managed := at(role, "ManagedPolicyArns").([]any)
			for _, arn := range managed {
				if arn != "arn:aws:iam::aws:policy/service-role/AWSLambdaBasicExecutionRole" && arn != "arn:aws:iam::aws:policy/AWSXrayWriteOnlyAccess" {
					t.Errorf("unexpected managed policy %v", arn)
				}
			}
			var actions []string
			for _, p := range at(role, "Policies").([]any) {
				doc, cond := policyOf(p)
				for _, st := range at(doc, "PolicyDocument", "Statement").([]any) {
					st := st.(map[string]any)
					if st["Effect"] != "Allow" {
						continue
					}
					for _, a := range asList(st["Action"]) {
						actions = append(actions, a)
						switch a {
						case "secretsmanager:GetSecretValue":
							res, _ := json.Marshal(st["Resource"])
							if cond != "" || !strings.Contains(string(res), `"Ref":"UserLinkSecret`) || strings.Contains(string(res), "*") {
								t.Errorf("GetSecretValue granted on %s (condition %q), want the one secret", res, cond)
							}
						case "dynamodb:UpdateItem":
							if cond != "HasPerUserLimit" || !jsonEqual(st["Resource"], map[string]any{"Fn::GetAtt": []any{"RateLimitTable", "Arn"}}) {
								t.Errorf("dynamodb:UpdateItem granted on %v under %q, want only the rate limit table when the limit is on", st["Resource"], cond)
							}
						case "kms:Decrypt":
							if cond != "HasSecretKmsKey" || !jsonEqual(st["Resource"], map[string]any{"Ref": "SecretKmsKeyArn"}) {
								t.Errorf("kms:Decrypt granted on %v under %q, want only the given key", st["Resource"], cond)
							}
						default:
							t.Errorf("unexpected action %s", a)
						}
					}
				}
			}
			sort.Strings(actions)
			if want := []string{"dynamodb:UpdateItem", "kms:Decrypt", "secretsmanager:GetSecretValue"}; !slices.Equal(actions, want) {
				t.Errorf("actions = %v, want %v", actions, want)
			}
			// kms:Decrypt exists only when a customer key is given.
			wantCond := map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "SecretKmsKeyArn"}, ""}}}}
			if c := at(tpl, "Conditions", "HasSecretKmsKey"); !jsonEqual(c, wantCond) {
				t.Errorf("HasSecretKmsKey = %v", c)
			}
			// The function is pointed at the same secret the policy names.
			envSecret, _ := json.Marshal(at(tpl, "Resources", "AuthCodeFunction", "Properties", "Environment", "Variables", "USER_LINK_SECRET_ID"))
			if !strings.Contains(string(envSecret), `"Ref":"UserLinkSecret"`) || !strings.Contains(string(envSecret), `"Ref":"UserLinkSecretArn"`) {
				t.Errorf("USER_LINK_SECRET_ID = %s", envSecret)
			}
		})
	}
}

// policyOf unwraps an inline policy that may sit inside Fn::If; it returns
// the policy and the condition guarding it ("" when unconditional).
func policyOf(p any) (any, string) {
	if f, ok := at(p, "Fn::If").([]any); ok {
		return f[1], f[0].(string)
	}
	return p, ""
}

func asList(v any) []string {
	switch a := v.(type) {
	case string:
		return []string{a}
	case []any:
		var out []string
		for _, s := range a {
			out = append(out, s.(string))
		}
		return out
	}
	return nil
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}

// The Makefile target `sam build` runs (BuildMethod: makefile) for each
// function of the template yields a static linux/arm64 executable named
// bootstrap in ARTIFACTS_DIR.
func TestBuildTarget(t *testing.T) {
	need(t, "make", "apt-get install make")
	for id := range makefileFunctions(t, cfnFile(t, "template.yaml")) {
		t.Run(id, func(t *testing.T) { checkBuildTarget(t, "build-"+id) })
	}
}

func checkBuildTarget(t *testing.T, target string) {
	dir := t.TempDir()
	cmd := exec.Command("make", "-s", target, "ARTIFACTS_DIR="+dir)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make %s: %v\n%s", target, err, out)
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 || entries[0].Name() != "bootstrap" {
		t.Fatalf("ARTIFACTS_DIR holds %v, want only bootstrap", entries)
	}
	path := filepath.Join(dir, "bootstrap")
	f, err := elf.Open(path)
	if err != nil {
		t.Fatalf("bootstrap is not an ELF file: %v", err)
	}
	defer f.Close()
	if f.Machine != elf.EM_AARCH64 || f.OSABI != elf.ELFOSABI_NONE && f.OSABI != elf.ELFOSABI_LINUX {
		t.Errorf("machine %v, OS ABI %v; want linux/arm64", f.Machine, f.OSABI)
	}
	for _, p := range f.Progs {
		if p.Type == elf.PT_INTERP || p.Type == elf.PT_DYNAMIC {
			t.Errorf("bootstrap is dynamically linked (%v); want static", p.Type)
		}
	}
	if f.Section(".symtab") != nil {
		t.Errorf("bootstrap has a symbol table; want it stripped (-s -w)")
	}
	info, _ := os.Stat(path)
	if info.Mode()&0o111 == 0 {
		t.Errorf("bootstrap is not executable")
	}
	zipped := testenv.ZipSize(t, path)
	t.Logf("%s bootstrap: %.1f MB, %.1f MB zipped", target, float64(info.Size())/1e6, float64(zipped)/1e6)
	// Lambda's limit is 50 MB zipped; this guards against an accidental dependency blow-up.
	if zipped > 8<<20 {
		t.Errorf("zipped bootstrap is %d bytes; something heavy crept in", zipped)
	}
}

// openapi.yaml is a valid OpenAPI document whose routes are the handler's
// and whose responses list every status the handler can answer.
func TestOpenAPI(t *testing.T) {
	needModule(t, "openapi_spec_validator", "pip install openapi-spec-validator (preinstalled on these machines)")
	run(t, "python3", "-m", "openapi_spec_validator", filepath.Join(root, "openapi.yaml"))
	doc := yamlFile(t, "openapi.yaml")
	// Every status the handler answers on a served route (404/405 are the
	// gateway's for unknown routes), by method.
	statuses := map[string][]string{
		"POST": {"200", "400", "401", "403", "413", "415", "429", "502", "503", "504"},
		"GET":  {"200", "401", "403", "429", "502", "503", "504"},
	}
	got := map[string]string{}
	for path, ops := range doc["paths"].(map[string]any) {
		for method, op := range ops.(map[string]any) {
			m := strings.ToUpper(method)
			got[path] = m
			responses := at(op, "responses").(map[string]any)
			for _, code := range statuses[m] {
				if _, ok := responses[code]; !ok {
					t.Errorf("openapi.yaml: %s %s does not document %s", m, path, code)
				}
			}
		}
	}
	if !maps.Equal(got, authcode.Routes) {
		t.Errorf("openapi.yaml routes %v, handler routes %v", got, authcode.Routes)
	}
	if !jsonEqual(doc["security"], []any{map[string]any{"bearerAuth": []any{}}}) {
		t.Errorf("openapi.yaml security = %v, want bearer auth everywhere", doc["security"])
	}
}

// samconfig.toml follows SAM CLI's layout and its parameter overrides are
// values the template accepts.
func TestSamconfig(t *testing.T) {
	cfg := readSamconfig(t)
	for _, c := range []struct {
		path []string
		want any
	}{
		{[]string{"version"}, 0.1},
		{[]string{"default", "global", "parameters", "stack_name"}, "sentiance-auth-code"},
		// SAM CLI does not cache BuildMethod: makefile builds (aws-sam-cli issue 2989).
		{[]string{"default", "build", "parameters", "cached"}, nil},
		{[]string{"default", "build", "parameters", "parallel"}, true},
		{[]string{"default", "validate", "parameters", "lint"}, true},
		{[]string{"default", "deploy", "parameters", "capabilities"}, "CAPABILITY_IAM"},
		{[]string{"default", "deploy", "parameters", "confirm_changeset"}, true},
		{[]string{"default", "deploy", "parameters", "resolve_s3"}, true},
	} {
		if got := at(cfg, c.path...); !jsonEqual(got, c.want) {
			t.Errorf("%s = %v, want %v", strings.Join(c.path, "."), got, c.want)
		}
	}
	deploy, _ := at(cfg, "default", "deploy", "parameters", "parameter_overrides").(string)
	if sync := at(cfg, "default", "sync", "parameters", "parameter_overrides"); sync != nil && sync != deploy {
		t.Errorf("sync and deploy parameter_overrides differ")
	}
	checkOverrides(t, at(expand(t), "Parameters").(map[string]any), deploy)
}

// checkOverrides holds a parameter_overrides string to the template's
// parameters: each names one and has a value it accepts.
func checkOverrides(t *testing.T, params map[string]any, raw string) {
	t.Helper()
	overrides := parameterOverrides(raw)
	if len(overrides) == 0 {
		t.Fatalf("no parameter_overrides in %q", raw)
	}
	for name, value := range overrides {
		p, ok := params[name].(map[string]any)
		if !ok {
			t.Errorf("override %s is not a template parameter", name)
			continue
		}
		if allowed, ok := p["AllowedValues"].([]any); ok && !slices.ContainsFunc(allowed, func(a any) bool { return fmt.Sprint(a) == value }) {
			t.Errorf("%s=%q is not among %v", name, value, allowed)
		}
		if pattern, ok := p["AllowedPattern"].(string); ok && !regexp.MustCompile(pattern).MatchString(value) {
			t.Errorf("%s=%q does not match %s", name, value, pattern)
		}
	}
}

// readSamconfig returns samconfig.toml decoded (Python's tomllib, 3.11+).
func readSamconfig(t *testing.T) map[string]any {
	t.Helper()
	need(t, "python3", "install Python 3.11 or newer (tomllib)")
	out := runOnce(t, "python3", "-c", "import json,sys,tomllib; json.dump(tomllib.load(open(sys.argv[1],'rb')), sys.stdout)", filepath.Join(root, "samconfig.toml"))
	var cfg map[string]any
	if err := json.Unmarshal(out, &cfg); err != nil {
		t.Fatal(err)
	}
	return cfg
}

// parameterOverrides splits a parameter_overrides string (Name="Value" ...).
func parameterOverrides(s string) map[string]string {
	out := map[string]string{}
	for _, m := range regexp.MustCompile(`(\w+)="([^"]*)"`).FindAllStringSubmatch(s, -1) {
		out[m[1]] = m[2]
	}
	return out
}

// The per-user limit's table exists only when the limit is on, is billed on
// demand, and expires old windows by TTL; the function is told its name.
func TestRateLimitTable(t *testing.T) {
	tpl := expand(t)
	want := map[string]any{"Fn::Not": []any{map[string]any{"Fn::Equals": []any{map[string]any{"Ref": "PerUserLimit"}, ""}}}}
	if c := at(tpl, "Conditions", "HasPerUserLimit"); !jsonEqual(c, want) {
		t.Errorf("HasPerUserLimit = %v", c)
	}
	table := at(tpl, "Resources", "RateLimitTable")
	checks := []struct {
		name string
		got  any
		want any
	}{
		{"Type", at(table, "Type"), "AWS::DynamoDB::Table"},
		{"Condition", at(table, "Condition"), "HasPerUserLimit"},
		{"BillingMode", at(table, "Properties", "BillingMode"), "PAY_PER_REQUEST"},
		{"KeySchema", at(table, "Properties", "KeySchema"), []any{map[string]any{"AttributeName": "pk", "KeyType": "HASH"}}},
		{"TTL", at(table, "Properties", "TimeToLiveSpecification"), map[string]any{"AttributeName": "expires_at", "Enabled": true}},
	}
	for _, c := range checks {
		if !jsonEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}
	env := at(tpl, "Resources", "AuthCodeFunction", "Properties", "Environment", "Variables")
	if got := at(env, "RATE_LIMIT_TABLE"); !jsonEqual(got, map[string]any{"Fn::If": []any{"HasPerUserLimit", map[string]any{"Ref": "RateLimitTable"}, ""}}) {
		t.Errorf("RATE_LIMIT_TABLE = %v", got)
	}
}

// Facts the template shares with the code are the code's: the function's
// timeout (local mode's gateway gives each invocation the same), the
// regions, the metrics namespace, and the metric names and dimension the
// alarms select on.
func TestTemplateSharesTheCodesFacts(t *testing.T) {
	tpl := expand(t, "AlarmEmail=ops@example.com")
	props := at(tpl, "Resources", "AuthCodeFunction", "Properties").(map[string]any)
	if got := props["Timeout"]; !jsonEqual(got, authcode.Timeout.Seconds()) {
		t.Errorf("Timeout = %v s; local mode's gateway gives each invocation %v", got, authcode.Timeout)
	}
	regions := asList(at(tpl, "Parameters", "SentianceRegion", "AllowedValues"))
	if want := slices.Sorted(maps.Keys(app.Regions)); !slices.Equal(slices.Sorted(slices.Values(regions)), want) {
		t.Errorf("SentianceRegion allows %v; app.Regions has %v", regions, want)
	}
	if got := at(tpl, "Parameters", "SentianceRegion", "Default"); !jsonEqual(got, app.DefaultRegion) {
		t.Errorf("SentianceRegion defaults to %v; config to %s", got, app.DefaultRegion)
	}
	if got := at(tpl, "Parameters", "MetricsNamespace", "Default"); !jsonEqual(got, app.DefaultMetricsNamespace) {
		t.Errorf("MetricsNamespace defaults to %v; config to %s", got, app.DefaultMetricsNamespace)
	}
	ours := 0
	for name, r := range at(tpl, "Resources").(map[string]any) {
		res := r.(map[string]any)
		if res["Type"] != "AWS::CloudWatch::Alarm" {
			continue
		}
		// A plain alarm names its metric in Properties; a metric-math alarm
		// in each query's MetricStat.Metric.
		selected := []any{res["Properties"]}
		if queries, ok := at(res, "Properties", "Metrics").([]any); ok {
			selected = nil
			for _, q := range queries {
				if m := at(q, "MetricStat", "Metric"); m != nil {
					selected = append(selected, m)
				}
			}
		}
		for _, m := range selected {
			p := m.(map[string]any)
			if !jsonEqual(p["Namespace"], map[string]any{"Ref": "MetricsNamespace"}) {
				continue
			}
			ours++
			if metric, _ := p["MetricName"].(string); !slices.Contains(metrics.Names(), metric) {
				t.Errorf("%s alarms on %v, which the function does not emit (%v)", name, p["MetricName"], metrics.Names())
			}
			dims, _ := p["Dimensions"].([]any)
			if len(dims) == 0 || !jsonEqual(dims[0], map[string]any{"Name": "Service", "Value": metrics.Service}) {
				t.Errorf("%s selects dimensions %v; the function's metrics carry Service=%s", name, dims, metrics.Service)
				continue
			}
			// Answers by reason: Failed for 5xx reasons, Denied for the others.
			if len(dims) > 1 {
				reason := authcode.Reason(fmt.Sprint(at(dims[1], "Value")))
				failed := reason.Spec().Status >= 500
				if len(dims) != 2 || at(dims[1], "Name") != "Reason" || !slices.Contains(authcode.Reasons(), reason) ||
					!(p["MetricName"] == metrics.Failed && failed || p["MetricName"] == metrics.Denied && !failed) {
					t.Errorf("%s selects %v with dimensions %v; the function counts Failed (5xx) and Denied by a Reason of its table", name, p["MetricName"], dims)
				}
			}
		}
	}
	if ours == 0 {
		t.Error("no alarm on the function's own metrics; the check above proved nothing")
	}
}
