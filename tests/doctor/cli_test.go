package doctor_test

import (
	"bytes"
	"context"
	"errors"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sentiance-authcode/backend/devtools/devidp"
	"github.com/sentiance-authcode/backend/tests/testenv"
)

// runDoctor runs the built doctor with only env (plus PATH) in its
// environment, so no AWS profile or real credentials of the machine reach
// it, and returns its exit code and output.
func runDoctor(t *testing.T, env map[string]string, args ...string) (code int, stdout, stderr string) {
	t.Helper()
	bin := testenv.BuildBootstrap(t, "./devtools/cmd/doctor")
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, bin, args...)
	cmd.Env = []string{
		"PATH=" + os.Getenv("PATH"),
		"HOME=" + t.TempDir(),
		"AWS_CONFIG_FILE=" + os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE=" + os.DevNull,
		"AWS_EC2_METADATA_DISABLED=true",
	}
	for k, v := range env {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case errors.As(err, &exit):
		code = exit.ExitCode()
	case err != nil:
		t.Fatalf("doctor: %v", err)
	}
	return code, out.String(), errOut.String()
}

// trustIssuer writes the issuer's certificate where the doctor's TLS
// (SSL_CERT_FILE) will trust it.
func trustIssuer(t *testing.T, issuer *devidp.Issuer) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(path, issuer.Certificate(), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestUsage(t *testing.T) {
	tests := []struct {
		name string
		args []string
		code int
		want string
	}{
		{name: "nothing to check", code: 2, want: "give -stack NAME, or -issuer URL and -audience LIST"},
		{name: "stack and pre-deploy values", args: []string{"-stack", "s", "-issuer", "https://idp.example"}, code: 2, want: "not both"},
		{name: "issuer without audience", args: []string{"-issuer", "https://idp.example"}, code: 2, want: "-audience"},
		{name: "call without a stack", args: []string{"-issuer", "https://idp.example", "-audience", "a", "-call"}, code: 2, want: "-call needs -stack"},
		{name: "stray argument", args: []string{"-stack", "s", "extra"}, code: 2, want: `unexpected argument "extra"`},
		{name: "unknown flag", args: []string{"-stak", "s"}, code: 2, want: "flag provided but not defined"},
		{name: "no region for a stack", args: []string{"-stack", "s"}, code: 2, want: "no AWS region: give the region you deployed to (make doctor ... REGION=<region>"},
		{name: "help", args: []string{"-h"}, code: 0, want: "-stack"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			code, stdout, stderr := runDoctor(t, nil, tt.args...)
			if code != tt.code || !strings.Contains(stderr, tt.want) {
				t.Errorf("exit %d, stderr %q; want exit %d and %q (stdout %q)", code, stderr, tt.code, tt.want, stdout)
			}
		})
	}
}

// Without credentials the stack check fails in one line, and nothing of the
// SDK's own logging comes between the report's lines: here its warning that
// it falls back to IMDSv1, which a metadata service answering 404 to the
// token request draws. Every AWS endpoint is on loopback.
func TestNoCredentials(t *testing.T) {
	imds := httptest.NewServer(http.NotFoundHandler())
	t.Cleanup(imds.Close)
	code, stdout, stderr := runDoctor(t, map[string]string{
		"AWS_EC2_METADATA_DISABLED":         "false",
		"AWS_EC2_METADATA_SERVICE_ENDPOINT": imds.URL,
		"AWS_ENDPOINT_URL":                  "http://127.0.0.1:" + strconv.Itoa(testenv.FreePort(t)),
	}, "-stack", "sentiance-auth-code", "-region", "eu-west-1")
	if code != 1 || !strings.HasPrefix(stdout, "FAIL  stack") || strings.Contains(stdout+stderr, "SDK") {
		t.Errorf("exit %d; stdout %q; stderr %q; want exit 1, a FAIL stack line and no SDK log line", code, stdout, stderr)
	}
}

// Before a deploy (no AWS at all): exit 0 when every check passes, 1 when
// one fails, 2 for a token on the command line (where every user of the
// machine could read it); the token never appears in the output.
func TestExitCodesAndNoTokenInOutput(t *testing.T) {
	issuer := devidp.Start(t, true)
	token := issuer.Token(t, jwt.MapClaims{"sub": "user-1", "aud": "spa-client"})
	env := map[string]string{"SSL_CERT_FILE": trustIssuer(t, issuer)}
	tests := []struct {
		name     string
		audience string
		byFlag   bool
		code     int
		want     string
	}{
		{name: "healthy, token from the environment", audience: "spa-client", code: 0, want: "ok    function the function's own verifier accepts the token"},
		{name: "wrong audience", audience: "api", code: 1, want: `FAIL  token    the token's aud is "spa-client"; the stack accepts "api": deploy with JwtAudience=spa-client`},
		{name: "token as a flag is refused", audience: "spa-client", byFlag: true, code: 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			args := []string{"-issuer", issuer.URL, "-audience", tt.audience}
			env := maps.Clone(env)
			if tt.byFlag {
				args = append(args, "-token", token)
			} else {
				env["AUTHCODE_TOKEN"] = token
			}
			code, stdout, stderr := runDoctor(t, env, args...)
			t.Logf("stdout:\n%s", stdout)
			testenv.AssertNoLeak(t, stdout+stderr, token)
			if code != tt.code || !strings.Contains(stdout, tt.want) || code == 2 && !strings.Contains(stderr, "-token") {
				t.Errorf("exit %d; want %d and a line %q (stderr %q)", code, tt.code, tt.want, stderr)
			}
		})
	}
}
