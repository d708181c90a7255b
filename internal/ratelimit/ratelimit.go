// Package ratelimit caps how many codes one external_id may mint per window:
// a fixed-window counter per user, kept in DynamoDB so every Lambda instance
// shares it (one conditional UpdateItem per request, no read-then-write
// race), or in memory for a single local process.
package ratelimit

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

// Parse reads a limit written as N/window, e.g. 5/1m or 100/24h.
func Parse(s string) (Limit, error) {
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

// Decision is the limiter's answer for one request.
type Decision struct {
	Allowed    bool
	RetryAfter time.Duration // until the window ends, when not allowed
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

// Dynamo counts in a DynamoDB table with a string partition key "pk" and
// TTL on the number attribute "expires_at".
type Dynamo struct {
	api   DynamoAPI
	table string
	limit Limit
	now   func() time.Time
}

// NewDynamo returns a limiter over table; now may be nil (time.Now).
func NewDynamo(api DynamoAPI, table string, limit Limit, now func() time.Time) *Dynamo {
	if now == nil {
		now = time.Now
	}
	return &Dynamo{api: api, table: table, limit: limit, now: now}
}

// Allow counts one request for externalID: one UpdateItem that adds 1 only
// while the count is below N, so concurrent instances can never over-issue.
func (d *Dynamo) Allow(ctx context.Context, externalID string) (Decision, error) {
	now := d.now()
	start, end := d.limit.window(now)
	_, err := d.api.UpdateItem(ctx, &dynamodb.UpdateItemInput{
		TableName: aws.String(d.table),
		Key: map[string]types.AttributeValue{
			"pk": &types.AttributeValueMemberS{Value: key(externalID, start)},
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
		return Decision{RetryAfter: end.Sub(now)}, nil
	case err != nil:
		return Decision{}, fmt.Errorf("rate limit table %s: %w", d.table, err)
	}
	return Decision{Allowed: true}, nil
}

// key names a user's window without storing the external_id itself.
func key(externalID string, start time.Time) string {
	sum := sha256.Sum256([]byte(externalID))
	return hex.EncodeToString(sum[:16]) + "#" + strconv.FormatInt(start.Unix(), 10)
}

// Memory counts in this process only: for local runs.
type Memory struct {
	limit Limit
	now   func() time.Time

	mu     sync.Mutex
	start  time.Time
	counts map[string]int
}

// NewMemory returns an in-memory limiter; now may be nil (time.Now).
func NewMemory(limit Limit, now func() time.Time) *Memory {
	if now == nil {
		now = time.Now
	}
	return &Memory{limit: limit, now: now, counts: map[string]int{}}
}

// Allow counts one request for externalID.
func (m *Memory) Allow(_ context.Context, externalID string) (Decision, error) {
	now := m.now()
	start, end := m.limit.window(now)
	m.mu.Lock()
	defer m.mu.Unlock()
	if !start.Equal(m.start) {
		m.start, m.counts = start, map[string]int{} // a new window forgets the old one
	}
	if m.counts[externalID] >= m.limit.N {
		return Decision{RetryAfter: end.Sub(now)}, nil
	}
	m.counts[externalID]++
	return Decision{Allowed: true}, nil
}
