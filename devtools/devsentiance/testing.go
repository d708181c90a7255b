package devsentiance

// What only tests use: a stand-in on a port of its own that records what it
// received, and scripted answers. Local mode uses none of it.

import (
	"net/http"
	"net/http/httptest"
	"slices"
	"testing"
	"time"
)

// Call is one request the stand-in received, valid or not.
type Call struct {
	Method, Path, Authorization, ContentType string
	Body                                     []byte
	ExternalID                               string // the body's external_id, if it had a string one
}

// Step is a scripted answer to one call: after Delay (cut short if the
// client leaves), a TCP reset, Status with Header and Body (JSON unless
// Header says), or with neither the normal answer.
type Step struct {
	Status int
	Body   string
	Header http.Header
	Delay  time.Duration
	Reset  bool
}

// Start serves a stand-in accepting apiKey on a loopback port of its own
// until the test ends, recording every call and code.
func Start(t testing.TB, apiKey string) *Server {
	t.Helper()
	s := New(apiKey)
	s.record = true
	srv := httptest.NewServer(s)
	s.URL = srv.URL
	t.Cleanup(func() {
		close(s.closed)
		srv.Close()
	})
	return s
}

// SetKey changes the accepted API keys; Sentiance accepts every active key
// of an app, so old and new together model a rotation's overlap.
func (s *Server) SetKey(apiKeys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append([]string(nil), apiKeys...)
}

// Script queues steps: each of the next calls, whatever it asks, takes the
// next step. Once the queue is empty the normal behaviour resumes.
func (s *Server) Script(steps ...Step) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.steps = append(s.steps, steps...)
}

// Calls returns every request received so far, in order of arrival.
func (s *Server) Calls() []Call {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.calls)
}

// Codes returns every authentication_code issued so far.
func (s *Server) Codes() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return slices.Clone(s.codes)
}

// Reset forgets the calls and codes recorded so far (the script, keys and
// delay stay), so a long test such as a fuzz target checks each round alone.
func (s *Server) Reset() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.calls, s.codes = nil, nil
}
