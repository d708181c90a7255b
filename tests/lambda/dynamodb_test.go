package lambda_test

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

	"github.com/sentiance-authcode/backend/internal/authcode"
	"github.com/sentiance-authcode/backend/tests/testenv"
)

// The DynamoDB limiter against moto through the real SDK, with the plain
// tier's checks (authcode's TestLimiters, there against an in-process
// fake): exactly N of 40 concurrent requests pass, the others are told the
// rest of the window, users are counted apart, and a new window starts
// afresh. This holds the fake's semantics to the real protocol's.
func TestLimitersMoto(t *testing.T) {
	moto := testenv.StartMoto(t)
	moto.CreateRateLimitTable(t, "limits")
	limit := authcode.Limit{N: 5, Window: time.Minute}
	var mu sync.Mutex
	now := time.Unix(1_800_000_000, 0).Truncate(time.Minute).Add(10 * time.Second) // 50 s left in the window
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	l := authcode.NewDynamoLimiter(moto.DynamoDB(t), "limits", limit, clock)
	ctx := context.Background()
	var allowed atomic.Int32
	var wg sync.WaitGroup
	for range 40 {
		wg.Go(func() {
			switch wait, err := l.Allow(ctx, "user-moto"); {
			case err != nil:
				t.Error(err)
			case wait == 0:
				allowed.Add(1)
			case wait != 50*time.Second:
				t.Errorf("wait = %v, want 50s (to the end of the window)", wait)
			}
		})
	}
	wg.Wait()
	if n := allowed.Load(); n != int32(limit.N) {
		t.Fatalf("allowed %d of 40 concurrent requests, want exactly %d", n, limit.N)
	}
	if wait, err := l.Allow(ctx, "user-moto-other"); err != nil || wait != 0 {
		t.Errorf("another user: wait %v, %v", wait, err)
	}
	mu.Lock()
	now = now.Add(50 * time.Second)
	mu.Unlock()
	if wait, err := l.Allow(ctx, "user-moto"); err != nil || wait != 0 {
		t.Errorf("new window: wait %v, %v", wait, err)
	}
}

// The counter item carries a TTL a window after its own, and no plain external_id.
func TestTTLAttribute(t *testing.T) {
	moto := testenv.StartMoto(t)
	moto.CreateRateLimitTable(t, "limits")
	now := time.Unix(1_800_000_000, 0)
	l := authcode.NewDynamoLimiter(moto.DynamoDB(t), "limits", authcode.Limit{N: 3, Window: time.Hour}, func() time.Time { return now })
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

// BenchmarkDynamoAllow measures the latency the limiter adds per request
// against moto on loopback (an upper bound of DynamoDB's in-region latency
// is the real figure; this is the code path's own cost plus a local round trip).
func BenchmarkDynamoAllow(b *testing.B) {
	moto := testenv.StartMoto(b)
	moto.CreateRateLimitTable(b, "limits")
	l := authcode.NewDynamoLimiter(moto.DynamoDB(b), "limits", authcode.Limit{N: 1 << 30, Window: time.Hour}, time.Now)
	ctx := context.Background()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if _, err := l.Allow(ctx, "bench-user"); err != nil {
			b.Fatal(err)
		}
	}
}
