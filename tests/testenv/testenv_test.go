package testenv_test

import (
	"encoding/json"
	"fmt"
	"net"
	"strconv"
	"strings"
	"testing"

	"github.com/sentiance-authcode/backend/tests/testenv"
)

// echoReply is what testdata/echo answers.
type echoReply struct {
	Event    json.RawMessage `json:"event"`
	Echo     string          `json:"echo"`
	EnvNames []string        `json:"env_names"`
	Deadline float64         `json:"deadline_seconds"`
}

func TestLogs(t *testing.T) {
	t.Parallel()
	log, buf := testenv.CaptureLogs(t)
	log.Debug("hello", "k", "v")
	var line map[string]any
	if err := json.Unmarshal([]byte(buf.String()), &line); err != nil || line["level"] != "DEBUG" || line["k"] != "v" {
		t.Errorf("captured %q: %v", buf.String(), err)
	}

	const token = "eyJhbGciOiJSUzI1NiJ9.eyJzdWIiOiJ1In0.c2lnbmF0dXJl"
	rec := &recorder{TB: t}
	testenv.AssertNoLeak(rec, "request with "+token+" done", "", "not-there", token)
	if len(rec.errs) != 1 || !strings.Contains(rec.errs[0], "secret #3 (JWT") || strings.Contains(rec.errs[0], token) {
		t.Errorf("AssertNoLeak reported %q", rec.errs)
	}

	buf.Reset()
	if buf.String() != "" {
		t.Errorf("after Reset: %q", buf.String())
	}

	p := testenv.FreePort(t)
	if p < 20000 || p >= 32000 {
		t.Errorf("FreePort = %d, want one below the ephemeral range", p)
	}
	l, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p))
	if err != nil {
		t.Errorf("FreePort's %d cannot be listened on: %v", p, err)
	} else {
		l.Close()
	}
}

// recorder catches AssertNoLeak's errors instead of failing the test.
type recorder struct {
	testing.TB
	errs []string
}

func (r *recorder) Errorf(format string, args ...any) {
	r.errs = append(r.errs, fmt.Sprintf(format, args...))
}

func (r *recorder) Helper() {}

// running lists the processes whose command line starts with path (Linux).
