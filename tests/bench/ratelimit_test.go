package bench

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/secretsmanager"

	"github.com/sentiance-authcode/backend/internal/authcode"
	"github.com/sentiance-authcode/backend/tests/testenv"
)

// limiterFigures is what the per-user limit (issue 8) adds to a request: one
// conditional UpdateItem, here against moto on loopback, next to a
// GetSecretValue round trip to the same moto as a yardstick.
type limiterFigures struct {
	p50, p99, secretP50 time.Duration
}

func measureLimiter(t *testing.T, n int) limiterFigures {
	t.Helper()
	moto := testenv.StartMoto(t)
	moto.CreateRateLimitTable(t, "limits")
	moto.CreateSecret(t, "yardstick", "value")
	l := authcode.NewDynamoLimiter(moto.DynamoDB(t), "limits", authcode.Limit{N: 1 << 30, Window: time.Hour}, time.Now)
	sm := moto.SecretsManager(t)
	ctx := context.Background()
	var updates, gets []time.Duration
	for i := 0; i < n; i++ {
		start := time.Now()
		if _, err := l.Allow(ctx, "bench-user"); err != nil {
			t.Fatal(err)
		}
		updates = append(updates, time.Since(start))
		start = time.Now()
		if _, err := sm.GetSecretValue(ctx, &secretsmanager.GetSecretValueInput{SecretId: aws.String("yardstick")}); err != nil {
			t.Fatal(err)
		}
		gets = append(gets, time.Since(start))
	}
	return limiterFigures{p50: median(updates), p99: percentile(updates, 99), secretP50: median(gets)}
}
