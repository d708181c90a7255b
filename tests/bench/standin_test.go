package bench

import (
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sentiance-authcode/backend/devtools/devsentiance"
	"github.com/sentiance-authcode/backend/internal/sentiance"
)

// standIn is Sentiance on loopback, answering as internal/devsentiance does
// (the model testenv and local mode share), after an optional delay. It
// counts the TCP connections its listener accepts: each is a connection the
// caller had to open.
type standIn struct {
	URL   string
	srv   *httptest.Server
	delay atomic.Int64 // nanoseconds
	conns atomic.Int64
	calls atomic.Int64
}

func startStandIn(t testing.TB) *standIn {
	t.Helper()
	s := &standIn{}
	dev := devsentiance.New(apiKey)
	s.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.calls.Add(1)
		if d := time.Duration(s.delay.Load()); d > 0 {
			timer := time.NewTimer(d)
			select {
			case <-timer.C:
			case <-r.Context().Done():
				timer.Stop()
				return
			}
		}
		dev.ServeHTTP(w, r)
	}))
	// Set before Start (httptest chains its own hook after it).
	s.srv.Config.ConnState = func(_ net.Conn, state http.ConnState) {
		if state == http.StateNew {
			s.conns.Add(1)
		}
	}
	s.srv.Start()
	s.URL = s.srv.URL
	t.Cleanup(s.srv.Close)
	return s
}

// SetDelay makes every answer wait d.
func (s *standIn) SetDelay(d time.Duration) { s.delay.Store(int64(d)) }

// Connections is how many TCP connections have been accepted so far.
func (s *standIn) Connections() int { return int(s.conns.Load()) }

// Calls is how many requests have arrived so far.
func (s *standIn) Calls() int { return int(s.calls.Load()) }

// directCall is one POST /users/auth-code on a new connection, as the
// function's first call makes it: the Sentiance part of the cold-start floor.
func (s *standIn) directCall(t testing.TB) time.Duration {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	req, _ := http.NewRequestWithContext(context.Background(), http.MethodPost, s.URL+sentiance.Path,
		strings.NewReader(`{"external_id":"`+externalID+`"}`))
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	start := time.Now()
	resp, err := client.Do(req)
	if err != nil {
		t.Fatalf("direct call to the Sentiance stand-in: %v", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	took := time.Since(start)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("direct call to the Sentiance stand-in: %s", resp.Status)
	}
	return took
}

// procStatusKB reads a "VmHWM:   12345 kB" style field of /proc/<pid>/status.
func procStatusKB(t testing.TB, pid int, field string) int {
	t.Helper()
	raw, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/status")
	if err != nil {
		t.Fatalf("reading the status of pid %d: %v", pid, err)
	}
	for line := range strings.Lines(string(raw)) {
		if name, rest, ok := strings.Cut(line, ":"); ok && name == field {
			kb, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(rest), " kB"))
			if err != nil {
				t.Fatalf("pid %d %s: %q", pid, field, rest)
			}
			return kb
		}
	}
	t.Fatalf("pid %d has no %s in its status", pid, field)
	return 0
}

// percentile returns the p-th percentile (0-100) of ds by the nearest-rank
// method; ds need not be sorted and is not modified.
func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	rank := int(p/100*float64(len(s))+0.999999) - 1
	return s[min(max(rank, 0), len(s)-1)]
}

func median(ds []time.Duration) time.Duration { return percentile(ds, 50) }

func medianF(fs []float64) float64 {
	if len(fs) == 0 {
		return 0
	}
	s := slices.Clone(fs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

// ms formats d in milliseconds with one decimal (two below 10 ms).
func ms(d time.Duration) string {
	v := float64(d) / float64(time.Millisecond)
	if v < 10 {
		return strconv.FormatFloat(v, 'f', 2, 64) + " ms"
	}
	return strconv.FormatFloat(v, 'f', 1, 64) + " ms"
}
