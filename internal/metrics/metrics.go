// Package metrics writes what the function counts as CloudWatch Embedded
// Metric Format (EMF) lines: JSON log lines that CloudWatch turns into
// metrics, so counting costs no API call and adds no latency.
package metrics

import (
	"encoding/json"
	"io"
	"math"
	"strconv"
	"sync"
	"time"
)

// Service is the dimension every metric carries (the alarms select on it).
const Service = "authcode"

// Metric names, as the template's alarms and dashboard use them (a test
// holds template.yaml to these).
const (
	CodesIssued      = "CodesIssued"      // 200 answers
	Denied           = "Denied"           // 4xx answers, by Reason
	Failed           = "Failed"           // 5xx answers, by Reason
	SentianceLatency = "SentianceLatency" // per Sentiance call, milliseconds
	SentianceErrors  = "SentianceErrors"  // Sentiance calls without a 200, by Status ("none": no answer)
	KeyRejected      = "KeyRejected"      // Sentiance answered 401/403 to the key
	SecretFetches    = "SecretFetches"    // Secrets Manager fetches, by Outcome
	RateLimitErrors  = "RateLimitErrors"  // per-user limit checks that failed
	KeyDaysToExpiry  = "KeyDaysToExpiry"  // days the loaded key has left, when the secret says
	KeyExpiryWatched = "KeyExpiryWatched" // 1 per key load with a readable expires_at, else 0
)

// Names lists every metric the function emits.
func Names() []string {
	return []string{CodesIssued, Denied, Failed, SentianceLatency, SentianceErrors, KeyRejected, SecretFetches, RateLimitErrors, KeyDaysToExpiry, KeyExpiryWatched}
}

// FetchOutcome is how one Secrets Manager fetch ended.
type FetchOutcome string

// The fetch outcomes, the Outcome dimension of SecretFetches.
const (
	FetchOK    FetchOutcome = "ok"    // a key was loaded
	FetchStale FetchOutcome = "stale" // the fetch failed; the cached key is served
	FetchError FetchOutcome = "error" // the fetch failed and there is no key
)

// EMF writes metrics to w, one line each. It is safe for concurrent use; a
// nil *EMF counts nothing.
type EMF struct {
	mu        sync.Mutex // one line at a time
	w         io.Writer
	namespace string
}

// New returns an EMF writer for namespace.
func New(w io.Writer, namespace string) *EMF {
	return &EMF{w: w, namespace: namespace}
}

// Answer counts one answer: its status and, unless 200, its reason.
func (m *EMF) Answer(status int, reason string) {
	switch {
	case status == 200:
		m.put(CodesIssued, "Count", 1, "", "")
	case status >= 500:
		m.put(Failed, "Count", 1, "Reason", reason)
	default:
		m.put(Denied, "Count", 1, "Reason", reason)
	}
}

// SentianceCall records one call to Sentiance: its status (0 when there was
// no answer) and how long it took.
func (m *EMF) SentianceCall(status int, took time.Duration) {
	m.put(SentianceLatency, "Milliseconds", float64(took.Microseconds())/1000, "", "")
	if status != 200 {
		s := "none"
		if status != 0 {
			s = strconv.Itoa(status)
		}
		m.put(SentianceErrors, "Count", 1, "Status", s)
	}
}

// KeyRejected counts a rejection of the user_link key by Sentiance.
func (m *EMF) KeyRejected() { m.put(KeyRejected, "Count", 1, "", "") }

// SecretFetch counts one Secrets Manager fetch.
func (m *EMF) SecretFetch(outcome FetchOutcome) {
	m.put(SecretFetches, "Count", 1, "Outcome", string(outcome))
}

// RateLimitError counts a per-user limit check that failed.
func (m *EMF) RateLimitError() { m.put(RateLimitErrors, "Count", 1, "", "") }

// KeyDaysToExpiry records the days left before the loaded key expires. It
// has no CloudWatch unit for days: None.
func (m *EMF) KeyDaysToExpiry(days int) { m.put(KeyDaysToExpiry, "None", float64(days), "", "") }

// KeyExpiryWatched records whether a loaded key's expiry is known: a 0 is
// published, not left out, so the not-watched alarm reads data, not silence.
func (m *EMF) KeyExpiryWatched(watched bool) {
	v := 0.0
	if watched {
		v = 1
	}
	m.put(KeyExpiryWatched, "None", v, "", "")
}

// put writes one EMF document: the metadata under _aws, the dimension values
// and the metric value; dim is "" for a metric with only Service.
func (m *EMF) put(name, unit string, value float64, dim, dimValue string) {
	if m == nil || math.IsNaN(value) || math.IsInf(value, 0) {
		return // counting is off, or the value is not representable in JSON
	}
	dims := []string{"Service"}
	doc := map[string]any{"Service": Service, name: value}
	if dim != "" {
		dims = append(dims, dim)
		doc[dim] = dimValue
	}
	doc["_aws"] = map[string]any{
		"Timestamp": time.Now().UnixMilli(),
		"CloudWatchMetrics": []map[string]any{{
			"Namespace": m.namespace, "Dimensions": [][]string{dims}, "Metrics": []map[string]string{{"Name": name, "Unit": unit}},
		}},
	}
	line, err := json.Marshal(doc)
	if err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.w.Write(append(line, '\n')) // a lost metric line must not fail a request
}
