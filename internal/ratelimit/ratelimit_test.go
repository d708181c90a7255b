package ratelimit_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/sentiance-authcode/backend/internal/ratelimit"
	"github.com/sentiance-authcode/backend/internal/testenv"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want ratelimit.Limit
		ok   bool
	}{
		{"5/1m", ratelimit.Limit{N: 5, Window: time.Minute}, true},
		{" 100/24h ", ratelimit.Limit{N: 100, Window: 24 * time.Hour}, true},
		{"0/1m", ratelimit.Limit{}, false},
		{"5", ratelimit.Limit{}, false},
		{"5/", ratelimit.Limit{}, false},
		{"5/500ms", ratelimit.Limit{}, false},
		{"x/1m", ratelimit.Limit{}, false},
	} {
		got, err := ratelimit.Parse(tt.in)
		if (err == nil) != tt.ok || got != tt.want {
			t.Errorf("Parse(%q) = %v, %v", tt.in, got, err)
		}
	}
}

// clock is a settable time source for window roll-over.
type clock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *clock) Now() time.Time      { c.mu.Lock(); defer c.mu.Unlock(); return c.now }
func (c *clock) Add(d time.Duration) { c.mu.Lock(); c.now = c.now.Add(d); c.mu.Unlock() }

type limiter interface {
	Allow(ctx context.Context, externalID string) (ratelimit.Decision, error)
}

// Both limiters, the DynamoDB one against the in-process fake of its
// counter update (the integration tier runs the same checks against moto).
func TestLimiters(t *testing.T) {
	limit := ratelimit.Limit{N: 5, Window: time.Minute}
	checkLimiters(t, limit, map[string]func(now func() time.Time) limiter{
		"dynamodb": func(now func() time.Time) limiter {
			return ratelimit.NewDynamo(testenv.NewDynamoDB(), "limits", limit, now)
		},
		"memory": func(now func() time.Time) limiter { return ratelimit.NewMemory(limit, now) },
	})
}

// checkLimiters: exactly N of 40 concurrent requests pass, users are
// counted apart, and the next window starts afresh.
func checkLimiters(t *testing.T, limit ratelimit.Limit, builders map[string]func(now func() time.Time) limiter) {
	for name, build := range builders {
		t.Run(name, func(t *testing.T) {
			// 10 s into a window, so the window has 50 s left.
			clk := &clock{now: time.Unix(1_800_000_000, 0).Truncate(time.Minute).Add(10 * time.Second)}
			l := build(clk.Now)
			user := "user-" + name

			// 40 concurrent requests from several goroutines: exactly N pass.
			var allowed atomic.Int32
			var wg sync.WaitGroup
			for i := 0; i < 40; i++ {
				wg.Add(1)
				go func() {
					defer wg.Done()
					d, err := l.Allow(context.Background(), user)
					if err != nil {
						t.Error(err)
					}
					if d.Allowed {
						allowed.Add(1)
					} else if d.RetryAfter != 50*time.Second {
						t.Errorf("RetryAfter = %v, want 50s (to the end of the window)", d.RetryAfter)
					}
				}()
			}
			wg.Wait()
			if n := allowed.Load(); n != int32(limit.N) {
				t.Fatalf("allowed %d of 40 concurrent requests, want exactly %d", n, limit.N)
			}
			// Another user has a budget of their own.
			if d, _ := l.Allow(context.Background(), user+"-other"); !d.Allowed {
				t.Error("another user was limited")
			}
			// The next window starts afresh.
			clk.Add(50 * time.Second)
			for i := 0; i < limit.N; i++ {
				if d, err := l.Allow(context.Background(), user); err != nil || !d.Allowed {
					t.Fatalf("new window, request %d: %+v, %v", i, d, err)
				}
			}
			if d, _ := l.Allow(context.Background(), user); d.Allowed {
				t.Error("request N+1 of the new window allowed")
			}
		})
	}
}

func TestDynamoDown(t *testing.T) {
	db := testenv.NewDynamoDB()
	l := ratelimit.NewDynamo(db, "limits", ratelimit.Limit{N: 3, Window: time.Minute}, nil)
	db.SetDown(true)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := l.Allow(ctx, "user"); err == nil {
		t.Fatal("no error with DynamoDB down")
	}
}
