// Package metrics writes CloudWatch Embedded Metric Format (EMF) lines: JSON
// log lines that CloudWatch turns into metrics, so counting costs no API call
// and adds no latency.
package metrics

import (
	"encoding/json"
	"io"
	"strconv"
	"sync"
	"time"
)

// Service is the dimension every metric carries (the alarms select on it).
const Service = "authcode"

// Metric names, listed in README.md.
const (
	CodesIssued      = "CodesIssued"      // 200 answers
	Denied           = "Denied"           // 4xx answers, by Reason
	Failed           = "Failed"           // 5xx answers, by Reason
	SentianceLatency = "SentianceLatency" // per Sentiance call, milliseconds
	SentianceErrors  = "SentianceErrors"  // Sentiance calls without a 200, by Status (0: no answer)
	KeyRejected      = "KeyRejected"      // Sentiance answered 401/403 to the key
	SecretFetches    = "SecretFetches"    // Secrets Manager fetches, by Outcome (ok, error, stale)
)

// EMF writes metrics to w, one line each. It is safe for concurrent use.
type EMF struct {
	mu        sync.Mutex
	w         io.Writer
	namespace string
	now       func() time.Time
}

// New returns an EMF writer for namespace.
func New(w io.Writer, namespace string) *EMF {
	return &EMF{w: w, namespace: namespace, now: time.Now}
}

// Request counts one answer by its status and outcome reason.
func (m *EMF) Request(outcome string, status int) {
	switch {
	case status == 200:
		m.put(CodesIssued, "Count", 1, nil)
	case status >= 500:
		m.put(Failed, "Count", 1, map[string]string{"Reason": outcome})
	default:
		m.put(Denied, "Count", 1, map[string]string{"Reason": outcome})
	}
}

// SentianceCall records one call to Sentiance: its status (0 when there
// was no answer) and how long it took.
func (m *EMF) SentianceCall(status int, took time.Duration) {
	m.put(SentianceLatency, "Milliseconds", float64(took.Microseconds())/1000, nil)
	if status != 200 {
		m.put(SentianceErrors, "Count", 1, map[string]string{"Status": statusText(status)})
	}
}

// KeyRejected counts a rejection of the user_link key by Sentiance.
func (m *EMF) KeyRejected() { m.put(KeyRejected, "Count", 1, nil) }

// SecretFetch counts a Secrets Manager fetch by outcome.
func (m *EMF) SecretFetch(outcome string) {
	m.put(SecretFetches, "Count", 1, map[string]string{"Outcome": outcome})
}

func statusText(status int) string {
	if status == 0 {
		return "none"
	}
	return strconv.Itoa(status)
}

type directive struct {
	Namespace  string       `json:"Namespace"`
	Dimensions [][]string   `json:"Dimensions"`
	Metrics    []definition `json:"Metrics"`
}

type definition struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// put writes one EMF document: the metadata under _aws, then the dimension
// values and the metric value as top-level members.
func (m *EMF) put(name, unit string, value float64, dims map[string]string) {
	keys := []string{"Service"}
	doc := map[string]any{"Service": Service, name: value}
	for k, v := range dims {
		keys = append(keys, k)
		doc[k] = v
	}
	doc["_aws"] = map[string]any{
		"Timestamp": m.now().UnixMilli(),
		"CloudWatchMetrics": []directive{{
			Namespace:  m.namespace,
			Dimensions: [][]string{keys},
			Metrics:    []definition{{Name: name, Unit: unit}},
		}},
	}
	line, err := json.Marshal(doc)
	if err != nil {
		return
	}
	line = append(line, '\n')
	m.mu.Lock()
	defer m.mu.Unlock()
	m.w.Write(line) // a lost metric line must not fail a request
}
