package authcode

// The per-user limit: a fixed-window counter per external_id, in DynamoDB so
// every instance shares it, or in memory for one local process.

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"
)

// Limit is N codes per Window.
type Limit struct {
	N      int
	Window time.Duration
}

// ParseLimit reads a limit written as N/window, e.g. 5/1m or 100/24h.
func ParseLimit(s string) (Limit, error) {
	n, w, ok := strings.Cut(strings.TrimSpace(s), "/")
	count, err := strconv.Atoi(n)
	if !ok || err != nil || count < 1 {
		return Limit{}, fmt.Errorf("want N/window such as 5/1m; got %q", s)
	}
	window, err := time.ParseDuration(w)
	if err != nil || window < time.Second || window%time.Second != 0 {
		return Limit{}, fmt.Errorf("want a window of whole seconds such as 1m; got %q", s)
	}
	return Limit{N: count, Window: window}, nil
}

// window returns the start and end of the window holding now.
func (l Limit) window(now time.Time) (time.Time, time.Time) {
	start := now.Truncate(l.Window)
	return start, start.Add(l.Window)
}

// DynamoAPI is the part of the DynamoDB client the limiter uses.
type DynamoAPI interface {
	UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, opts ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error)
}

// DynamoLimiter counts in a DynamoDB table with a string partition key
// "pk" and TTL on the number attribute "expires_at".
type DynamoLimiter struct {
	api   DynamoAPI
	table string
	limit Limit
	now   func() time.Time
}

// NewDynamoLimiter returns a limiter over table.
func NewDynamoLimiter(api DynamoAPI, table string, limit Limit, now func() time.Time) *DynamoLimiter {
	return &DynamoLimiter{api: api, table: table, limit: limit, now: now}
}

// Allow counts one request for externalID: one UpdateItem that adds 1 only
// while the count is below N, so concurrent instances can never over-issue.
// Refused, it returns the time until the window ends.
func (d *DynamoLimiter) Allow(ctx context.Context, externalID string) (time.Duration, error) {
	now := d.now()
	start, end := d.limit.window(now)
	_, err := d.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(d.table),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: limitKey(externalID, start)},
		},
		UpdateExpression:    aws.String("ADD #count :one SET #expires = if_not_exists(#expires, :expires)"),
		ConditionExpression: aws.String("attribute_not_exists(#count) OR #count < :limit"),
		ExpressionAttributeNames: map[string]string{
			"#count":   "count",
			"#expires": "expires_at",
		},
		ExpressionAttributeValues: map[string]types.AttributeValue{
			":one":   &types.AttributeValueMemberN{Value: "1"},
			":limit": &types.AttributeValueMemberN{Value: strconv.Itoa(d.limit.N)},
			// Kept a window longer than needed; DynamoDB's TTL deletes lazily anyway.
			":expires": &types.AttributeValueMemberN{Value: strconv.FormatInt(end.Add(d.limit.Window).Unix(), 10)},
		},
	})
	var failed *types.ConditionalCheckFailedException
	switch {
	case errors.As(err, &failed):
		return end.Sub(now), nil
	case err != nil:
		return 0, fmt.Errorf("rate limit table %s: %w", d.table, err)
	}
	return 0, nil
}

// limitKey names a user's window without storing the external_id itself.
func limitKey(externalID string, start time.Time) string {
	sum := sha256.Sum256([]byte(externalID))
	return hex.EncodeToString(sum[:16]) + "#" + strconv.FormatInt(start.Unix(), 10)
}

// MemoryLimiter counts in this process only: for local runs.
type MemoryLimiter struct {
	limit Limit
	now   func() time.Time

	mu     sync.Mutex
	start  time.Time
	counts map[string]int
}

// NewMemoryLimiter returns an in-memory limiter.
func NewMemoryLimiter(limit Limit, now func() time.Time) *MemoryLimiter {
	return &MemoryLimiter{limit: limit, now: now, counts: map[string]int{}}
}

// Allow counts one request for externalID, as DynamoLimiter.Allow does.
func (m *MemoryLimiter) Allow(_ context.Context, externalID string) (time.Duration, error) {
	now := m.now()
	start, end := m.limit.window(now)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !start.Equal(m.start) {
		m.start, m.counts = start, map[string]int{} // a new window forgets the old one
	}
	if m.counts[externalID] >= m.limit.N {
		return end.Sub(now), nil
	}
	m.counts[externalID]++
	return 0, nil
}
