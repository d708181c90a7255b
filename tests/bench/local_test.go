package bench

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/sentiance-authcode/backend/tests/testenv"
)

// localServer is `make run`: functions/local built and started with its
// embedded development issuer and Sentiance stand-in, on loopback.
type localServer struct {
	URL, token string
}

func startLocal(t testing.TB) *localServer {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "authcode")
	build := exec.Command("go", "build", "-o", bin, localPkg)
	build.Dir = testenv.RepoRoot(t)
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build %s: %v\n%s", localPkg, err, out)
	}
	cmd := exec.Command(bin)
	// Nothing of the test's environment but PATH and HOME: no Lambda, AWS
	// or JWT settings, so local mode brings its own issuer and stand-in.
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "LOCAL_ADDR=127.0.0.1:0", "AWS_LAMBDA_LOG_LEVEL=INFO"}
	cmd.Stdout = io.Discard // one JSON log line per request
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting local mode: %v", err)
	}
	t.Cleanup(func() {
		_ = cmd.Process.Signal(os.Interrupt)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			_ = cmd.Process.Kill()
			<-done
		}
	})

	// The banner names the API's URL and holds the demo user's token.
	found := make(chan *localServer, 1)
	go func() {
		s := &localServer{}
		sc := bufio.NewScanner(stderr)
		sc.Buffer(make([]byte, 64<<10), 64<<10)
		for sc.Scan() {
			line := strings.TrimSpace(sc.Text())
			if rest, ok := strings.CutPrefix(line, "API "); ok && s.URL == "" {
				s.URL = strings.Fields(rest)[0]
			}
			if strings.HasPrefix(line, "eyJ") && strings.Count(line, ".") == 2 && s.token == "" {
				s.token = line
			}
			if s.URL != "" && s.token != "" {
				found <- s
				break
			}
		}
		_, _ = io.Copy(io.Discard, stderr)
	}()
	select {
	case s := <-found:
		return s
	case <-time.After(30 * time.Second):
		t.Fatalf("local mode printed no banner with a URL and a token within 30 s")
		return nil
	}
}

// loadFigures are one concurrency level of figure 6.
type loadFigures struct {
	clients, requests int
	elapsed           time.Duration
	rps               float64
	p50, p99          time.Duration
	capped            bool // the time cap ended the run early
}

// load sends requests POST /auth-code requests from clients concurrent
// clients (each waits for its answer before the next), stopping early at
// timeCap, and measures throughput and latency.
func (s *localServer) load(t testing.TB, clients, requests int, timeCap time.Duration) loadFigures {
	t.Helper()
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxIdleConns: clients, IdleConnTimeout: time.Minute}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 30 * time.Second}
	call := func(ctx context.Context) error {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, s.URL+"/auth-code", nil)
		req.Header.Set("Authorization", "Bearer "+s.token)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return &statusError{resp.StatusCode}
		}
		return nil
	}
	ctx, cancel := context.WithTimeout(context.Background(), timeCap)
	defer cancel()
	for range clients { // open the connections and warm the caches
		if err := call(ctx); err != nil {
			t.Fatalf("local mode warm-up: %v", err)
		}
	}

	var next atomic.Int64
	lat := make([][]time.Duration, clients)
	errs := make(chan error, clients)
	var wg sync.WaitGroup
	start := time.Now()
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= int64(requests) && ctx.Err() == nil {
				t0 := time.Now()
				if err := call(ctx); err != nil {
					if ctx.Err() == nil {
						errs <- err
					}
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(errs)
	for err := range errs {
		t.Fatalf("local mode with %d clients: %v", clients, err)
	}
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	return loadFigures{
		clients: clients, requests: len(all), elapsed: elapsed,
		rps: float64(len(all)) / elapsed.Seconds(),
		p50: median(all), p99: percentile(all, 99),
		capped: len(all) < requests,
	}
}

type statusError struct{ status int }

func (e *statusError) Error() string { return "answered " + http.StatusText(e.status) }
