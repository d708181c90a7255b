package deployment

import (
	"encoding/json"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sentiance-authcode/backend/internal/metrics"
	"github.com/sentiance-authcode/backend/internal/secret"
)

// The key's expiry (issue 13): the parameter, the two alarms and the
// PutKeyCommand output agree with the code.
func TestKeyExpiryAlarms(t *testing.T) {
	tpl := expand(t, "AlarmEmail=ops@example.com")
	if got := fmt.Sprint(at(tpl, "Parameters", "KeyExpiryWarningDays", "Default")); got != fmt.Sprint(secret.WarnDaysBeforeExpiry) {
		t.Errorf("KeyExpiryWarningDays defaults to %s; the function warns under secret.WarnDaysBeforeExpiry = %d", got, secret.WarnDaysBeforeExpiry)
	}
	serviceDim := []any{map[string]any{"Name": "Service", "Value": metrics.Service}}
	ns := map[string]any{"Ref": "MetricsNamespace"}

	expiring := at(tpl, "Resources", "KeyExpiryAlarm")
	notWatched := at(tpl, "Resources", "KeyExpiryNotWatchedAlarm")
	checks := []struct {
		name      string
		got, want any
	}{
		{"expiry alarm type", at(expiring, "Type"), "AWS::CloudWatch::Alarm"},
		{"expiry alarm condition", at(expiring, "Condition"), "HasAlarmEmail"},
		{"expiry alarm namespace", at(expiring, "Properties", "Namespace"), ns},
		{"expiry alarm metric", at(expiring, "Properties", "MetricName"), metrics.KeyDaysToExpiry},
		{"expiry alarm dimensions", at(expiring, "Properties", "Dimensions"), serviceDim},
		{"expiry alarm statistic", at(expiring, "Properties", "Statistic"), "Minimum"},
		{"expiry alarm threshold", at(expiring, "Properties", "Threshold"), map[string]any{"Ref": "KeyExpiryWarningDays"}},
		{"expiry alarm comparison", at(expiring, "Properties", "ComparisonOperator"), "LessThanThreshold"},
		// Keeps its state through quiet hours; a stopped metric is the other alarm's.
		{"expiry alarm missing data", at(expiring, "Properties", "TreatMissingData"), "ignore"},
		{"expiry alarm action", at(expiring, "Properties", "AlarmActions"), []any{map[string]any{"Ref": "AlarmTopic"}}},

		{"not-watched alarm condition", at(notWatched, "Condition"), "HasAlarmEmail"},
		// The metric every key load publishes, 0 included: no FILL over a
		// metric that may never have been published.
		{"not-watched namespace", at(notWatched, "Properties", "Namespace"), ns},
		{"not-watched metric", at(notWatched, "Properties", "MetricName"), metrics.KeyExpiryWatched},
		{"not-watched dimensions", at(notWatched, "Properties", "Dimensions"), serviceDim},
		{"not-watched is a plain alarm", at(notWatched, "Properties", "Metrics"), nil},
		{"not-watched action", at(notWatched, "Properties", "AlarmActions"), []any{map[string]any{"Ref": "AlarmTopic"}}},
	}
	for _, c := range checks {
		if !jsonEqual(c.got, c.want) {
			t.Errorf("%s = %v, want %v", c.name, c.got, c.want)
		}
	}

	// The command the operator copies writes both fields the function reads.
	put, _ := at(tpl, "Outputs", "PutKeyCommand", "Value", "Fn::Sub", "0").(string)
	want := fmt.Sprintf(`'{"%s":"%%s","%s":"<YYYY-MM-DD>"}' "$SENTIANCE_KEY"`, secret.KeyField, secret.ExpiryField)
	if !strings.Contains(put, want) || !strings.HasSuffix(put, "--secret-string file:///dev/stdin") {
		t.Errorf("PutKeyCommand = %s, want it to write %s from stdin, the key on no command line", put, want)
	}
}

// searchExpr reads the namespace, dimensions and metric name of a dashboard
// SEARCH expression.
var searchExpr = regexp.MustCompile(`^SEARCH\('\{"([^"]+)",([^}]*)\} MetricName="(\w+)"', '\w+', \d+\)$`)

// The dashboard has the widgets issue 13 asks for, and every metric of the
// function's namespace it shows is one the code emits.
func TestDashboard(t *testing.T) {
	tpl := expand(t)
	dash := at(tpl, "Resources", "Dashboard")
	if at(dash, "Type") != "AWS::CloudWatch::Dashboard" || at(dash, "Condition") != nil {
		t.Fatalf("Dashboard = %v, want an unconditional AWS::CloudWatch::Dashboard", dash)
	}
	wantURL := map[string]any{"Fn::Sub": "https://${AWS::Region}.console.aws.amazon.com/cloudwatch/home?region=${AWS::Region}#dashboards:name=${Dashboard}"}
	if got := at(tpl, "Outputs", "DashboardUrl", "Value"); !jsonEqual(got, wantURL) {
		t.Errorf("DashboardUrl = %v, want %v", got, wantURL)
	}
	// The init-duration widget reads the platform's report records, which
	// Lambda writes only at system log level INFO or DEBUG.
	if lvl := at(tpl, "Resources", "AuthCodeFunction", "Properties", "LoggingConfig", "SystemLogLevel"); lvl != "INFO" && lvl != "DEBUG" {
		t.Errorf("SystemLogLevel = %v: Lambda drops platform.report, so the dashboard shows no init duration", lvl)
	}

	body, ok := at(dash, "Properties", "DashboardBody", "Fn::Sub").(string)
	if !ok {
		t.Fatalf("DashboardBody is not a plain !Sub string: %v", at(dash, "Properties", "DashboardBody"))
	}
	// Resolve the placeholders as CloudFormation would, with stand-in values;
	// each must name a parameter, a resource or a pseudo parameter.
	const nsValue = "Test/Namespace"
	values := map[string]string{
		"MetricsNamespace": nsValue, "KeyExpiryWarningDays": "30", "AWS::Region": "eu-west-1",
		"AuthCodeFunction": "fn-name", "FunctionLogGroup": "/aws/lambda/stack/auth-code", "HttpApi": "api-id",
	}
	body = regexp.MustCompile(`\$\{([^}]+)\}`).ReplaceAllStringFunc(body, func(p string) string {
		name := p[2 : len(p)-1]
		v, ok := values[name]
		if !ok {
			t.Errorf("dashboard placeholder %s has no test value; add it if it is meant", p)
		}
		if at(tpl, "Parameters", name) == nil && at(tpl, "Resources", name) == nil && !strings.HasPrefix(name, "AWS::") {
			t.Errorf("dashboard placeholder %s names nothing in the template", p)
		}
		return v
	})
	var doc struct {
		Widgets []struct {
			Type       string
			Properties struct {
				Title, Query, Region string
				Stat                 string
				Metrics              [][]any
			}
		}
	}
	if err := json.Unmarshal([]byte(body), &doc); err != nil {
		t.Fatalf("dashboard body is not JSON once resolved: %v\n%s", err, body)
	}

	// shown collects "Namespace Metric Stat [Dimension...]" for each series.
	var shown []string
	logWidgets := 0
	for _, w := range doc.Widgets {
		p := w.Properties
		if p.Region != "eu-west-1" {
			t.Errorf("widget %q has region %q, want the stack's", p.Title, p.Region)
		}
		if w.Type == "log" {
			logWidgets++
			for _, want := range []string{"SOURCE '/aws/lambda/stack/auth-code'", `filter type = "platform.report"`, "record.metrics.initDurationMs"} {
				if !strings.Contains(p.Query, want) {
					t.Errorf("log widget %q: query lacks %s: %s", p.Title, want, p.Query)
				}
			}
			continue
		}
		for _, row := range p.Metrics {
			if e, ok := row[0].(map[string]any); ok {
				m := searchExpr.FindStringSubmatch(fmt.Sprint(e["expression"]))
				if m == nil {
					t.Errorf("widget %q: expression %v is not a SEARCH this test reads", p.Title, e["expression"])
					continue
				}
				dims := strings.Split(m[2], ",")
				if m[1] != nsValue || !slices.Contains(dims, "Service") {
					t.Errorf("widget %q searches %s with %v; the function's metrics are in MetricsNamespace with Service", p.Title, m[1], dims)
				}
				shown = append(shown, strings.Join(append([]string{m[1], m[3], "Sum"}, dims...), " "))
				if !slices.Contains(metrics.Names(), m[3]) {
					t.Errorf("widget %q shows %s, which the function does not emit (%v)", p.Title, m[3], metrics.Names())
				}
				continue
			}
			ns, name := row[0].(string), row[1].(string)
			stat := p.Stat
			var dims []string
			for _, v := range row[2:] {
				switch v := v.(type) {
				case string:
					dims = append(dims, v)
				case map[string]any:
					if s, ok := v["stat"].(string); ok {
						stat = s
					}
				}
			}
			shown = append(shown, strings.Join(append([]string{ns, name, stat}, dims...), " "))
			if ns == nsValue {
				if !slices.Contains(metrics.Names(), name) {
					t.Errorf("widget %q shows %s, which the function does not emit (%v)", p.Title, name, metrics.Names())
				}
				if !slices.Equal(dims, []string{"Service", metrics.Service}) {
					t.Errorf("widget %q selects %s with %v; the function's metrics carry Service=%s", p.Title, name, dims, metrics.Service)
				}
			}
		}
	}
	if logWidgets != 1 {
		t.Errorf("log widgets = %d, want the one for init duration", logWidgets)
	}
	for _, want := range []string{
		nsValue + " " + metrics.CodesIssued + " Sum Service authcode",
		nsValue + " " + metrics.Failed + " Sum Reason Service",
		nsValue + " " + metrics.SentianceLatency + " p50 Service authcode",
		nsValue + " " + metrics.SentianceLatency + " p99 Service authcode",
		nsValue + " " + metrics.KeyDaysToExpiry + " Minimum Service authcode",
		nsValue + " " + metrics.SecretFetches + " Sum Outcome Service",
		"AWS/Lambda Duration p99 FunctionName fn-name",
		"AWS/Lambda Errors Sum FunctionName fn-name",
		"AWS/Lambda Throttles Sum FunctionName fn-name",
		"AWS/ApiGateway 4xx Sum ApiId api-id",
		"AWS/ApiGateway 5xx Sum ApiId api-id",
	} {
		if !slices.Contains(shown, want) {
			t.Errorf("dashboard lacks %q; it shows:\n%s", want, strings.Join(shown, "\n"))
		}
	}
}
