package devsentiance_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/sentiance-authcode/backend/internal/devsentiance"
)

// The full behaviour is tested through internal/testenv's stand-in, which
// answers with this one; these cases cover what only this package offers.
func TestServer(t *testing.T) {
	t.Parallel()
	var mu sync.Mutex
	var issued []string
	s := devsentiance.New("k.1", func(code string) {
		mu.Lock()
		defer mu.Unlock()
		issued = append(issued, code)
	})
	post := func(key, body string) (int, string) {
		r := httptest.NewRequest("POST", devsentiance.Path, strings.NewReader(body))
		r.Header.Set("Authorization", "Bearer "+key)
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		s.ServeHTTP(w, r)
		b, _ := io.ReadAll(w.Result().Body)
		return w.Code, string(b)
	}
	status, body := post("k.1", `{"external_id":"u"}`)
	if status != http.StatusOK || len(issued) != 1 || !strings.Contains(body, `"authentication_code":"`+issued[0]+`"`) {
		t.Fatalf("%d %s (issued %v)", status, body, issued)
	}
	if status, _ := post("k.2", `{"external_id":"u"}`); status != http.StatusUnauthorized {
		t.Errorf("wrong key: %d", status)
	}
	s.SetKey("k.2")
	if status, _ := post("k.2", `{"external_id":"u"}`); status != http.StatusOK {
		t.Errorf("after SetKey: %d", status)
	}
	if status, _ := post("k.1", `{"external_id":"u"}`); status != http.StatusUnauthorized {
		t.Errorf("old key after SetKey: %d", status)
	}
	// During a rotation both keys are active.
	s.SetKey("k.2", "k.3")
	for _, key := range []string{"k.2", "k.3"} {
		if status, _ := post(key, `{"external_id":"u"}`); status != http.StatusOK {
			t.Errorf("%s with two keys active: %d", key, status)
		}
	}
	{
		empty := devsentiance.New("", nil)
		r := httptest.NewRequest("POST", devsentiance.Path, strings.NewReader(`{"external_id":"u"}`))
		r.Header.Set("Authorization", "Bearer ")
		r.Header.Set("Content-Type", "application/json")
		w := httptest.NewRecorder()
		empty.ServeHTTP(w, r)
		if w.Code != http.StatusUnauthorized {
			t.Errorf("an empty key accepted a call: %d", w.Code)
		}
	}

	if c := devsentiance.NewCode(); !regexp.MustCompile(`^[0-9a-f]{128}$`).MatchString(c) || c == devsentiance.NewCode() {
		t.Errorf("NewCode = %q", c)
	}
	at := time.Date(2021, 2, 3, 14, 22, 3, 76_000_000, time.FixedZone("CET", 3600))
	if got := devsentiance.ExpiresAt(at); got != "2021-02-03T13:32:03.076Z" {
		t.Errorf("ExpiresAt = %s", got)
	}
}
