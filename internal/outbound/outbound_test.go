package outbound

import (
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
)

// errTooLarge stands for an *http.MaxBytesError with the client's limit.
var errTooLarge = errors.New("a *http.MaxBytesError")

func TestClient(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/redirect":
			http.Redirect(w, r, "/small", http.StatusFound)
		case "/small":
			io.WriteString(w, strings.Repeat("a", 100))
		case "/exact":
			io.WriteString(w, strings.Repeat("a", 1000))
		case "/declared-big":
			w.Header().Set("Content-Length", "5000")
			io.WriteString(w, strings.Repeat("a", 5000))
		case "/chunked-big":
			w.(http.Flusher).Flush() // no Content-Length: the cap must hold while reading
			io.WriteString(w, strings.Repeat("a", 5000))
		}
	}))
	t.Cleanup(srv.Close)
	c := NewClient(Options{MaxBody: 1000})

	tests := []struct {
		path    string
		wantErr error // from Get or from reading the body
		wantLen int
	}{
		{path: "/small", wantLen: 100},
		{path: "/exact", wantLen: 1000},
		{path: "/redirect", wantErr: ErrRedirect},
		{path: "/declared-big", wantErr: errTooLarge},
		{path: "/chunked-big", wantErr: errTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.path, func(t *testing.T) {
			resp, err := c.Get(srv.URL + tt.path)
			var body []byte
			if err == nil {
				body, err = io.ReadAll(resp.Body)
				resp.Body.Close()
			}
			var maxBytes *http.MaxBytesError
			if tt.wantErr == errTooLarge && errors.As(err, &maxBytes) && maxBytes.Limit == 1000 {
				return
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				return
			}
			if err != nil || len(body) != tt.wantLen {
				t.Fatalf("len = %d, err = %v; want %d bytes", len(body), err, tt.wantLen)
			}
		})
	}
}

func TestCheckURL(t *testing.T) {
	tests := []struct {
		url string
		ok  bool
	}{
		{"https://api.sentiance.com", true},
		{"http://127.0.0.1:8080", true},
		{"http://localhost:8080", true},
		{"http://[::1]:8080", true},
		{"http://api.sentiance.com", false},
		{"http://10.0.0.1", false},
		{"ftp://api.sentiance.com", false},
		{"/relative", false},
		{"", false},
		{"HTTPS://api.sentiance.com", true},
		{"http://[::ffff:127.0.0.1]:8080", true},
		{"http://127.0.0.1.evil.example", false},
		{"http://localhost.evil.example", false},
		{"http://127.0.0.1@evil.example", false},
		{"http://evil.example#@127.0.0.1", false},
		{"http://0.0.0.0:8080", false},
		{"http://[::]:8080", false},
		{"http://169.254.169.254/latest/meta-data", false},
		{"https://", false},
		{"file:///etc/passwd", false},
		{"javascript:alert(1)", false},
	}
	for _, tt := range tests {
		t.Run(tt.url, func(t *testing.T) {
			if err := CheckURL(tt.url); (err == nil) != tt.ok {
				t.Errorf("CheckURL(%q) = %v, want ok=%v", tt.url, err, tt.ok)
			}
		})
	}
}
