// Package metrics defines what the function counts (Observer) and writes it
// as CloudWatch Embedded Metric Format (EMF) lines: JSON log lines that
// CloudWatch turns into metrics, so counting costs no API call and adds no
// latency.
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
	// KeyDaysToExpiry is the whole days left before the user_link key
	// expires (negative once expired), each time the key is loaded; only
	// when the secret carries expires_at.
	KeyDaysToExpiry = "KeyDaysToExpiry"
)

// Names lists every metric the function emits.
func Names() []string {
	return []string{CodesIssued, Denied, Failed, SentianceLatency, SentianceErrors, KeyRejected, SecretFetches, RateLimitErrors, KeyDaysToExpiry}
}

// FetchOutcome is how one Secrets Manager fetch ended.
type FetchOutcome string

// The fetch outcomes, the Outcome dimension of SecretFetches.
const (
	FetchOK    FetchOutcome = "ok"    // a key was loaded
	FetchStale FetchOutcome = "stale" // the fetch failed; the cached key is served
	FetchError FetchOutcome = "error" // the fetch failed and there is no key
	// FetchBadExpiry: a key was loaded but the secret's expires_at could not
	// be read, so its expiry is not watched. Counted instead of ok, once per
	// instance and distinct value, so the outcomes still add up to fetches.
	FetchBadExpiry FetchOutcome = "bad_expiry"
)

// Observer is told what the function does, to count it. Each package that
// reports declares the part it calls; EMF and Nop implement all of it.
type Observer interface {
	// Answer counts one answer: its status and, unless 200, its reason.
	Answer(status int, reason string)
	// SentianceCall records one call to Sentiance: its status (0 when
	// there was no answer) and how long it took.
	SentianceCall(status int, took time.Duration)
	// KeyRejected counts a rejection of the user_link key by Sentiance.
	KeyRejected()
	// SecretFetch counts one Secrets Manager fetch.
	SecretFetch(outcome FetchOutcome)
	// RateLimitError counts a per-user limit check that failed.
	RateLimitError()
	// KeyDaysToExpiry records the days left before the loaded key expires.
	KeyDaysToExpiry(days float64)
}

// Nop counts nothing: the default where no observer is given.
type Nop struct{}

func (Nop) Answer(int, string)               {}
func (Nop) SentianceCall(int, time.Duration) {}
func (Nop) KeyRejected()                     {}
func (Nop) SecretFetch(FetchOutcome)         {}
func (Nop) RateLimitError()                  {}
func (Nop) KeyDaysToExpiry(float64)          {}

// EMF writes metrics to w, one line each. It is safe for concurrent use.
type EMF struct {
	mu        sync.Mutex // one line at a time
	w         io.Writer
	namespace string
	now       func() time.Time
}

// New returns an EMF writer for namespace; now may be nil (time.Now).
func New(w io.Writer, namespace string, now func() time.Time) *EMF {
	if now == nil {
		now = time.Now
	}
	return &EMF{w: w, namespace: namespace, now: now}
}

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

func (m *EMF) KeyRejected() { m.put(KeyRejected, "Count", 1, "", "") }

func (m *EMF) SecretFetch(outcome FetchOutcome) {
	m.put(SecretFetches, "Count", 1, "Outcome", string(outcome))
}

func (m *EMF) RateLimitError() { m.put(RateLimitErrors, "Count", 1, "", "") }

// KeyDaysToExpiry has no CloudWatch unit for days: None.
func (m *EMF) KeyDaysToExpiry(days float64) { m.put(KeyDaysToExpiry, "None", days, "", "") }

type directive struct {
	Namespace  string     `json:"Namespace"`
	Dimensions [][]string `json:"Dimensions"`
	Metrics    []metric   `json:"Metrics"`
}

type metric struct {
	Name string `json:"Name"`
	Unit string `json:"Unit"`
}

// put writes one EMF document: the metadata under _aws, then the dimension
// values and the metric value as top-level members. dim is "" for a metric
// with only the Service dimension.
func (m *EMF) put(name, unit string, value float64, dim, dimValue string) {
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return // not representable in JSON
	}
	dims := []string{"Service"}
	doc := map[string]any{"Service": Service, name: value}
	if dim != "" {
		dims = append(dims, dim)
		doc[dim] = dimValue
	}
	doc["_aws"] = map[string]any{
		"Timestamp":         m.now().UnixMilli(),
		"CloudWatchMetrics": []directive{{Namespace: m.namespace, Dimensions: [][]string{dims}, Metrics: []metric{{name, unit}}}},
	}
	line, err := json.Marshal(doc)
	if err != nil {
		return
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	m.w.Write(append(line, '\n')) // a lost metric line must not fail a request
}
