// Package devsentiance is a stand-in for Sentiance's POST /users/auth-code,
// following its documented behaviour: an API key as bearer token, a JSON body
// with a non-empty string external_id, and a 200 with a 128-character
// lowercase hex authentication_code that expires ten minutes later.
//
// Local mode serves it when no real key is configured, and the test stand-in
// (internal/testenv) answers with it whenever a test has not scripted
// something else, so there is one description of Sentiance's behaviour.
// The codes it issues are random and mean nothing to Sentiance.
package devsentiance

import (
	"crypto/rand"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"slices"
	"strings"
	"sync"
	"time"
)

// Path is the one route it serves.
const Path = "/users/auth-code"

// MaxBodyBytes caps the request body read. Sentiance documents no limit;
// this keeps a runaway client from filling memory.
const MaxBodyBytes = 1 << 20

// CodeLifetime is how long a code lives, as Sentiance documents.
const CodeLifetime = 10 * time.Minute

// Server answers like Sentiance. It is safe for concurrent use.
type Server struct {
	onIssue func(code string)

	mu   sync.Mutex
	keys []string
}

// New returns a stand-in accepting apiKey (an empty key accepts nothing).
// onIssue, when not nil, is called with every code issued.
func New(apiKey string, onIssue func(code string)) *Server {
	if onIssue == nil {
		onIssue = func(string) {}
	}
	return &Server{keys: []string{apiKey}, onIssue: onIssue}
}

// SetKey changes the accepted API keys, as after a rotation. Sentiance
// accepts every active key of an app (up to 10), so passing the old and
// the new key models the overlap a rotation relies on.
func (s *Server) SetKey(apiKeys ...string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.keys = append([]string(nil), apiKeys...)
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
	authorized := slices.ContainsFunc(s.keys, func(key string) bool { return bearerIs(r.Header.Get("Authorization"), key) })
	s.mu.Unlock()

	switch {
	case r.URL.Path != Path:
		WriteJSON(w, http.StatusNotFound, map[string]string{"message": "Not Found"})
	case r.Method != http.MethodPost:
		w.Header().Set("Allow", http.MethodPost)
		WriteJSON(w, http.StatusMethodNotAllowed, map[string]string{"message": "Method Not Allowed"})
	case !authorized:
		WriteJSON(w, http.StatusUnauthorized, map[string]string{"message": "Unauthorized", "errorCode": "unauthorized"})
	case !isJSON(r.Header.Get("Content-Type")):
		WriteJSON(w, http.StatusUnsupportedMediaType, map[string]string{
			"message": "Content-Type must be application/json", "errorCode": "unsupported_media_type"})
	case jsonErr != nil:
		WriteJSON(w, http.StatusBadRequest, map[string]string{
			"message": "body must be a JSON object", "errorCode": "validation_error"})
	case externalID == "":
		WriteJSON(w, http.StatusBadRequest, map[string]string{
			"message": "external_id must be a non-empty string", "errorCode": "validation_error"})
	default:
		code := NewCode()
		s.onIssue(code)
		WriteJSON(w, http.StatusOK, map[string]string{
			"authentication_code": code,
			"expires_at":          ExpiresAt(time.Now()),
		})
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

// WriteJSON answers status with v as JSON.
func WriteJSON(w http.ResponseWriter, status int, v any) {
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
