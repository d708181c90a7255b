// Package outbound builds the HTTP clients that call Sentiance and the
// identity provider: short timeouts, no redirects, capped bodies.
package outbound

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"sync"
	"time"
)

// ErrRedirect is returned when an upstream answers with a redirect; following
// it could send the API key or the request to a host we did not choose.
var ErrRedirect = errors.New("upstream redirect refused")

// Options tune a client.
type Options struct {
	// MaxBody caps response bodies, default 64 KiB; past it reads fail with
	// *http.MaxBytesError.
	MaxBody int64
	Timeout time.Duration // whole-request backstop; zero: none
	// Base, when set, replaces the transport below the limits (tests
	// answer in-process through it); the dial and TLS settings are then its own.
	Base http.RoundTripper
	// RootCAs verifies servers; nil means the system roots, which the
	// deployment points at the runtime's bundle (SSL_CERT_FILE) alone.
	RootCAs *x509.CertPool
	Now     func() time.Time // default time.Now; ages preconnected connections
}

// Fixed limits of every client.
const (
	dialTimeout    = 2 * time.Second
	headerTimeout  = 8 * time.Second // time to response headers
	maxIdlePerHost = 4
	// preconnectMaxAge: an older preconnected connection is closed and the
	// request dials anew. A cold start's first request comes within seconds.
	preconnectMaxAge = 10 * time.Second
	handshakeTimeout = dialTimeout + time.Second
)

// NewClient returns a client with the safety settings above. Its transport
// keeps connections alive so warm invocations reuse them.
func NewClient(o Options) *http.Client {
	if o.MaxBody <= 0 {
		o.MaxBody = 64 << 10
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	dialer := &net.Dialer{Timeout: dialTimeout, KeepAlive: 30 * time.Second}
	tlsConfig := &tls.Config{
		MinVersion: tls.VersionTLS12,
		RootCAs:    o.RootCAs,
		// Reconnects after an idle gap resume the session: no certificate
		// chain to send and verify again.
		ClientSessionCache: tls.NewLRUClientSessionCache(16),
		NextProtos:         []string{"h2", "http/1.1"},
	}
	tlsDial := &tlsDialer{
		// Its own copy: net/http writes NextProtos into the transport's on
		// first use, which would race a Preconnect reading it. Clone keeps
		// the session cache shared.
		dialer: dialer, config: tlsConfig.Clone(), now: o.Now, ready: map[string]readyConn{},
	}
	transport := &http.Transport{
		Proxy:       http.ProxyFromEnvironment,
		DialContext: dialer.DialContext,
		// Direct HTTPS connections are dialled by tlsDial, so Preconnect can
		// open one ahead of the first request; through a proxy the transport
		// does TLS itself with the same settings.
		DialTLSContext:        tlsDial.dial,
		TLSClientConfig:       tlsConfig,
		TLSHandshakeTimeout:   handshakeTimeout,
		ResponseHeaderTimeout: headerTimeout,
		IdleConnTimeout:       90 * time.Second,
		MaxIdleConnsPerHost:   maxIdlePerHost,
		ForceAttemptHTTP2:     true,
	}
	next := capped{next: transport, max: o.MaxBody, tls: tlsDial}
	if o.Base != nil {
		next = capped{next: o.Base, max: o.MaxBody}
	}
	return &http.Client{
		Transport: next,
		Timeout:   o.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return ErrRedirect
		},
	}
}

// capped caps every response body, which also covers callers (such as the
// JWKS library) that read bodies whole.
type capped struct {
	next http.RoundTripper
	max  int64
	tls  *tlsDialer
}

func (c capped) RoundTrip(req *http.Request) (*http.Response, error) {
	resp, err := c.next.RoundTrip(req)
	if err != nil {
		return nil, err
	}
	if resp.ContentLength > c.max {
		resp.Body.Close()
		return nil, fmt.Errorf("%s declares %d bytes: %w", req.URL.Redacted(), resp.ContentLength, &http.MaxBytesError{Limit: c.max})
	}
	resp.Body = http.MaxBytesReader(nil, resp.Body, c.max)
	return resp, nil
}

// CloseIdleConnections lets http.Client.CloseIdleConnections reach the
// transport (a long-running local server closes them at shutdown).
func (c capped) CloseIdleConnections() {
	if ci, ok := c.next.(interface{ CloseIdleConnections() }); ok {
		ci.CloseIdleConnections()
	}
	if c.tls != nil {
		c.tls.closeReady() // a preconnected connection no request took
	}
}

// Preconnect opens a TLS connection to rawURL's host for the next request
// there to take, so a cold start's first request pays one round trip, not three.
func Preconnect(ctx context.Context, c *http.Client, rawURL string) error {
	t, ok := c.Transport.(capped)
	if !ok || t.tls == nil {
		return nil
	}
	u, err := url.Parse(rawURL)
	if err != nil || u.Scheme != "https" {
		return err
	}
	if proxy, err := http.ProxyFromEnvironment(&http.Request{URL: u}); err != nil || proxy != nil {
		return err
	}
	port := u.Port()
	if port == "" {
		port = "443"
	}
	return t.tls.preconnect(ctx, net.JoinHostPort(u.Hostname(), port))
}

// tlsDialer dials and verifies TLS connections for the transport, handing
// out a connection Preconnect opened for the same address while it is fresh.
type tlsDialer struct {
	dialer *net.Dialer
	config *tls.Config
	now    func() time.Time

	mu    sync.Mutex
	ready map[string]readyConn // by host:port, as the transport names it
}

type readyConn struct {
	conn   *tls.Conn
	opened time.Time
}

func (d *tlsDialer) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d.mu.Lock()
	r, ok := d.ready[addr]
	delete(d.ready, addr)
	d.mu.Unlock()
	if ok {
		if d.now().Sub(r.opened) <= preconnectMaxAge {
			return r.conn, nil
		}
		r.conn.Close()
	}
	return d.handshake(ctx, network, addr)
}

// closeReady closes the connections no request took.
func (d *tlsDialer) closeReady() {
	d.mu.Lock()
	ready := d.ready
	d.ready = map[string]readyConn{}
	d.mu.Unlock()
	for _, r := range ready {
		r.conn.Close()
	}
}

func (d *tlsDialer) preconnect(ctx context.Context, addr string) error {
	conn, err := d.handshake(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	d.mu.Lock()
	old, had := d.ready[addr]
	d.ready[addr] = readyConn{conn: conn, opened: d.now()}
	d.mu.Unlock()
	if had {
		old.conn.Close()
	}
	return nil
}

// handshake connects and completes a TLS handshake that verifies the
// server's chain and name, as the transport itself would.
func (d *tlsDialer) handshake(ctx context.Context, network, addr string) (*tls.Conn, error) {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return nil, err
	}
	raw, err := d.dialer.DialContext(ctx, network, addr)
	if err != nil {
		return nil, err
	}
	cfg := d.config.Clone()
	cfg.ServerName = host
	conn := tls.Client(raw, cfg)
	ctx, cancel := context.WithTimeout(ctx, handshakeTimeout)
	defer cancel()
	if err := conn.HandshakeContext(ctx); err != nil {
		raw.Close()
		return nil, err
	}
	return conn, nil
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
		if ip := net.ParseIP(u.Hostname()); u.Hostname() == "localhost" || ip != nil && ip.IsLoopback() {
			return nil
		}
		return fmt.Errorf("must use https (http is allowed only to a loopback address); got %q", raw)
	default:
		return fmt.Errorf("must use https; got %q", raw)
	}
}
