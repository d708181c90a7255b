// Command fetch is the network floor of the cold-start figure at Lambda's CPU
// share: the fetches a cold start cannot avoid, made by the least code that
// can make them, in a fresh process under the same CPU quota, TLS roots and
// injected round trips as the function. Each is timed alone, one after the
// other, on a new connection:
//
//   - secret: GetSecretValue to FETCH_SECRET_URL (moto does not check the
//     signature, so the request carries a well-formed but unsigned header);
//   - jwks: GET FETCH_JWKS_URL;
//   - dial: TCP connect and TLS handshake to FETCH_SENTIANCE_URL;
//   - code: POST /users/auth-code with FETCH_KEY on that open connection (one
//     round trip).
//
// It prints one JSON line with each in milliseconds and exits 0, or prints the
// error and exits 1. Roots come from the system pool, as SSL_CERT_FILE and
// SSL_CERT_DIR say.
package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"strings"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "fetch:", err)
		os.Exit(1)
	}
}

func run() error {
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var took struct{ Secret, JWKS, Dial, Code float64 }
	since := func(t time.Time) float64 { return float64(time.Since(t)) / float64(time.Millisecond) }

	start := time.Now()
	body := `{"SecretId":"` + os.Getenv("FETCH_SECRET_ID") + `"}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, os.Getenv("FETCH_SECRET_URL"), strings.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/x-amz-json-1.1")
	req.Header.Set("X-Amz-Target", "secretsmanager.GetSecretValue")
	req.Header.Set("Authorization", "AWS4-HMAC-SHA256 Credential=testing/20260101/us-east-1/secretsmanager/aws4_request, SignedHeaders=host, Signature=00")
	if err := do(req); err != nil {
		return fmt.Errorf("secret: %w", err)
	}
	took.Secret = since(start)

	start = time.Now()
	req, err = http.NewRequestWithContext(ctx, http.MethodGet, os.Getenv("FETCH_JWKS_URL"), nil)
	if err != nil {
		return err
	}
	if err := do(req); err != nil {
		return fmt.Errorf("jwks: %w", err)
	}
	took.JWKS = since(start)

	u, err := url.Parse(os.Getenv("FETCH_SENTIANCE_URL"))
	if err != nil {
		return err
	}
	start = time.Now()
	d := tls.Dialer{Config: &tls.Config{ServerName: u.Hostname(), NextProtos: []string{"http/1.1"}}}
	conn, err := d.DialContext(ctx, "tcp", u.Host)
	if err != nil {
		return fmt.Errorf("dial: %w", err)
	}
	defer conn.Close()
	took.Dial = since(start)

	start = time.Now()
	post := `{"external_id":"floor"}`
	if _, err := fmt.Fprintf(conn, "POST /users/auth-code HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
		u.Host, os.Getenv("FETCH_KEY"), len(post), post); err != nil {
		return fmt.Errorf("code: %w", err)
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		return fmt.Errorf("code: %w", err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("code: %s", resp.Status)
	}
	took.Code = since(start)
	return json.NewEncoder(os.Stdout).Encode(took)
}

// do sends req on a new connection and reads the answer whole.
func do(req *http.Request) error {
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	resp, err := (&http.Client{Transport: tr}).Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if _, err := io.Copy(io.Discard, resp.Body); err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s", resp.Status)
	}
	return nil
}
