//go:build integration

package ratelimit_test

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sentiance-authcode/backend/internal/ratelimit"
	"github.com/sentiance-authcode/backend/internal/testenv"
)

// The DynamoDB limiter against moto through the real SDK: the same checks
// as TestLimiters, so the fake's semantics are held to the real protocol's.
func TestLimitersMoto(t *testing.T) {
	moto := testenv.StartMoto(t)
	moto.CreateRateLimitTable(t, "limits")
	limit := ratelimit.Limit{N: 5, Window: time.Minute}
	checkLimiters(t, limit, map[string]func(now func() time.Time) limiter{
		"moto": func(now func() time.Time) limiter {
			return ratelimit.NewDynamo(moto.DynamoDB(t), "limits", limit, now)
		},
	})
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
