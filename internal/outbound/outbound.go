// Package outbound builds the HTTP clients used to call Sentiance and the
// identity provider: short timeouts, no redirects, and capped response bodies,
// so a slow or hostile upstream can neither hang the function nor exhaust its
// memory.
package outbound

import (
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"time"
)

// ErrBodyTooLarge is returned while reading a response body past its cap.
var ErrBodyTooLarge = errors.New("response body too large")

// ErrRedirect is returned when an upstream answers with a redirect; following
// it could send the API key or the request to a host we did not choose.
var ErrRedirect = errors.New("upstream redirect refused")

// Options tune a client; zero values take the defaults.
type Options struct {
	MaxBody        int64         // default 64 KiB
	Timeout        time.Duration // whole-request backstop, default 10 s
	DialTimeout    time.Duration // default 2 s
	HeaderTimeout  time.Duration // time to response headers, default 8 s
	MaxIdlePerHost int           // default 4
	// Base, when set, replaces the transport below the limits (tests
	// answer in-process through it); the dial and TLS settings are then its own.
	Base http.RoundTripper
}

// NewClient returns a client with the safety settings above. Its transport
// keeps connections alive so warm invocations reuse them.
func NewClient(o Options) *http.Client {
	if o.MaxBody <= 0 {
		o.MaxBody = 64 << 10
	}
	if o.Timeout <= 0 {
		o.Timeout = 10 * time.Second
	}
	if o.DialTimeout <= 0 {
		o.DialTimeout = 2 * time.Second
	}
	if o.HeaderTimeout <= 0 {
		o.HeaderTimeout = 8 * time.Second
	}
	if o.MaxIdlePerHost <= 0 {
		o.MaxIdlePerHost = 4
	}
	dialer := &net.Dialer{Timeout: o.DialTimeout, KeepAlive: 30 * time.Second}
	transport := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
		TLSHandshakeTimeout:   o.DialTimeout + time.Second,
		ResponseHeaderTimeout: o.HeaderTimeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   o.MaxIdlePerHost,
		ForceAttemptHTTP2:     true,
	}
	var next http.RoundTripper = transport
	if o.Base != nil {
		next = o.Base
	}
	return &http.Client{
		Transport: capped{next: next, max: o.MaxBody},
		Timeout:   o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return ErrRedirect
		},
	}
}

// capped wraps every response body in a reader that fails past max bytes,
// which also covers callers (such as the JWKS library) that read bodies whole.
type capped struct {
	next http.RoundTripper
	max  int64
}

func (c capped) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > c.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%w: %s declares %d bytes, cap is %d", ErrBodyTooLarge, req.URL.Redacted(), resp.ContentLength, c.max)
	}
	resp.Body = &limitedBody{ReadCloser: resp.Body, left: c.max}
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport (a long-running local server closes them at shutdown).
func (c capped) CloseIdleConnections() {
	if ci, ok := c.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
}

type limitedBody struct {
	io.ReadCloser
	left int64
}

func (b *limitedBody) Read(p []byte) (int, error) {
	if b.left <= 0 {
		// One more byte would be over the cap: tell apart "exactly max" from "more".
		var one [1]byte
		n, err := b.ReadCloser.Read(one[:])
		if n > 0 {
			return 0, ErrBodyTooLarge
		}
		return 0, err
	}
	if int64(len(p)) > b.left {
		p = p[:b.left]
	}
	n, err := b.ReadCloser.Read(p)
	b.left -= int64(n)
	return n, err
}

// CheckURL accepts https URLs, and http only to a loopback address (tests and
// local stand-ins), so a typo cannot send a key or token in clear text.
func CheckURL(raw string) error {
	u, err := url.Parse(raw)
	if err != nil || u.Host == "" {
		return fmt.Errorf("must be an absolute URL; got %q", raw)
	}
	switch u.Scheme {
	case "https":
		return nil
	case "http":
		if IsLoopback(u.Hostname()) {
			return nil
		}
		return fmt.Errorf("must use https (http is allowed only to a loopback address); got %q", raw)
	default:
		return fmt.Errorf("must use https; got %q", raw)
	}
}

// IsLoopback reports whether host is localhost or a loopback IP.
func IsLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}
