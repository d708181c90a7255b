package testenv

import (
	"context"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
)

// motoRegion is the region every client of the stand-in uses.
const motoRegion = "us-east-1"

// Moto is a moto_server (Secrets Manager and DynamoDB) behind a counting
// reverse proxy. URL is the proxy's address: it stays the same across
// Stop/Start, so a client configured once sees AWS go away and come back.
type Moto struct {
	URL string

	out *SyncBuffer // output of every moto process, in order
	cfg aws.Config  // for the SDK clients of the helpers

	mu      sync.Mutex
	calls   map[string]int // by X-Amz-Target
	backend *url.URL       // nil while moto is stopped
	proc    *process

	dynamo sync.Mutex // serializes DynamoDB requests (see StartMoto)
}

// StartMoto starts moto_server and the proxy in front of it.
func StartMoto(t testing.TB) *Moto {
	t.Helper()
	if _, err := exec.LookPath("moto_server"); err != nil {
		t.Fatalf("testenv: moto_server not on PATH: it is the Python package moto[server] " +
			"(preinstalled on the dev and CI machines; elsewhere `pip install 'moto[server]'`)")
	}
	m := &Moto{out: &SyncBuffer{}, cfg: awsConfig(t), calls: map[string]int{}}
	proxy := &httputil.ReverseProxy{
		Rewrite: func(r *httputil.ProxyRequest) {
			m.mu.Lock()
			backend := m.backend
			m.mu.Unlock()
			if backend != nil {
				r.SetURL(backend)
			}
			// Keep the Host the SDK signed, as a real endpoint would see it.
			r.Out.Host = r.In.Host
		},
		// Moto stopped between the check below and the dial: answer like the
		// stopped case, without the default handler's log line.
		ErrorHandler: func(w http.ResponseWriter, r *http.Request, err error) {
			http.Error(w, "moto unreachable: "+err.Error(), http.StatusBadGateway)
		},
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m.mu.Lock()
		m.calls[r.Header.Get("X-Amz-Target")]++
		running := m.backend != nil
		m.mu.Unlock()
		if !running {
			http.Error(w, "moto is stopped", http.StatusBadGateway)
			return
		}
		// DynamoDB applies each conditional write atomically; moto's threaded
		// server does not (two concurrent UpdateItems can both pass the same
		// condition). One DynamoDB request at a time gives moto the service's
		// per-request atomicity, while a client's read-then-write race across
		// requests would still show.
		if strings.HasPrefix(r.Header.Get("X-Amz-Target"), "DynamoDB_") {
			m.dynamo.Lock()
			defer m.dynamo.Unlock()
		}
		proxy.ServeHTTP(w, r)
	}))
	m.URL = srv.URL
	// Cleanups run last-in first-out: stop moto, then the proxy.
	t.Cleanup(srv.Close)
	t.Cleanup(func() {
		m.Stop(t)
		if t.Failed() {
			t.Logf("moto output (tail):\n%s", m.out.tail(4000))
		}
	})
	m.Start(t)
	return m
}

// Start starts a fresh moto_server behind m.URL. Like a real restart, it
// remembers nothing from before.
func (m *Moto) Start(t testing.TB) {
	t.Helper()
	m.mu.Lock()
	running := m.proc != nil
	m.mu.Unlock()
	if running {
		t.Fatalf("testenv: moto is already running")
	}
	port := FreePort(t)
	// Unbuffered, so the captured output is current when a test fails.
	env := append(os.Environ(), "PYTHONUNBUFFERED=1")
	p := startProcess(t, m.out, "", env, "moto_server", "-H", "127.0.0.1", "-p", strconv.Itoa(port))
	backend := &url.URL{Scheme: "http", Host: "127.0.0.1:" + strconv.Itoa(port)}
	client := &http.Client{Timeout: time.Second}
	// Any HTTP answer means moto is serving; it takes a second or two.
	waitFor(t, "moto_server", 20*time.Second, p, func() bool {
		resp, err := client.Get(backend.String() + "/moto-api/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	m.mu.Lock()
	m.proc, m.backend = p, backend
	m.mu.Unlock()
}

// Stop kills moto_server. The proxy keeps answering, with 502, so clients see
// AWS unreachable. Stopping a stopped moto does nothing.
func (m *Moto) Stop(t testing.TB) {
	t.Helper()
	m.mu.Lock()
	p := m.proc
	m.proc, m.backend = nil, nil
	m.mu.Unlock()
	if p != nil {
		p.kill(t)
	}
}

// Calls returns how many requests with the X-Amz-Target header target (e.g.
// "secretsmanager.GetSecretValue") reached the proxy, including those that
// failed because moto was stopped and each SDK retry.
func (m *Moto) Calls(target string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.calls[target]
}

// Env returns the environment that points the AWS SDK at m with fake
// credentials and keeps a developer's ~/.aws out, for a child process.
func (m *Moto) Env() map[string]string {
	return map[string]string{
		"AWS_ENDPOINT_URL_SECRETS_MANAGER": m.URL,
		"AWS_ENDPOINT_URL_DYNAMODB":        m.URL,
		"AWS_ACCESS_KEY_ID":                "testing",
		"AWS_SECRET_ACCESS_KEY":            "testing",
		"AWS_SESSION_TOKEN":                "",
		"AWS_REGION":                       motoRegion,
		"AWS_EC2_METADATA_DISABLED":        "true",
		"AWS_CONFIG_FILE":                  os.DevNull,
		"AWS_SHARED_CREDENTIALS_FILE":      os.DevNull,
		// A profile named in the developer's environment would not exist in
		// the empty config file, and the SDK would refuse to load.
		"AWS_PROFILE": "",
	}
}

// SetEnv sets Env in the test's own environment (t.Setenv), for code under
// test that loads the default AWS configuration in-process.
func (m *Moto) SetEnv(t testing.TB) {
	t.Helper()
	for k, v := range m.Env() {
		t.Setenv(k, v)
	}
}

// SecretsManager returns a real SDK client for m, configured explicitly
// (region, fake credentials, endpoint), so it works whatever the test's
// environment holds.
func (m *Moto) SecretsManager(t testing.TB) *secretsmanager.Client {
	t.Helper()
	return secretsmanager.NewFromConfig(m.cfg, func(o *secretsmanager.Options) {
		o.BaseEndpoint = aws.String(m.URL)
	})
}

// awsConfig loads the SDK configuration for m's clients. LoadDefaultConfig
// fails when a profile named by $AWS_PROFILE is missing from the shared
// files, so they are replaced by a file holding nothing but an empty default
// profile, which is selected explicitly.
func awsConfig(t testing.TB) aws.Config {
	t.Helper()
	shared := filepath.Join(t.TempDir(), "aws-config")
	if err := os.WriteFile(shared, []byte("[default]\n"), 0o600); err != nil {
		t.Fatalf("testenv: %v", err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	cfg, err := config.LoadDefaultConfig(ctx,
		config.WithRegion(motoRegion),
		config.WithCredentialsProvider(aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "testing", SecretAccessKey: "testing", Source: "testenv"}, nil
		})),
		config.WithSharedConfigProfile("default"),
		config.WithSharedConfigFiles([]string{shared}),
		config.WithSharedCredentialsFiles([]string{shared}),
		// A buildable client, not an *http.Client: with AWS_CA_BUNDLE set (it
		// is on the dev machines) the SDK must add the bundle to it.
		config.WithHTTPClient(awshttp.NewBuildableClient().WithTimeout(10*time.Second)),
	)
	if err != nil {
		t.Fatalf("testenv: AWS config for moto: %v", err)
	}
	return cfg
}

// CreateSecret creates a string secret and returns its ARN.
func (m *Moto) CreateSecret(t testing.TB, name, value string) (arn string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	out, err := m.SecretsManager(t).CreateSecret(ctx, &secretsmanager.CreateSecretInput{
		Name:         aws.String(name),
		SecretString: aws.String(value),
	})
	if err != nil {
		t.Fatalf("testenv: CreateSecret %q: %v", name, err)
	}
	return aws.ToString(out.ARN)
}

// PutSecretValue stores a new current version of the secret.
func (m *Moto) PutSecretValue(t testing.TB, name, value string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	_, err := m.SecretsManager(t).PutSecretValue(ctx, &secretsmanager.PutSecretValueInput{
		SecretId:     aws.String(name),
		SecretString: aws.String(value),
	})
	if err != nil {
		t.Fatalf("testenv: PutSecretValue %q: %v", name, err)
	}
}
