// Package devsentiance is the Sentiance stand-in of local mode and the
// tests: POST /users/auth-code as documented (bearer key, JSON external_id,
// a 128-hex-character code for ten minutes), scriptable, its codes worthless.
package devsentiance

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/sentiance-authcode/backend/internal/sentiance"
)

// MaxBodyBytes caps the request body read. Sentiance documents no limit;
// this keeps a runaway client from filling memory.
const MaxBodyBytes = 1 << 20

// CodeLifetime is how long a code lives, as Sentiance documents.
const CodeLifetime = 10 * time.Minute

// Server answers like Sentiance. It is safe for concurrent use.
type Server struct {
	URL string // set by Start

	record bool          // keep Calls and Codes (tests; local mode keeps nothing)
	closed chan struct{} // closed when a started stand-in stops: ends every delay

	mu    sync.Mutex
	keys  []string
	steps []Step
	calls []Call
	codes []string
}

// New returns a stand-in accepting apiKey (an empty key accepts nothing).
func New(apiKey string) *Server {
	return &Server{keys: []string{apiKey}, closed: make(chan struct{})}
}

// ServeHTTP answers one request.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes))
	var req struct {
		ExternalID any `json:"external_id"`
	}
	jsonErr := json.Unmarshal(body, &req)
	externalID, _ := req.ExternalID.(string)

	s.mu.Lock()
	if s.record {
		s.calls = append(s.calls, Call{r.Method, r.URL.Path, r.Header.Get("Authorization"), r.Header.Get("Content-Type"), body, externalID})
	}
	var delay time.Duration
	var step *Step
	if len(s.steps) > 0 {
		step = &s.steps[0]
		s.steps = s.steps[1:]
		delay = step.Delay
	}
	authorized := slices.ContainsFunc(s.keys, func(key string) bool { return bearerIs(r.Header.Get("Authorization"), key) })
	s.mu.Unlock()

	if !s.sleep(r.Context(), delay) {
		return
	}
	switch {
	case step != nil && step.Reset:
		reset(w)
	case step != nil && step.Status != 0:
		for k, v := range step.Header {
			w.Header()[k] = v
		}
		if w.Header().Get("Content-Type") == "" && step.Body != "" {
			w.Header().Set("Content-Type", "application/json")
		}
		w.WriteHeader(step.Status)
		_, _ = io.WriteString(w, step.Body)
	case r.URL.Path != sentiance.Path:
		writeJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		writeJSON(w, http.StatusMethodNotAllowed, map[string]string{"message": "Method Not Allowed"})
	case !authorized:
		writeJSON(w, http.StatusUnauthorized, map[string]string{"message": "Unauthorized", "errorCode": "unauthorized"})
	case !isJSON(r.Header.Get("Content-Type")):
		writeJSON(w, http.StatusUnsupportedMediaType, map[string]string{
			"message": "Content-Type must be application/json", "errorCode": "unsupported_media_type"})
	case jsonErr != nil:
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "body must be a JSON object", "errorCode": "validation_error"})
	case externalID == "":
		writeJSON(w, http.StatusBadRequest, map[string]string{"message": "external_id must be a non-empty string", "errorCode": "validation_error"})
	default:
		code := NewCode()
		if s.record {
			s.mu.Lock()
			s.codes = append(s.codes, code)
			s.mu.Unlock()
		}
		writeJSON(w, http.StatusOK, map[string]string{"authentication_code": code, "expires_at": ExpiresAt(time.Now())})
	}
}

// NewCode returns a random code in Sentiance's format: 128 lowercase hex
// characters.
func NewCode() string {
	b := make([]byte, 64)
	_, _ = rand.Read(b) // never fails, per crypto/rand
	return hex.EncodeToString(b)
}

// ExpiresAt is the expires_at Sentiance would give a code issued at now:
// CodeLifetime later, RFC 3339 in UTC with milliseconds.
func ExpiresAt(now time.Time) string {
	return now.UTC().Add(CodeLifetime).Format("2006-01-02T15:04:05.000Z")
}

// sleep waits d and reports whether the answer should still be sent: not if
// the client went away or the stand-in is stopping.
func (s *Server) sleep(ctx context.Context, d time.Duration) bool {
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

func writeJSON(w http.ResponseWriter, status int, v any) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(v)
}

// bearerIs reports whether header is "Bearer <key>" (scheme
// case-insensitive, RFC 9110). An empty key accepts nothing.
func bearerIs(header, key string) bool {
	scheme, token, ok := strings.Cut(header, " ")
	return ok && key != "" && strings.EqualFold(scheme, "Bearer") &&
		subtle.ConstantTimeCompare([]byte(token), []byte(key)) == 1
}

func isJSON(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	return err == nil && mt == "application/json"
}
