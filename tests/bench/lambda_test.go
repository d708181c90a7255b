package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sentiance-authcode/backend/devtools/devidp"
	"github.com/sentiance-authcode/backend/tests/testenv"
)

// Packages built as the deployment builds the bootstrap (testenv.BuildBootstrap).
const (
	functionPkg = "./functions/authcode"
	localPkg    = "./devtools/cmd/local"
	helloPkg    = "./tests/bench/floor/hello"
	proxyPkg    = "./tests/bench/floor/proxy"
)

// peers are the function's network peers on loopback: moto holding the
// secret (behind testenv's counting proxy), an identity provider serving
// discovery and the JWKS, and the Sentiance stand-in.
type peers struct {
	moto      *testenv.Moto
	issuer    *devidp.Issuer
	stand     *standIn
	secretARN string
	event     []byte // POST /auth-code as API Gateway sends it, valid token and claims
	noNetwork []byte // an event answered without any network: a route the function does not serve
}

func startPeers(t testing.TB) *peers {
	t.Helper()
	p := &peers{moto: testenv.StartMoto(t), issuer: devidp.Start(t, false), stand: startStandIn(t)}
	p.secretARN = p.moto.CreateSecret(t, "sentiance/user-link", `{"user_link_api_key":"`+apiKey+`"}`)
	tok := p.issuer.Token(t, jwt.MapClaims{"sub": externalID, "aud": audience, "exp": time.Now().Add(time.Hour).Unix()})
	p.event, p.noNetwork = encodeEvents(tok, p.issuer.URL)
	return p
}

// encodeEvents returns POST /auth-code with token, and an event answered without any
// network (a route the function does not serve), both encoded.
func encodeEvents(token, issuer string) (event, noNetwork []byte) {
	ev := apiEvent(token, issuer)
	event, _ = json.Marshal(ev)
	ev.RouteKey, ev.RawPath = "GET /health", "/health"
	ev.RequestContext.RouteKey, ev.RequestContext.HTTP.Method, ev.RequestContext.HTTP.Path = ev.RouteKey, "GET", ev.RawPath
	noNetwork, _ = json.Marshal(ev)
	return event, noNetwork
}

// functionEnv is the deployed configuration (template.yaml) pointed at the
// peers: in-function verification on, JWKS discovered from the issuer.
func (p *peers) functionEnv(extra map[string]string) map[string]string {
	env := p.moto.Env()
	env["USER_LINK_SECRET_ID"] = p.secretARN
	env["USER_LINK_SECRET_FIELD"] = "user_link_api_key"
	env["SECRET_CACHE_TTL"] = "5m"
	env["SENTIANCE_API_URL"] = p.stand.URL
	env["JWT_ISSUER"] = p.issuer.URL
	env["JWT_AUDIENCE"] = audience
	env["EXTERNAL_ID_CLAIM"] = "sub"
	env["METRICS_NAMESPACE"] = "SentianceAuthCode"
	env["AWS_LAMBDA_LOG_LEVEL"] = "INFO"
	for k, v := range extra {
		env[k] = v
	}
	return env
}

func (p *peers) proxyEnv() map[string]string {
	return map[string]string{"PROXY_URL": p.stand.URL, "PROXY_KEY": apiKey, "PROXY_EXTERNAL_ID": externalID}
}

// directGetSecret is one GetSecretValue to moto on a new client and a new
// connection: the Secrets Manager part of the cold-start floor.
func (p *peers) directGetSecret(t testing.TB) time.Duration {
	t.Helper()
	tr := &http.Transport{}
	defer tr.CloseIdleConnections()
	sm := secretsmanager.New(secretsmanager.Options{
		Region:       "us-east-1",
		BaseEndpoint: aws.String(p.moto.URL),
		Credentials: aws.CredentialsProviderFunc(func(context.Context) (aws.Credentials, error) {
			return aws.Credentials{AccessKeyID: "testing", SecretAccessKey: "testing", Source: "bench"}, nil
		}),
		HTTPClient: &http.Client{Transport: tr, Timeout: 10 * time.Second},
	})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	start := time.Now()
	out, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String(p.secretARN)})
	took := time.Since(start)
	if err != nil || aws.ToString(out.SecretString) == "" {
		t.Fatalf("direct GetSecretValue: %v", err)
	}
	return took
}

// answer decodes the function's answer and checks its status; for a 200 from
// our function it also checks that a code came back.
func answer(t testing.TB, raw []byte, status int, wantCode bool) {
	t.Helper()
	var resp events.APIGatewayV2HTTPResponse
	if err := json.Unmarshal(raw, &resp); err != nil || resp.StatusCode != status {
		t.Fatalf("answer %.300s, want status %d", raw, status)
	}
	if wantCode {
		var body struct {
			Code string `json:"authentication_code"`
		}
		if json.Unmarshal([]byte(resp.Body), &body) != nil || len(body.Code) != 128 {
			t.Fatalf("200 without a code: %.300s", resp.Body)
		}
	}
}

// coldStart starts bootstrap under a fresh emulator and returns how long its
// first invocation took (the emulator starts the process on it, so this is
// process start to first answer) and the process's peak RSS after it.
func coldStart(t testing.TB, bootstrap string, env map[string]string, event []byte, status int, wantCode bool) (time.Duration, int) {
	t.Helper()
	l := testenv.StartLambda(t, bootstrap, env)
	defer l.Stop(t)
	start := time.Now()
	raw := l.Invoke(t, event)
	took := time.Since(start)
	answer(t, raw, status, wantCode)
	hwm := 0
	if pid := l.FunctionPID(); pid != 0 {
		hwm = procStatusKB(t, pid, "VmHWM")
	}
	return took, hwm
}

// coldStartFigures are figure 1's medians over alternating runs.
type coldStartFigures struct {
	runs                                 int
	code, floor, hello, secret, upstream time.Duration // medians; floor is the median of per-run sums
	init                                 time.Duration // process start to a first answer needing no network
	ratio, initRatio                     float64
	helloHWM, functionHWM                int // kB after the first invocation, medians
}

// measureColdStart runs, runs times in rotating order: our bootstrap cold to
// a 200 with a code; the hello-world floor cold; one direct GetSecretValue
// and one direct call to the stand-in (each on a new connection); and our
// bootstrap cold to an answer that needs no network.
func measureColdStart(t testing.TB, p *peers, runs int) coldStartFigures {
	t.Helper()
	fn := testenv.BuildBootstrap(t, functionPkg)
	hello := testenv.BuildBootstrap(t, helloPkg)
	helloEvent := []byte(`{}`)
	var code, init, helloD, secret, upstream, floor []time.Duration
	var helloHWM, fnHWM []float64
	for i := range runs {
		var h, s, u time.Duration
		steps := []func(){
			func() {
				d, hwm := coldStart(t, fn, p.functionEnv(nil), p.event, 200, true)
				code = append(code, d)
				fnHWM = append(fnHWM, float64(hwm))
			},
			func() {
				var hwm int
				h, hwm = coldStart(t, hello, nil, helloEvent, 200, false)
				helloD = append(helloD, h)
				helloHWM = append(helloHWM, float64(hwm))
			},
			func() {
				s = p.directGetSecret(t)
				u = p.stand.directCall(t)
				secret, upstream = append(secret, s), append(upstream, u)
			},
			func() {
				d, _ := coldStart(t, fn, p.functionEnv(nil), p.noNetwork, 404, false)
				init = append(init, d)
			},
		}
		for j := range steps {
			steps[(i+j)%len(steps)]()
		}
		floor = append(floor, h+s+u)
	}
	f := coldStartFigures{
		runs: runs, code: median(code), floor: median(floor), hello: median(helloD),
		secret: median(secret), upstream: median(upstream), init: median(init),
		helloHWM: int(medianF(helloHWM)), functionHWM: int(medianF(fnHWM)),
	}
	f.ratio = float64(f.code) / float64(f.floor)
	f.initRatio = float64(f.init) / float64(f.hello)
	return f
}

// e2eFigures are figure 3's latencies.
type e2eFigures struct {
	n                                  int
	delay                              time.Duration
	ourP50, ourP99, proxyP50, proxyP99 time.Duration
	ratio                              float64
}

// measureWarmE2E invokes our bootstrap and the proxy floor, both warm under
// their own emulators, alternately n times each, with the stand-in taking
// delay per call.
func measureWarmE2E(t testing.TB, p *peers, n int, delay time.Duration) e2eFigures {
	t.Helper()
	ours := testenv.StartLambda(t, testenv.BuildBootstrap(t, functionPkg), p.functionEnv(nil))
	defer ours.Stop(t)
	proxy := testenv.StartLambda(t, testenv.BuildBootstrap(t, proxyPkg), p.proxyEnv())
	defer proxy.Stop(t)
	p.stand.SetDelay(delay)
	defer p.stand.SetDelay(0)
	for range 5 { // cold start, then a few warm calls
		answer(t, ours.Invoke(t, p.event), 200, true)
		answer(t, proxy.Invoke(t, p.event), 200, false)
	}
	var o, x []time.Duration
	timed := func(l *testenv.Lambda, wantCode bool) time.Duration {
		start := time.Now()
		raw := l.Invoke(t, p.event)
		d := time.Since(start)
		answer(t, raw, 200, wantCode)
		return d
	}
	for i := range n {
		if i%2 == 0 {
			o = append(o, timed(ours, true))
			x = append(x, timed(proxy, false))
		} else {
			x = append(x, timed(proxy, false))
			o = append(o, timed(ours, true))
		}
	}
	f := e2eFigures{n: n, delay: delay,
		ourP50: median(o), ourP99: percentile(o, 99), proxyP50: median(x), proxyP99: percentile(x, 99)}
	f.ratio = float64(f.ourP50) / float64(f.proxyP50)
	return f
}

// costFigures are figure 4's counts and figure 5's memory.
type costFigures struct {
	n, connWindow             int
	ttl, elapsed              time.Duration
	secretCalls, jwksFetches  int
	connsInWindow, connsInAll int
	hwmKB, rssKB              int
}

// measureCosts invokes our bootstrap under the emulator n times in sequence
// from cold (secret cache TTL ttl) and counts what reached moto, the
// identity provider's JWKS and the stand-in's listener; the stand-in's
// connections are also counted over the first connWindow invocations. Then
// it reads the function process's peak RSS.
func measureCosts(t testing.TB, p *peers, n, connWindow int, ttl time.Duration) costFigures {
	t.Helper()
	// The emulator's own log lines are not needed for 10,000 invocations.
	l := testenv.StartLambda(t, testenv.BuildBootstrap(t, functionPkg), p.functionEnv(map[string]string{
		"SECRET_CACHE_TTL": ttl.String(), "LOG_LEVEL": "error",
	}))
	defer l.Stop(t)
	secret0 := p.moto.Calls("secretsmanager.GetSecretValue")
	jwks0 := p.issuer.JWKSFetches()
	conns0 := p.stand.Connections()
	f := costFigures{n: n, connWindow: connWindow, ttl: ttl}
	ok := []byte(`"statusCode":200`)
	start := time.Now()
	for i := range n {
		raw := l.Invoke(t, p.event)
		if !bytes.Contains(raw, ok) {
			answer(t, raw, 200, true) // fails with the answer shown
		}
		if i+1 == connWindow {
			f.connsInWindow = p.stand.Connections() - conns0
		}
	}
	f.elapsed = time.Since(start)
	f.secretCalls = p.moto.Calls("secretsmanager.GetSecretValue") - secret0
	f.jwksFetches = p.issuer.JWKSFetches() - jwks0
	f.connsInAll = p.stand.Connections() - conns0
	pid := l.FunctionPID()
	if pid == 0 {
		t.Fatalf("no bootstrap process under the emulator after %d invocations", n)
	}
	f.hwmKB = procStatusKB(t, pid, "VmHWM")
	f.rssKB = procStatusKB(t, pid, "VmRSS")
	return f
}

// sizeFigures are figure 5's artifact sizes.
type sizeFigures struct {
	raw, zipped, helloZipped int64
}

// measureSize builds the bootstrap as `sam build` does (the Makefile's
// build-AuthCodeFunction: linux/arm64) and zips it as a deployment package;
// the floor is the hello-world function built with the same flags.
func measureSize(t testing.TB) sizeFigures {
	t.Helper()
	root := testenv.RepoRoot(t)
	dir := t.TempDir()
	cmd := exec.Command("make", "-s", "build-AuthCodeFunction", "ARTIFACTS_DIR="+dir)
	cmd.Dir = root
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("make build-AuthCodeFunction: %v\n%s", err, out)
	}
	bootstrap := filepath.Join(dir, "bootstrap")
	info, err := os.Stat(bootstrap)
	if err != nil {
		t.Fatal(err)
	}
	hello := filepath.Join(dir, "hello", "bootstrap")
	build := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-tags", "lambda.norpc", "-ldflags", "-s -w", "-o", hello, strings.Replace(helloPkg, "./tests/", "./", 1))
	build.Dir = filepath.Join(root, "tests")
	build.Env = append(os.Environ(), "CGO_ENABLED=0", "GOOS=linux", "GOARCH=arm64")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("building the hello-world floor: %v\n%s", err, out)
	}
	return sizeFigures{raw: info.Size(), zipped: testenv.ZipSize(t, bootstrap), helloZipped: testenv.ZipSize(t, hello)}
}

// machine describes where the figures were taken.
func machine() string {
	cpu := "unknown CPU"
	if raw, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range bytes.Split(raw, []byte("\n")) {
			if name, val, ok := bytes.Cut(line, []byte(":")); ok && string(bytes.TrimSpace(name)) == "model name" {
				cpu = string(bytes.TrimSpace(val))
				break
			}
		}
	}
	return cpu + ", " + strconv.Itoa(runtime.NumCPU()) + " cores, " + runtime.GOOS + "/" + runtime.GOARCH
}
