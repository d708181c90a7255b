package bench

import (
	"crypto/rand"
	"crypto/rsa"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// machineBundle is this machine's full root bundle; the function's trust
// file is a copy of it plus the test CA, so loading roots costs what it
// costs with a real bundle.
const machineBundle = "/etc/ssl/certs/ca-certificates.crt"

// testPKI is a test CA and one server certificate it signed for 127.0.0.1
// and localhost, both RSA 2048 as AWS endpoints use.
type testPKI struct {
	caPEM []byte
	leaf  tls.Certificate
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	caKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "coldbench test CA"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(caDER)
	leafKey, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "127.0.0.1"},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
		DNSNames: []string{"localhost"}, IPAddresses: []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, &leafKey.PublicKey, caKey)
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{
		caPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		leaf:  tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey},
	}
}

// bundle writes the machine's root bundle plus the test CA to a temporary
// file, for SSL_CERT_FILE.
func (p *testPKI) bundle(t testing.TB) string {
	t.Helper()
	roots, err := os.ReadFile(machineBundle)
	if err != nil {
		t.Fatalf("the TLS figures need the machine's root bundle: %v", err)
	}
	path := filepath.Join(t.TempDir(), "roots-plus-test-ca.pem")
	if err := os.WriteFile(path, append(append(roots, '\n'), p.caPEM...), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// hop is a TLS front for a plain-HTTP stand-in on loopback: it terminates
// TLS with the test PKI, adds a round-trip time to every exchange (handshake
// included), closes connections idle longer than its idle timeout, and
// counts the connections it accepts.
type hop struct {
	URL   string
	rtt   atomic.Int64 // nanoseconds
	conns atomic.Int64
}

// startHop serves backend over TLS at a new loopback address.
func startHop(t testing.TB, pki *testPKI, backend string, rtt, idle time.Duration) *hop {
	t.Helper()
	target, err := url.Parse(backend)
	if err != nil {
		t.Fatal(err)
	}
	h := &hop{}
	h.rtt.Store(int64(rtt))
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	proxy := &httputil.ReverseProxy{Rewrite: func(r *httputil.ProxyRequest) {
		r.SetURL(target)
		r.Out.Host = r.In.Host // the host the client signed, as a real endpoint sees it
	}}
	srv := &http.Server{
		Handler:     proxy,
		IdleTimeout: idle,
		TLSConfig:   &tls.Config{Certificates: []tls.Certificate{pki.leaf}},
		ConnState: func(_ net.Conn, s http.ConnState) {
			if s == http.StateNew {
				h.conns.Add(1)
			}
		},
		ErrorLog: log.New(io.Discard, "", 0), // handshake errors of refused clients
	}
	go func() { _ = srv.ServeTLS(&delayListener{Listener: ln, rtt: &h.rtt}, "", "") }()
	t.Cleanup(func() { _ = srv.Close() })
	h.URL = "https://" + ln.Addr().String()
	return h
}

// SetRTT changes the round-trip time of connections accepted from now on.
func (h *hop) SetRTT(d time.Duration) { h.rtt.Store(int64(d)) }

// Connections is how many connections the hop has accepted.
func (h *hop) Connections() int { return int(h.conns.Load()) }

// delayListener delays what clients send: each chunk becomes readable one
// RTT after it arrived (two for a connection's first, standing for the TCP
// handshake), in order. Answers go back at once, so every exchange (TCP
// connect, TLS handshake, request) costs the client one RTT more.
type delayListener struct {
	net.Listener
	rtt *atomic.Int64
}

func (l *delayListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	d := &delayConn{Conn: c, rtt: time.Duration(l.rtt.Load()), in: make(chan chunk, 64), closed: make(chan struct{}), wake: make(chan struct{})}
	go d.pump()
	return d, nil
}

type chunk struct {
	b   []byte
	at  time.Time
	err error
}

// delayConn implements read deadlines itself (the HTTP server uses them for
// idle timeouts and to cancel background reads).
type delayConn struct {
	net.Conn
	rtt    time.Duration
	in     chan chunk
	closed chan struct{}
	once   sync.Once

	mu       sync.Mutex
	deadline time.Time
	wake     chan struct{} // closed and replaced when the deadline changes

	cur    chunk // being handed out; only Read touches it
	hasCur bool
	err    error
}

func (d *delayConn) pump() {
	last := time.Now().Add(d.rtt) // the TCP handshake's round trip
	for {
		buf := make([]byte, 32<<10)
		n, err := d.Conn.Read(buf)
		at := time.Now().Add(d.rtt)
		if at.Before(last) {
			at = last
		}
		last = at
		if n > 0 {
			if !d.send(chunk{b: buf[:n], at: at}) {
				return
			}
		}
		if err != nil {
			d.send(chunk{at: at, err: err})
			return
		}
	}
}

func (d *delayConn) send(c chunk) bool {
	select {
	case d.in <- c:
		return true
	case <-d.closed:
		return false
	}
}

func (d *delayConn) Read(p []byte) (int, error) {
	for {
		if d.err != nil {
			return 0, d.err
		}
		d.mu.Lock()
		deadline, wake := d.deadline, d.wake
		d.mu.Unlock()
		var expire <-chan time.Time
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				return 0, os.ErrDeadlineExceeded
			}
			timer := time.NewTimer(left)
			defer timer.Stop()
			expire = timer.C
		}
		if !d.hasCur {
			select {
			case d.cur = <-d.in:
				d.hasCur = true
			case <-wake:
				continue
			case <-expire:
				return 0, os.ErrDeadlineExceeded
			case <-d.closed:
				return 0, net.ErrClosed
			}
		}
		if wait := time.Until(d.cur.at); wait > 0 {
			due := time.NewTimer(wait)
			select {
			case <-due.C:
			case <-wake:
				due.Stop()
				continue
			case <-expire:
				due.Stop()
				return 0, os.ErrDeadlineExceeded
			case <-d.closed:
				due.Stop()
				return 0, net.ErrClosed
			}
		}
		if d.cur.err != nil {
			d.err, d.hasCur = d.cur.err, false
			return 0, d.err
		}
		n := copy(p, d.cur.b)
		d.cur.b = d.cur.b[n:]
		if len(d.cur.b) == 0 {
			d.hasCur = false
		}
		return n, nil
	}
}

func (d *delayConn) SetReadDeadline(t time.Time) error {
	d.mu.Lock()
	d.deadline = t
	close(d.wake)
	d.wake = make(chan struct{})
	d.mu.Unlock()
	return nil
}

func (d *delayConn) SetDeadline(t time.Time) error {
	_ = d.SetReadDeadline(t)
	return d.Conn.SetWriteDeadline(t)
}

func (d *delayConn) Close() error {
	d.once.Do(func() { close(d.closed) })
	return d.Conn.Close()
}
