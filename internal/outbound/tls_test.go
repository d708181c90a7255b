package outbound_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"log/slog"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awsconfig "github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/sentiance-authcode/backend/internal/identity"
	"github.com/sentiance-authcode/backend/internal/outbound"
	"github.com/sentiance-authcode/backend/internal/sentiance"
)

const testKey = "test.user-link-key"

// ca is a test certificate authority.
type ca struct {
	cert *x509.Certificate
	key  *ecdsa.PrivateKey
	pem  []byte
}

func newCA(t *testing.T, name string) *ca {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: name},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	cert, _ := x509.ParseCertificate(der)
	return &ca{cert: cert, key: key, pem: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})}
}

func (c *ca) pool() *x509.CertPool {
	p := x509.NewCertPool()
	p.AddCert(c.cert)
	return p
}

// leaf issues a server certificate for the given names (IPs or DNS names),
// valid from notBefore to notAfter.
func (c *ca) leaf(t *testing.T, names []string, notBefore, notAfter time.Time) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: names[0]},
		NotBefore: notBefore, NotAfter: notAfter,
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, n := range names {
		if ip := net.ParseIP(n); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, n)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, c.cert, &key.PublicKey, c.key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// peer is a TLS server that counts the requests that reached it (a request
// carries the key or the token; a refused handshake carries nothing) and the
// connections it accepted.
type peer struct {
	srv      *httptest.Server
	requests atomic.Int64
	sawKey   atomic.Bool
	conns    atomic.Int64
	closed   atomic.Int64
}

func startPeer(t *testing.T, cert tls.Certificate, handler http.HandlerFunc) *peer {
	t.Helper()
	p := &peer{}
	p.srv = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		if strings.Contains(r.Header.Get("Authorization"), testKey) {
			p.sawKey.Store(true)
		}
		handler(w, r)
	}))
	p.srv.TLS = &tls.Config{Certificates: []tls.Certificate{cert}}
	p.srv.Config.ErrorLog = log.New(io.Discard, "", 0) // the refused handshakes
	p.srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		switch s {
		case http.StateNew:
			p.conns.Add(1)
		case http.StateClosed, http.StateHijacked:
			p.closed.Add(1)
		}
	}
	p.srv.StartTLS()
	t.Cleanup(p.srv.Close)
	return p
}

// jwks holds one P-256 key, so the trusted server's JWKS loads.
var jwks = func() []byte {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		panic(err)
	}
	pub, _ := key.PublicKey.ECDH()
	xy := pub.Bytes()[1:]
	b64 := base64.RawURLEncoding.EncodeToString
	return []byte(`{"keys":[{"kty":"EC","crv":"P-256","kid":"k1","alg":"ES256","use":"sig","x":"` + b64(xy[:32]) + `","y":"` + b64(xy[32:]) + `"}]}`)
}()

// answerAll answers as Sentiance, the identity provider and Secrets Manager
// would, so that the one trusted server makes every call succeed.
func answerAll(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	switch {
	case r.URL.Path == "/users/auth-code":
		_, _ = w.Write([]byte(`{"authentication_code":"` + strings.Repeat("ab", 64) + `","expires_at":"2030-01-01T00:00:00Z"}`))
	case r.URL.Path == "/jwks.json":
		_, _ = w.Write(jwks)
	case r.Header.Get("X-Amz-Target") == "secretsmanager.GetSecretValue":
		_, _ = w.Write([]byte(`{"ARN":"arn:aws:secretsmanager:us-east-1:123456789012:secret:s-AbCdEf","Name":"s","SecretString":"{\"user_link_api_key\":\"x\"}"}`))
	default:
		http.NotFound(w, r)
	}
}

// servers are the four cases every outside call must tell apart: only the
// first may be talked to.
type servers struct {
	trusted, untrustedCA, wrongHost, expired *peer
	trustedCA                                *ca
}

func startServers(t *testing.T) servers {
	t.Helper()
	return startServersWith(t, newCA(t, "trusted test CA"))
}

func startServersWith(t *testing.T, good *ca) servers {
	t.Helper()
	other := newCA(t, "unknown test CA")
	now := time.Now()
	return servers{
		trustedCA:   good,
		trusted:     startPeer(t, good.leaf(t, []string{"127.0.0.1"}, now.Add(-time.Hour), now.Add(time.Hour)), answerAll),
		untrustedCA: startPeer(t, other.leaf(t, []string{"127.0.0.1"}, now.Add(-time.Hour), now.Add(time.Hour)), answerAll),
		wrongHost:   startPeer(t, good.leaf(t, []string{"api.sentiance.com"}, now.Add(-time.Hour), now.Add(time.Hour)), answerAll),
		expired:     startPeer(t, good.leaf(t, []string{"127.0.0.1"}, now.Add(-48*time.Hour), now.Add(-24*time.Hour)), answerAll),
	}
}

// refusal checks that err is the certificate error expected of case name.
func refusal(t *testing.T, name, call string, err error) {
	t.Helper()
	var unknown x509.UnknownAuthorityError
	var host x509.HostnameError
	var invalid x509.CertificateInvalidError
	var ok bool
	switch name {
	case "untrusted CA":
		ok = errors.As(err, &unknown)
	case "wrong host":
		ok = errors.As(err, &host)
	case "expired":
		ok = errors.As(err, &invalid) && invalid.Reason == x509.Expired
	}
	if !ok {
		t.Errorf("%s, %s: error %v, want the certificate refused as %s", name, call, err, name)
	}
}

// outsideCalls makes each outside call of the function to base with a
// client whose roots are roots (nil: the system's), as the function makes
// them: Sentiance (after Warm), the identity provider's JWKS, and
// GetSecretValue with the AWS SDK's default configuration.
func outsideCalls(t *testing.T, base string, roots *x509.CertPool) map[string]error {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	sc := sentiance.New(base, outbound.NewClient(outbound.Options{RootCAs: roots}), nil)
	warmErr := sc.Warm(ctx)
	_, _, codeErr := sc.AuthCode(ctx, testKey, "user-1")
	if warmErr != nil && codeErr == nil {
		t.Errorf("Warm failed (%v) but AuthCode succeeded", warmErr)
	}
	v := identity.NewVerifier(identity.VerifierOptions{
		Issuer: base, Audiences: []string{"app"}, Algorithms: []string{"RS256"}, JWKSURL: base + "/jwks.json",
		Client: outbound.NewClient(outbound.Options{RootCAs: roots, MaxBody: identity.MaxJWKSBytes}),
		Logger: slog.New(slog.DiscardHandler),
	})
	defer v.Close()
	// The JWKS library logs a fetch error and reports no keys: a refusal
	// shows as ErrKeysUnavailable, and in the server's request count.
	calls := map[string]error{"sentiance warm": warmErr, "sentiance": codeErr, "jwks": v.Warm(ctx)}
	if roots == nil {
		// The SDK's client trusts the system roots, as in the function.
		cfg, err := awsconfig.LoadDefaultConfig(ctx, awsconfig.WithRegion("us-east-1"),
			awsconfig.WithCredentialsProvider(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
				return aws.Credentials{AccessKeyID: "testing", SecretAccessKey: "testing"}, nil
			})))
		if err != nil {
			t.Fatal(err)
		}
		sm := secretsmanager.NewFromConfig(cfg, func(o *secretsmanager.Options) {
			o.BaseEndpoint = aws.String(base)
			o.RetryMaxAttempts = 1
		})
		_, err = sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("s")})
		calls["secrets manager"] = err
	}
	return calls
}

// checkServers runs every outside call against the four servers: the
// trusted one answers, the others are refused at the handshake, before any
// request (so before the key or a token is sent).
func checkServers(t *testing.T, s servers, roots *x509.CertPool) {
	for _, tc := range []struct {
		name string
		p    *peer
	}{{"trusted", s.trusted}, {"untrusted CA", s.untrustedCA}, {"wrong host", s.wrongHost}, {"expired", s.expired}} {
		t.Run(tc.name, func(t *testing.T) {
			for call, err := range outsideCalls(t, tc.p.srv.URL, roots) {
				if tc.name == "trusted" {
					if err != nil {
						t.Errorf("%s to the trusted server: %v", call, err)
					}
					continue
				}
				if err == nil {
					t.Errorf("%s to a server with a bad certificate succeeded", call)
					continue
				}
				if call == "jwks" {
					if !errors.Is(err, identity.ErrKeysUnavailable) {
						t.Errorf("jwks: %v, want ErrKeysUnavailable", err)
					}
					continue
				}
				refusal(t, tc.name, call, err)
			}
			if tc.name != "trusted" && (tc.p.requests.Load() != 0 || tc.p.sawKey.Load()) {
				t.Errorf("%d requests reached a server with a bad certificate (key sent: %v)", tc.p.requests.Load(), tc.p.sawKey.Load())
			}
		})
	}
}

func TestTLSRefusesBadCertificates(t *testing.T) {
	s := startServers(t)
	checkServers(t, s, s.trustedCA.pool())
}

// TestPreconnectedConnectionIsUsed: Warm's connection carries the first
// request (one connection in all), and a stale one is not handed out.
func TestPreconnectedConnectionIsUsed(t *testing.T) {
	s := startServers(t)
	for _, tc := range []struct {
		name      string
		idle      time.Duration // between Warm and the request, on the client's clock
		wantConns int64
	}{
		{"fresh", time.Second, 1},
		{"stale", time.Hour, 2},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := s.trusted.conns.Load()
			var mu sync.Mutex
			now := time.Now()
			clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
			client := outbound.NewClient(outbound.Options{RootCAs: s.trustedCA.pool(), Now: clock})
			t.Cleanup(client.CloseIdleConnections)
			sc := sentiance.New(s.trusted.srv.URL, client, nil)
			ctx := context.Background()
			if err := sc.Warm(ctx); err != nil {
				t.Fatal(err)
			}
			mu.Lock()
			now = now.Add(tc.idle)
			mu.Unlock()
			if _, _, err := sc.AuthCode(ctx, testKey, "user-1"); err != nil {
				t.Fatal(err)
			}
			if got := s.trusted.conns.Load() - before; got != tc.wantConns {
				t.Errorf("%d connections, want %d", got, tc.wantConns)
			}
		})
	}
}

// TestPreconnectWhileRequesting: Warm may run while a request is made (go
// test -race watches the TLS settings both read), and a warmed connection
// that no request took is closed by CloseIdleConnections, not leaked.
func TestPreconnectWhileRequesting(t *testing.T) {
	s := startServers(t)
	client := outbound.NewClient(outbound.Options{RootCAs: s.trustedCA.pool()})
	sc := sentiance.New(s.trusted.srv.URL, client, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	wg.Go(func() {
		if err := sc.Warm(ctx); err != nil {
			t.Error(err)
		}
	})
	wg.Go(func() {
		if _, _, err := sc.AuthCode(ctx, testKey, "user-1"); err != nil {
			t.Error(err)
		}
	})
	wg.Wait()
	client.CloseIdleConnections()
	opened := s.trusted.conns.Load()
	for deadline := time.Now().Add(5 * time.Second); s.trusted.closed.Load() < opened; {
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d connections still open after CloseIdleConnections", opened-s.trusted.closed.Load(), opened)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestSystemRootsFromTheDeployedSettings runs every outside call, the AWS
// SDK's included, in a child process with the trust settings template.yaml
// deploys: SSL_CERT_FILE a bundle and SSL_CERT_DIR a folder that does not
// exist (the system roots are loaded once per process, so only a new process
// can be given them). The bundle holds the test CA alone: a certificate from
// any other CA is refused, so no directory was read.
func TestSystemRootsFromTheDeployedSettings(t *testing.T) {
	if dir := os.Getenv("OUTBOUND_TLS_CHILD"); dir != "" {
		checkServers(t, startServersWith(t, readCA(t, dir)), nil)
		return
	}
	dir := t.TempDir()
	good := newCA(t, "trusted test CA")
	keyDER, err := x509.MarshalECPrivateKey(good.key)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "bundle.pem"), good.pem, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "ca.key"), keyDER, 0o600); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^TestSystemRootsFromTheDeployedSettings$", "-test.count=1", "-test.v")
	cmd.Env = []string{
		"OUTBOUND_TLS_CHILD=" + dir,
		"SSL_CERT_FILE=" + filepath.Join(dir, "bundle.pem"),
		"SSL_CERT_DIR=" + filepath.Join(dir, "no-such-dir"),
		"HOME=" + dir, "AWS_CONFIG_FILE=" + os.DevNull, "AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull, "AWS_EC2_METADATA_DISABLED=true",
	}
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("child with the deployed trust settings: %v\n%s", err, out)
	}
}

// readCA reads the CA TestSystemRootsFromTheDeployedSettings wrote.
func readCA(t *testing.T, dir string) *ca {
	t.Helper()
	certPEM, err := os.ReadFile(filepath.Join(dir, "bundle.pem"))
	if err != nil {
		t.Fatal(err)
	}
	keyDER, err := os.ReadFile(filepath.Join(dir, "ca.key"))
	if err != nil {
		t.Fatal(err)
	}
	block, _ := pem.Decode(certPEM)
	cert, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	key, err := x509.ParseECPrivateKey(keyDER)
	if err != nil {
		t.Fatal(err)
	}
	return &ca{cert: cert, key: key, pem: certPEM}
}
