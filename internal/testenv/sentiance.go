package testenv

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/sentiance-authcode/backend/internal/devsentiance"
)

// Sentiance is a stand-in for Sentiance's POST /users/auth-code. Its base
// URL goes where https://api.sentiance.com would. Unless a test scripts
// another answer, it answers as internal/devsentiance does (the stand-in
// `make run` uses), so tests and local runs share one model of Sentiance.
type Sentiance struct {
	URL string

	srv    *httptest.Server
	closed chan struct{} // closed at cleanup, ends every pending delay
	dev    *devsentiance.Server

	mu    sync.Mutex
	delay time.Duration
	steps []SentianceStep
	calls []SentianceCall
	codes []string
}

// SentianceCall is one request the stand-in received, valid or not.
type SentianceCall struct {
	Method, Path, Authorization, ContentType string
	Body                                     []byte
	ExternalID                               string // the body's external_id, if it had a string one
}

// SentianceStep is a scripted answer to one call, instead of the normal one.
//
// The server first waits Delay (giving up if the client goes away). Then, if
// Reset is set, it drops the connection without answering (a TCP reset).
// Otherwise, if Status is set, it answers Status with Header and Body (with
// Content-Type application/json unless Header sets one). A step with neither
// gives the normal answer after its Delay (instead of SetDelay's).
type SentianceStep struct {
	Status int
	Body   string
	Header http.Header
	Delay  time.Duration
	Reset  bool
}

// StartSentiance starts the stand-in, accepting apiKey.
func StartSentiance(t testing.TB, apiKey string) *Sentiance {
	t.Helper()
	s := &Sentiance{closed: make(chan struct{})}
	s.dev = devsentiance.New(apiKey, func(code string) {
		s.mu.Lock()
		defer s.mu.Unlock()
		s.codes = append(s.codes, code)
	})
	s.srv = httptest.NewServer(http.HandlerFunc(s.serve))
	s.URL = s.srv.URL
	t.Cleanup(func() {
		close(s.closed)
		s.srv.Close()
	})
	return s
}

// SetKey changes the API keys the stand-in accepts, as after a rotation
// (old and new together while both are active).
func (s *Sentiance) SetKey(apiKeys ...string) {
	s.dev.SetKey(apiKeys...)
}

// SetDelay delays every normal answer by d.
func (s *Sentiance) SetDelay(d time.Duration) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.delay = d
}

// Script queues steps: each of the next calls, whatever it asks, takes the
// next step. Once the queue is empty the normal behaviour resumes.
func (s *Sentiance) Script(steps ...SentianceStep) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.steps = append(s.steps, steps...)
}

// Calls returns every request received so far, in order of arrival.
func (s *Sentiance) Calls() []SentianceCall {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]SentianceCall(nil), s.calls...)
}

// Codes returns every authentication_code issued so far.
func (s *Sentiance) Codes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.codes...)
}

func (s *Sentiance) serve(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, devsentiance.MaxBodyBytes))
	var req struct {
		ExternalID any `json:"external_id"`
	}
	_ = json.Unmarshal(body, &req)
	externalID, _ := req.ExternalID.(string)

	s.mu.Lock()
	s.calls = append(s.calls, SentianceCall{
		Method:        r.Method,
		Path:          r.URL.Path,
		Authorization: r.Header.Get("Authorization"),
		ContentType:   r.Header.Get("Content-Type"),
		Body:          body,
		ExternalID:    externalID,
	})
	delay := s.delay
	var step *SentianceStep
	if len(s.steps) > 0 {
		step = &s.steps[0]
		s.steps = s.steps[1:]
	}
	s.mu.Unlock()

	if step != nil {
		delay = step.Delay
	}
	if !s.sleep(r.Context(), delay) {
		return
	}
	if step != nil && step.Reset {
		reset(w)
		return
	}
	if step != nil && step.Status != 0 {
		for k, v := range step.Header {
			w.Header()[k] = v
		}
		if w.Header().Get("Content-Type") == "" && step.Body != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(step.Status)
		_, _ = io.WriteString(w, step.Body)
		return
	}

	// The normal answer, with the body read above put back.
	r.Body = io.NopCloser(bytes.NewReader(body))
	s.dev.ServeHTTP(w, r)
}

// sleep waits d and reports whether the answer should still be sent: not if
// the client went away or the stand-in is shutting down.
func (s *Sentiance) sleep(ctx context.Context, d time.Duration) bool {
	if d <= 0 {
		return true
	}
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return true
	case <-ctx.Done():
		return false
	case <-s.closed:
		return false
	}
}

// reset drops the connection with a TCP RST, so the client gets "connection
// reset by peer" rather than a clean end of stream.
func reset(w http.ResponseWriter) {
	conn, _, err := http.NewResponseController(w).Hijack()
	if err != nil {
		panic(http.ErrAbortHandler) // HTTP/2: abort the stream instead
	}
	if tcp, ok := conn.(*net.TCPConn); ok {
		_ = tcp.SetLinger(0)
	}
	conn.Close()
}
