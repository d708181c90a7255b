package metrics

import (
	"bufio"
	"bytes"
	"encoding/json"
	"sync"
	"testing"
	"time"
)

// checkEMF validates one line against the EMF specification's rules: _aws
// metadata with a millisecond Timestamp, and every dimension and metric it
// names present as a top-level member.
func checkEMF(t *testing.T, line []byte) map[string]any {
	t.Helper()
	var doc map[string]any
	if err := json.Unmarshal(line, &doc); err != nil {
		t.Fatalf("not JSON: %s", line)
	}
	aws, ok := doc["_aws"].(map[string]any)
	if !ok {
		t.Fatalf("no _aws member: %s", line)
	}
	if ts, ok := aws["Timestamp"].(float64); !ok || ts < 1e12 {
		t.Errorf("Timestamp %v is not epoch milliseconds", aws["Timestamp"])
	}
	directives, _ := aws["CloudWatchMetrics"].([]any)
	if len(directives) == 0 {
		t.Fatalf("no CloudWatchMetrics: %s", line)
	}
	for _, d := range directives {
		d := d.(map[string]any)
		if d["Namespace"] != "Test/NS" {
			t.Errorf("Namespace = %v", d["Namespace"])
		}
		for _, set := range d["Dimensions"].([]any) {
			for _, name := range set.([]any) {
				if _, ok := doc[name.(string)].(string); !ok {
					t.Errorf("dimension %v has no string value in %s", name, line)
				}
			}
		}
		for _, m := range d["Metrics"].([]any) {
			name := m.(map[string]any)["Name"].(string)
			if _, ok := doc[name].(float64); !ok {
				t.Errorf("metric %s has no numeric value in %s", name, line)
			}
		}
	}
	return doc
}

func TestEMF(t *testing.T) {
	tests := []struct {
		name   string
		emit   func(m *EMF)
		metric string
		dims   map[string]string
		value  float64
	}{
		{"code issued", func(m *EMF) { m.Answer(200, "") }, CodesIssued, nil, 1},
		{"denied", func(m *EMF) { m.Answer(401, "invalid_token") }, Denied, map[string]string{"Reason": "invalid_token"}, 1},
		{"failed", func(m *EMF) { m.Answer(503, "key_unavailable") }, Failed, map[string]string{"Reason": "key_unavailable"}, 1},
		{"key rejected", func(m *EMF) { m.KeyRejected() }, KeyRejected, nil, 1},
		{"secret fetch", func(m *EMF) { m.SecretFetch(FetchStale) }, SecretFetches, map[string]string{"Outcome": "stale"}, 1},
		{"rate limit error", func(m *EMF) { m.RateLimitError() }, RateLimitErrors, nil, 1},
		{"sentiance latency", func(m *EMF) { m.SentianceCall(200, 1500*time.Microsecond) }, SentianceLatency, nil, 1.5},
		{"key days to expiry", func(m *EMF) { m.KeyDaysToExpiry(9) }, KeyDaysToExpiry, nil, 9},
		{"key expired", func(m *EMF) { m.KeyDaysToExpiry(-3) }, KeyDaysToExpiry, nil, -3},
		{"expiry watched", func(m *EMF) { m.KeyExpiryWatched(true) }, KeyExpiryWatched, nil, 1},
		{"expiry not watched", func(m *EMF) { m.KeyExpiryWatched(false) }, KeyExpiryWatched, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var buf bytes.Buffer
			tt.emit(New(&buf, "Test/NS"))
			lines := bytes.Split(bytes.TrimSpace(buf.Bytes()), []byte("\n"))
			if len(lines) != 1 {
				t.Fatalf("lines = %d, want 1: %s", len(lines), buf.String())
			}
			doc := checkEMF(t, lines[0])
			if doc[tt.metric] != tt.value || doc["Service"] != Service {
				t.Errorf("doc = %v, want %s = %v", doc, tt.metric, tt.value)
			}
			for k, v := range tt.dims {
				if doc[k] != v {
					t.Errorf("%s = %v, want %s", k, doc[k], v)
				}
			}
		})
	}
}

func TestSentianceErrors(t *testing.T) {
	var buf bytes.Buffer
	m := New(&buf, "Test/NS")
	m.SentianceCall(0, time.Second)
	m.SentianceCall(503, time.Second)
	var statuses []string
	sc := bufio.NewScanner(&buf)
	for sc.Scan() {
		doc := checkEMF(t, sc.Bytes())
		if _, ok := doc[SentianceErrors]; ok {
			statuses = append(statuses, doc["Status"].(string))
		}
	}
	if len(statuses) != 2 || statuses[0] != "none" || statuses[1] != "503" {
		t.Fatalf("SentianceErrors statuses = %v, want [none 503]", statuses)
	}
}

// Lines written concurrently must not interleave.
func TestConcurrentLines(t *testing.T) {
	var buf bytes.Buffer
	m := New(&buf, "Test/NS")
	var wg sync.WaitGroup
	for i := 0; i < 50; i++ {
		wg.Add(1)
		go func() { defer wg.Done(); m.Answer(200, "") }()
	}
	wg.Wait()
	sc := bufio.NewScanner(&buf)
	n := 0
	for sc.Scan() {
		checkEMF(t, sc.Bytes())
		n++
	}
	if n != 50 {
		t.Fatalf("lines = %d, want 50", n)
	}
}

// A nil *EMF is the no-op: code that does not count passes nil.
func TestNilCountsNothing(t *testing.T) {
	var m *EMF
	m.Answer(200, "")
	m.SentianceCall(0, time.Second)
	m.KeyRejected()
	m.SecretFetch(FetchOK)
	m.RateLimitError()
	m.KeyDaysToExpiry(3)
}
