package deployment

import (
	"fmt"
	"slices"
	"testing"

	"github.com/sentiance-authcode/backend/internal/metrics"
)

// alarm is what CloudWatch evaluates for a plain (single-metric) alarm.
type alarm struct {
	Statistic          string
	Threshold          float64
	ComparisonOperator string
	TreatMissingData   string
	EvaluationPeriods  int
	DatapointsToAlarm  int
}

// alarmFrom reads a plain alarm's evaluation settings from the template.
func alarmFrom(t *testing.T, res any) alarm {
	t.Helper()
	p := at(res, "Properties")
	num := func(name string, def float64) float64 {
		switch v := at(p, name).(type) {
		case nil:
			return def
		case float64:
			return v
		case string: // cfn-lint keeps some numbers as written
			var f float64
			if _, err := fmt.Sscan(v, &f); err != nil {
				t.Fatalf("%s = %q is not a number", name, v)
			}
			return f
		default:
			t.Fatalf("%s = %v: not a plain number (a parameter?); this evaluator needs a value", name, v)
		}
		return 0
	}
	a := alarm{
		Statistic:          fmt.Sprint(at(p, "Statistic")),
		Threshold:          num("Threshold", 0),
		ComparisonOperator: fmt.Sprint(at(p, "ComparisonOperator")),
		TreatMissingData:   "missing", // CloudWatch's default
		EvaluationPeriods:  int(num("EvaluationPeriods", 1)),
	}
	a.DatapointsToAlarm = int(num("DatapointsToAlarm", float64(a.EvaluationPeriods)))
	if v, ok := at(p, "TreatMissingData").(string); ok {
		a.TreatMissingData = v
	}
	return a
}

// stat is the alarm's statistic over one period's samples; ok is false when
// the period has none (a missing data point).
func (a alarm) stat(t *testing.T, samples []float64) (v float64, ok bool) {
	if len(samples) == 0 {
		return 0, false
	}
	switch a.Statistic {
	case "Minimum":
		return slices.Min(samples), true
	case "Maximum":
		return slices.Max(samples), true
	case "SampleCount":
		return float64(len(samples)), true
	case "Sum", "Average":
		var sum float64
		for _, s := range samples {
			sum += s
		}
		if a.Statistic == "Average" {
			sum /= float64(len(samples))
		}
		return sum, true
	}
	t.Fatalf("statistic %s: not known to this evaluator", a.Statistic)
	return 0, false
}

func (a alarm) breaches(t *testing.T, v float64) bool {
	switch a.ComparisonOperator {
	case "GreaterThanOrEqualToThreshold":
		return v >= a.Threshold
	case "GreaterThanThreshold":
		return v > a.Threshold
	case "LessThanThreshold":
		return v < a.Threshold
	case "LessThanOrEqualToThreshold":
		return v <= a.Threshold
	}
	t.Fatalf("comparison %s: not known to this evaluator", a.ComparisonOperator)
	return false
}

// evaluate returns the alarm's state after each period, starting from
// INSUFFICIENT_DATA as a new alarm does. periods[i] holds the values
// published during period i (nil: none). The rules are CloudWatch's for
// "M out of N" alarms: missing points count as TreatMissingData says
// (breaching, notBreaching); with missing or ignore and every point of the
// window missing, missing goes to INSUFFICIENT_DATA and ignore keeps the
// state. A window only partly missing under missing or ignore makes
// CloudWatch look further back than N periods; that is not modelled, and
// the test stops rather than guess.
func (a alarm) evaluate(t *testing.T, periods [][]float64) []string {
	state := "INSUFFICIENT_DATA"
	var states []string
	for i := range periods {
		lo := max(0, i+1-a.EvaluationPeriods)
		breaching, present := 0, 0
		for _, samples := range periods[lo : i+1] {
			v, ok := a.stat(t, samples)
			switch {
			case ok:
				present++
				if a.breaches(t, v) {
					breaching++
				}
			case a.TreatMissingData == "breaching":
				present++
				breaching++
			case a.TreatMissingData == "notBreaching":
				present++
			}
		}
		if n := i + 1 - lo; present > 0 && present < n && (a.TreatMissingData == "missing" || a.TreatMissingData == "ignore") {
			t.Fatalf("period %d: %d of %d points missing under %s: not modelled", i, n-present, n, a.TreatMissingData)
		}
		switch {
		case present == 0 && a.TreatMissingData == "ignore":
			// keeps its state
		case present == 0:
			state = "INSUFFICIENT_DATA"
		case breaching >= a.DatapointsToAlarm:
			state = "ALARM"
		default:
			state = "OK"
		}
		states = append(states, state)
	}
	return states
}

// repeat is n periods with the same samples.
func repeat(n int, samples ...float64) [][]float64 {
	out := make([][]float64, n)
	for i := range out {
		out[i] = samples
	}
	return out
}

// KeyExpiryNotWatchedAlarm, as the template defines it, over sample series
// of the metric the function publishes on every key load.
func TestKeyExpiryNotWatchedAlarmEvaluates(t *testing.T) {
	res := at(expand(t, "AlarmEmail=ops@example.com"), "Resources", "KeyExpiryNotWatchedAlarm")
	if got := at(res, "Properties", "MetricName"); got != metrics.KeyExpiryWatched {
		t.Fatalf("the alarm reads %v, not %s; the series below would not be its input", got, metrics.KeyExpiryWatched)
	}
	a := alarmFrom(t, res)
	const watched, notWatched = 1.0, 0.0
	tests := []struct {
		name    string
		periods [][]float64
		want    string // the state after the last period
		never   bool   // and ALARM never reached on the way
	}{
		{"a day of loads without expires_at", repeat(24, notWatched, notWatched), "ALARM", false},
		{"one load without expires_at", [][]float64{{notWatched}}, "ALARM", false},
		{"a day of loads with expires_at", repeat(24, watched, watched, watched), "OK", true},
		{"an idle stack loads no key", repeat(48), "INSUFFICIENT_DATA", true},
		{"one instance of three still holds a key without expires_at", [][]float64{{watched, notWatched, watched}}, "ALARM", false},
		{"quiet hours after good loads", append(repeat(3, watched), repeat(12)...), "OK", true},
		// The secret is not fixed by traffic stopping: the alarm stays up.
		{"quiet hours after a load without expires_at", append(repeat(1, notWatched), repeat(12)...), "ALARM", false},
		{"fixed: the next load has expires_at", append(append(repeat(2, notWatched), repeat(5)...), []float64{watched}), "OK", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			states := a.evaluate(t, tt.periods)
			if got := states[len(states)-1]; got != tt.want {
				t.Errorf("state = %s, want %s (states %v)", got, tt.want, states)
			}
			if tt.never && slices.Contains(states, "ALARM") {
				t.Errorf("the alarm fired on the way: %v", states)
			}
		})
	}
}

// The evaluator itself, on the textbook cases, so the test above does not
// rest on an evaluator that always answers what it is asked.
func TestAlarmEvaluator(t *testing.T) {
	tests := []struct {
		name    string
		n       int // EvaluationPeriods and DatapointsToAlarm
		missing string
		periods [][]float64
		want    []string
	}{
		{"missing: all missing is insufficient", 3, "missing", repeat(2), []string{"INSUFFICIENT_DATA", "INSUFFICIENT_DATA"}},
		{"breaching counts the gaps", 3, "breaching", [][]float64{{5}, nil, {5}}, []string{"OK", "OK", "ALARM"}},
		{"notBreaching counts them as good", 3, "notBreaching", [][]float64{{5}, {5}, nil}, []string{"OK", "OK", "OK"}},
		{"three breaching periods (statistic over samples)", 3, "notBreaching", repeat(3, 2, 3), []string{"OK", "OK", "ALARM"}},
		{"under the threshold", 3, "notBreaching", repeat(3, 2, 2), []string{"OK", "OK", "OK"}},
		{"ignore keeps ALARM", 1, "ignore", [][]float64{nil, {5}, nil, nil}, []string{"INSUFFICIENT_DATA", "ALARM", "ALARM", "ALARM"}},
		{"ignore keeps OK", 1, "ignore", [][]float64{{1}, nil, nil}, []string{"OK", "OK", "OK"}},
		{"missing forgets", 1, "missing", [][]float64{{5}, nil}, []string{"ALARM", "INSUFFICIENT_DATA"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			a := alarm{Statistic: "Sum", Threshold: 5, ComparisonOperator: "GreaterThanOrEqualToThreshold",
				EvaluationPeriods: tt.n, DatapointsToAlarm: tt.n, TreatMissingData: tt.missing}
			if got := a.evaluate(t, tt.periods); !slices.Equal(got, tt.want) {
				t.Errorf("states = %v, want %v", got, tt.want)
			}
		})
	}
}
