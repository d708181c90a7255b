// Package metrics writes CloudWatch Embedded Metric Format (EMF) lines: JSON
// log lines that CloudWatch turns into metrics, so counting costs no API call
// and adds no latency.
package metrics

import (
	"io"
	"math"
	"strconv"
	"sync"
	"time"
	"unicode/utf8"
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
	buf       []byte // the line being written, reused under mu
}

// New returns an EMF writer for namespace.
func New(w io.Writer, namespace string) *EMF {
	return &EMF{w: w, namespace: namespace, now: time.Now}
}

// Request counts one answer by its status and outcome reason.
func (m *EMF) Request(outcome string, status int) {
	switch {
	case status == 200:
		m.put(CodesIssued, "Count", 1, "", "")
	case status >= 500:
		m.put(Failed, "Count", 1, "Reason", outcome)
	default:
		m.put(Denied, "Count", 1, "Reason", outcome)
	}
}

// SentianceCall records one call to Sentiance: its status (0 when there
// was no answer) and how long it took.
func (m *EMF) SentianceCall(status int, took time.Duration) {
	m.put(SentianceLatency, "Milliseconds", float64(took.Microseconds())/1000, "", "")
	if status != 200 {
		m.put(SentianceErrors, "Count", 1, "Status", statusText(status))
	}
}

// KeyRejected counts a rejection of the user_link key by Sentiance.
func (m *EMF) KeyRejected() { m.put(KeyRejected, "Count", 1, "", "") }

// SecretFetch counts a Secrets Manager fetch by outcome.
func (m *EMF) SecretFetch(outcome string) {
	m.put(SecretFetches, "Count", 1, "Outcome", outcome)
}

func statusText(status int) string {
	if status == 0 {
		return "none"
	}
	return strconv.Itoa(status)
}

// put writes one EMF document: the metadata under _aws, then the dimension
// values and the metric value as top-level members. dimName is "" for a
// metric with only the Service dimension. The line is built by hand into a
// buffer reused under the lock (it runs on every request: encoding/json and
// its maps cost more than the rest of a warm invocation together).
func (m *EMF) put(name, unit string, value float64, dimName, dimValue string) {
	if math.IsNaN(value) || math.IsInf(value, 0) {
		return // not representable in JSON
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	b := m.buf[:0]
	b = append(b, `{"_aws":{"Timestamp":`...)
	b = strconv.AppendInt(b, m.now().UnixMilli(), 10)
	b = append(b, `,"CloudWatchMetrics":[{"Namespace":`...)
	b = appendString(b, m.namespace)
	b = append(b, `,"Dimensions":[["Service"`...)
	if dimName != "" {
		b = append(b, ',')
		b = appendString(b, dimName)
	}
	b = append(b, `]],"Metrics":[{"Name":`...)
	b = appendString(b, name)
	b = append(b, `,"Unit":`...)
	b = appendString(b, unit)
	b = append(b, `}]}]},"Service":`...)
	b = appendString(b, Service)
	if dimName != "" {
		b = append(b, ',')
		b = appendString(b, dimName)
		b = append(b, ':')
		b = appendString(b, dimValue)
	}
	b = append(b, ',')
	b = appendString(b, name)
	b = append(b, ':')
	b = appendFloat(b, value)
	b = append(b, '}', '\n')
	m.buf = b
	m.w.Write(b) // a lost metric line must not fail a request
}

// appendString appends s as a JSON string, escaped as encoding/json does
// (invalid UTF-8 becomes U+FFFD).
func appendString(b []byte, s string) []byte {
	const hex = "0123456789abcdef"
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, '\\', 'u', '2', '0', '2', hex[r&0xf])
		default:
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}

// appendFloat appends f as encoding/json formats a float64.
func appendFloat(b []byte, f float64) []byte {
	format := byte('f')
	if abs := math.Abs(f); abs != 0 && (abs < 1e-6 || abs >= 1e21) {
		format = 'e'
	}
	b = strconv.AppendFloat(b, f, format, -1, 64)
	if format == 'e' {
		// clean up e-09 to e-9, as encoding/json does
		if n := len(b); n >= 4 && b[n-4] == 'e' && b[n-3] == '-' && b[n-2] == '0' {
			b[n-2] = b[n-1]
			b = b[:n-1]
		}
	}
	return b
}
