package ratelimit_test

import (
	"context"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

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

// Both limiters, the DynamoDB one against moto through the real SDK.
func TestLimiters(t *testing.T) {
	moto := testenv.StartMoto(t)
	moto.CreateRateLimitTable(t, "limits")
	limit := ratelimit.Limit{N: 5, Window: time.Minute}
	builders := map[string]func(now func() time.Time) limiter{
		"dynamodb": func(now func() time.Time) limiter {
			return ratelimit.NewDynamo(moto.DynamoDB(t), "limits", limit, now)
		},
		"memory": func(now func() time.Time) limiter { return ratelimit.NewMemory(limit, now) },
	}
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

// The counter item carries a TTL a window after its own, and no plain external_id.
func TestTTLAttribute(t *testing.T) {
	moto := testenv.StartMoto(t)
	moto.CreateRateLimitTable(t, "limits")
	now := time.Unix(1_800_000_000, 0)
	l := ratelimit.NewDynamo(moto.DynamoDB(t), "limits", ratelimit.Limit{N: 3, Window: time.Hour}, func() time.Time { return now })
	if _, err := l.Allow(context.Background(), "user-ttl"); err != nil {
		t.Fatal(err)
	}
	out, err := moto.DynamoDB(t).Scan(context.Background(), &dynamodb.ScanInput{TableName: aws.String("limits")})
	if err != nil || len(out.Items) != 1 {
		t.Fatalf("scan: %v, %d items", err, len(out.Items))
	}
	item := out.Items[0]
	exp, ok := item["expires_at"].(*types.AttributeValueMemberN)
	windowEnd := now.Truncate(time.Hour).Add(time.Hour)
	if !ok || exp.Value != strconv.FormatInt(windowEnd.Add(time.Hour).Unix(), 10) {
		t.Errorf("expires_at = %#v, want epoch seconds one window after the window's end", item["expires_at"])
	}
	if pk := item["pk"].(*types.AttributeValueMemberS).Value; len(pk) < 32 || pk[:4] == "user" {
		t.Errorf("pk = %q: want a hash of the external_id, not the id", pk)
	}
}

func TestDynamoDown(t *testing.T) {
	moto := testenv.StartMoto(t)
	moto.CreateRateLimitTable(t, "limits")
	l := ratelimit.NewDynamo(moto.DynamoDB(t), "limits", ratelimit.Limit{N: 3, Window: time.Minute}, nil)
	moto.Stop(t)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := l.Allow(ctx, "user"); err == nil {
		t.Fatal("no error with DynamoDB down")
	}
}

// BenchmarkDynamoAllow measures the latency the limiter adds per request
// against moto on loopback (an upper bound of DynamoDB's in-region latency
// is the real figure; this is the code path's own cost plus a local round trip).
func BenchmarkDynamoAllow(b *testing.B) {
	moto := testenv.StartMoto(b)
	moto.CreateRateLimitTable(b, "limits")
	l := ratelimit.NewDynamo(moto.DynamoDB(b), "limits", ratelimit.Limit{N: 1 << 30, Window: time.Hour}, nil)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Allow(ctx, "bench-user"); err != nil {
			b.Fatal(err)
		}
	}
}
