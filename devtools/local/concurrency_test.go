package local

import (
	"encoding/json"
	"fmt"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/sentiance-authcode/backend/devtools/devsentiance"
)

// Many callers at once, some with bad tokens or bodies, while Sentiance
// fails now and then: every request gets a definitive answer from the
// contract, none is lost, and shutdown leaves no goroutine behind. Bounded:
// 320 requests on loopback, at most 60 s. Not parallel: it counts goroutines.
func TestManyCallers(t *testing.T) {
	stand := devsentiance.Start(t, "key.concurrency")
	var faults []devsentiance.Step
	for i := 0; i < 10; i++ {
		faults = append(faults,
			devsentiance.Step{Status: 503},
			devsentiance.Step{Reset: true},
			devsentiance.Step{Status: 429, Header: http.Header{"Retry-After": {"2"}}},
			devsentiance.Step{Delay: 50 * time.Millisecond},
		)
	}
	stand.Script(faults...)
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: 64}, Timeout: 15 * time.Second}
	baseline := runtime.NumGoroutine()
	s := startRun(t, map[string]string{"SENTIANCE_USER_LINK_KEY": "key.concurrency", "SENTIANCE_API_URL": stand.URL})
	token := s.token(t)

	type kind struct {
		token, body string
		allowed     map[int]bool
	}
	kinds := []kind{
		{token: token, allowed: map[int]bool{200: true, 429: true, 502: true}},
		{token: token, body: `{"external_id":"someone-else"}`, allowed: map[int]bool{403: true}},
		{token: token + "x", allowed: map[int]bool{401: true}},
		{token: token, body: `{"external_id":`, allowed: map[int]bool{400: true}},
	}
	const callers, each = 32, 10
	deadline := time.Now().Add(60 * time.Second)
	var wg sync.WaitGroup
	var mu sync.Mutex
	answered := map[int]int{}
	for c := 0; c < callers; c++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < each && time.Now().Before(deadline); i++ {
				k := kinds[(c+i)%len(kinds)]
				ct := ""
				if k.body != "" {
					ct = "application/json"
				}
				status, h, body := call(t, client, "POST", s.url+"/auth-code", k.token, ct, k.body)
				if !k.allowed[status] {
					t.Errorf("status %d for %+v: %s", status, k.allowed, body)
				}
				var doc map[string]any
				if json.Unmarshal([]byte(body), &doc) != nil || h.Get("Cache-Control") == "" && status != 401 {
					t.Errorf("status %d: malformed answer %q (headers %v)", status, body, h)
				}
				mu.Lock()
				answered[status]++
				mu.Unlock()
			}
		}()
	}
	wg.Wait()
	total := 0
	for _, n := range answered {
		total += n
	}
	if total != callers*each {
		t.Fatalf("%d of %d requests answered: %v", total, callers*each, answered)
	}
	t.Logf("answers by status: %s", fmt.Sprint(answered))

	if err := s.stop(t); err != nil {
		t.Fatalf("Run: %v", err)
	}
	client.CloseIdleConnections()
	for end := time.Now().Add(5 * time.Second); runtime.NumGoroutine() > baseline; {
		if time.Now().After(end) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines left, %d before Run:\n%s", runtime.NumGoroutine(), baseline, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
}
