package metrics

import (
	"bytes"
	"encoding/json"
	"math"
	"testing"
	"time"
)

// The hand-written encoder must produce what encoding/json would decode to
// the same values: strings escaped (control characters, quotes, invalid
// UTF-8, U+2028), floats formatted alike.
func TestAppendStringMatchesEncodingJSON(t *testing.T) {
	for _, s := range []string{"", "plain", `q"uo\te`, "ctl\x00\x01\n\t\x1f", "bad\xff\xfeutf8", "line\u2028sep\u2029", "ünïcødé ✓", "<&>", "\x7f"} {
		var got string
		if err := json.Unmarshal(appendString(nil, s), &got); err != nil {
			t.Fatalf("%q: not a JSON string: %s", s, appendString(nil, s))
		}
		var want string
		raw, _ := json.Marshal(s)
		_ = json.Unmarshal(raw, &want)
		if got != want {
			t.Errorf("%q decodes to %q, want %q", s, got, want)
		}
	}
}

func TestAppendFloatMatchesEncodingJSON(t *testing.T) {
	for _, f := range []float64{0, 1, -1, 1.5, 0.001, 123456.789, 1e-7, 3.2e-9, 1e21, 1.5e300, math.SmallestNonzeroFloat64, math.MaxFloat64} {
		want, _ := json.Marshal(f)
		if got := appendFloat(nil, f); !bytes.Equal(got, want) {
			t.Errorf("%v: got %s, want %s", f, got, want)
		}
	}
}

// NaN and infinities are not JSON: no line rather than a broken one.
func TestNoLineForNonFinite(t *testing.T) {
	var buf bytes.Buffer
	m := New(&buf, "Test/NS")
	m.put(SentianceLatency, "Milliseconds", math.NaN(), "", "")
	m.put(SentianceLatency, "Milliseconds", math.Inf(1), "", "")
	if buf.Len() != 0 {
		t.Fatalf("wrote %q", buf.String())
	}
}

// A warm invocation writes two metric lines; they must not allocate.
func TestPutDoesNotAllocate(t *testing.T) {
	m := New(discard{}, "SentianceAuthCode")
	m.Request("issued", 200) // grows the buffer once
	if n := testing.AllocsPerRun(100, func() {
		m.Request("issued", 200)
		m.SentianceCall(200, 1500*time.Microsecond)
		m.Request("invalid_token", 401)
	}); n != 0 {
		t.Errorf("allocations per request = %v, want 0", n)
	}
}

type discard struct{}

func (discard) Write(p []byte) (int, error) { return len(p), nil }
