package testenv_test

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager/types"

	"github.com/sentiance-authcode/backend/tests/testenv"
)

func TestMoto(t *testing.T) {
	m := testenv.StartMoto(t)
	const name = "sentiance/user-link"
	arn := m.CreateSecret(t, name, "v1")
	if !strings.HasPrefix(arn, "arn:aws:secretsmanager:us-east-1:") {
		t.Errorf("ARN = %q", arn)
	}

	sm := m.SecretsManager(t)
	// One attempt per call, so the counts below are exact.
	get := func() (string, error) {
		out, err := sm.GetSecretValue(t.Context(), &secretsmanager.GetSecretValueInput{SecretId: aws.String(name)},
			func(o *secretsmanager.Options) { o.RetryMaxAttempts = 1 })
		if err != nil {
			return "", err
		}
		return aws.ToString(out.SecretString), nil
	}
	if v, err := get(); err != nil || v != "v1" {
		t.Fatalf("GetSecretValue = %q, %v; want v1", v, err)
	}
	m.PutSecretValue(t, name, "v2")
	if v, err := get(); err != nil || v != "v2" {
		t.Fatalf("after PutSecretValue: GetSecretValue = %q, %v; want v2", v, err)
	}
	if n := m.Calls("secretsmanager.GetSecretValue"); n != 2 {
		t.Errorf("Calls(GetSecretValue) = %d, want 2", n)
	}
	if n := m.Calls("secretsmanager.CreateSecret"); n != 1 {
		t.Errorf("Calls(CreateSecret) = %d, want 1", n)
	}

	t.Run("SetEnv", func(t *testing.T) {
		// A developer's profile must not get in the way.
		t.Setenv("AWS_PROFILE", "no-such-profile")
		m.SetEnv(t)
		cfg, err := config.LoadDefaultConfig(t.Context())
		if err != nil {
			t.Fatal(err)
		}
		out, err := secretsmanager.NewFromConfig(cfg).GetSecretValue(t.Context(),
			&secretsmanager.GetSecretValueInput{SecretId: aws.String(name)})
		if err != nil || aws.ToString(out.SecretString) != "v2" {
			t.Fatalf("GetSecretValue through the environment: %v", err)
		}
	})

	m.Stop(t)
	before := m.Calls("secretsmanager.GetSecretValue")
	_, err := get()
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.HTTPStatusCode() != http.StatusBadGateway {
		t.Errorf("GetSecretValue with moto stopped: %v; want a 502", err)
	}
	if n := m.Calls("secretsmanager.GetSecretValue"); n != before+1 {
		t.Errorf("Calls(GetSecretValue) = %d, want %d: failed calls count too", n, before+1)
	}

	m.Start(t)
	var notFound *types.ResourceNotFoundException
	if _, err := get(); !errors.As(err, &notFound) {
		t.Errorf("after restart: %v; want ResourceNotFoundException (moto starts empty)", err)
	}
	m.CreateSecret(t, name, "v3")
	if v, err := get(); err != nil || v != "v3" {
		t.Fatalf("after restart: GetSecretValue = %q, %v; want v3", v, err)
	}
}

func TestLambda(t *testing.T) {
	bin := testenv.BuildBootstrap(t, "./tests/testenv/testdata/echo")
	if again := testenv.BuildBootstrap(t, "./tests/testenv/testdata/echo"); again != bin {
		t.Errorf("second build: %s, want the cached %s", again, bin)
	}
	if filepath.Base(bin) != "bootstrap" {
		t.Errorf("built %s, want a file named bootstrap", bin)
	}
	// Must not reach the function: the child's environment is explicit.
	t.Setenv("TESTENV_MUST_NOT_LEAK", "1")
	l := testenv.StartLambda(t, bin, map[string]string{"ECHO": "hello", "AWS_REGION": "us-east-1"})

	var r echoReply
	if err := json.Unmarshal(l.Invoke(t, map[string]int{"a": 1}), &r); err != nil {
		t.Fatal(err)
	}
	if string(r.Event) != `{"a":1}` || r.Echo != "hello" {
		t.Errorf("echo = %s %q", r.Event, r.Echo)
	}
	for _, name := range []string{"ECHO", "AWS_REGION", "PATH", "HOME", "TMPDIR", "AWS_LAMBDA_FUNCTION_TIMEOUT", "AWS_LAMBDA_RUNTIME_API"} {
		if !slices.Contains(r.EnvNames, name) {
			t.Errorf("function does not see %s; it sees %v", name, r.EnvNames)
		}
	}
	for _, name := range []string{"TESTENV_MUST_NOT_LEAK", "LOG_LEVEL"} {
		if slices.Contains(r.EnvNames, name) {
			t.Errorf("function sees %s", name)
		}
	}
	if r.Deadline < 25 || r.Deadline > 30 {
		t.Errorf("deadline %.1fs away, want just under the default 30s", r.Deadline)
	}

	if out := l.Invoke(t, []byte(`{"fail":"boom"}`)); !strings.Contains(string(out), `"errorMessage":"boom"`) {
		t.Errorf("function error: %s", out)
	}
	// The emulator crashes on overlapping invocations; Invoke queues them.
	var wg sync.WaitGroup
	for i := range 4 {
		wg.Go(func() {
			ev := json.RawMessage(fmt.Sprintf(`{"n":%d,"sleep":"50ms"}`, i))
			if out := l.Invoke(t, ev); !strings.Contains(string(out), string(ev)) {
				t.Errorf("concurrent invoke %d: %s", i, out)
			}
		})
	}
	wg.Wait()
	if logs := l.Logs(); !strings.Contains(logs, "echo: got 7 bytes") || !strings.Contains(logs, "START RequestId:") {
		t.Errorf("Logs:\n%s", logs)
	}

	// Stop in the middle of an invocation: the bootstrap, which the emulator
	// puts in a process group of its own, must go too.
	const started = "echo: got 15 bytes" // the invocation below has begun
	before := strings.Count(l.Logs(), started)
	go func() {
		resp, err := http.Post(l.URL+"/2015-03-31/functions/function/invocations", "application/json", strings.NewReader(`{"sleep":"20s"}`))
		if err == nil {
			resp.Body.Close()
		}
	}()
	testenv.Poll(t, "the long invocation starts", 10*time.Second, func() bool { return strings.Count(l.Logs(), started) > before })
	l.Stop(t)
	if pids := running(bin); len(pids) > 0 {
		t.Errorf("bootstrap still running after Stop: pids %v", pids)
	}
	if _, err := http.Get(l.URL); err == nil {
		t.Error("emulator still answers after Stop")
	}
}

func TestLambdaTimeout(t *testing.T) {
	t.Parallel()
	bin := testenv.BuildBootstrap(t, "./tests/testenv/testdata/echo")
	l := testenv.StartLambda(t, bin, map[string]string{"AWS_LAMBDA_FUNCTION_TIMEOUT": "1"})
	if out := l.Invoke(t, map[string]string{"sleep": "3s"}); string(out) != "Task timed out after 1.00 seconds" {
		t.Errorf("timed-out invoke: %s", out)
	}
	// The emulator kills the timed-out bootstrap and starts a new one.
	if out := l.Invoke(t, map[string]string{}); !strings.Contains(string(out), `"event":{}`) {
		t.Errorf("invoke after timeout: %s", out)
	}
}

func running(path string) []string {
	var pids []string
	files, _ := filepath.Glob("/proc/[0-9]*/cmdline")
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err == nil && strings.HasPrefix(string(b), path+"\x00") {
			pids = append(pids, filepath.Base(filepath.Dir(f)))
		}
	}
	return pids
}
