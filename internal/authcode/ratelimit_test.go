package authcode_test

import (
	"context"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb"
	"github.com/aws/aws-sdk-go-v2/service/dynamodb/types"

	"github.com/sentiance-authcode/backend/internal/authcode"
)

func TestParse(t *testing.T) {
	for _, tt := range []struct {
		in   string
		want authcode.Limit
		ok   bool
	}{
		{"5/1m", authcode.Limit{N: 5, Window: time.Minute}, true},
		{" 100/24h ", authcode.Limit{N: 100, Window: 24 * time.Hour}, true},
		{"0/1m", authcode.Limit{}, false},
		{"5", authcode.Limit{}, false},
		{"5/", authcode.Limit{}, false},
		{"5/500ms", authcode.Limit{}, false},
		{"x/1m", authcode.Limit{}, false},
	} {
		got, err := authcode.ParseLimit(tt.in)
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

// Both limiters, the DynamoDB one against the in-process fake of its
// counter update (the integration tier runs the same checks against moto).
func TestLimiters(t *testing.T) {
	limit := authcode.Limit{N: 5, Window: time.Minute}
	checkLimiters(t, limit, map[string]func(now func() time.Time) authcode.Limiter{
		"dynamodb": func(now func() time.Time) authcode.Limiter {
			return authcode.NewDynamoLimiter(newFakeDynamo(), "limits", limit, now)
		},
		"memory": func(now func() time.Time) authcode.Limiter { return authcode.NewMemoryLimiter(limit, now) },
	})
}

// checkLimiters: exactly N of 40 concurrent requests pass, users are
// counted apart, and the next window starts afresh.
func checkLimiters(t *testing.T, limit authcode.Limit, builders map[string]func(now func() time.Time) authcode.Limiter) {
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
					wait, err := l.Allow(context.Background(), user)
					if err != nil {
						t.Error(err)
					}
					if wait == 0 {
						allowed.Add(1)
					} else if wait != 50*time.Second {
						t.Errorf("wait = %v, want 50s (to the end of the window)", wait)
					}
				}()
			}
			wg.Wait()
			if n := allowed.Load(); n != int32(limit.N) {
				t.Fatalf("allowed %d of 40 concurrent requests, want exactly %d", n, limit.N)
			}
			// Another user has a budget of their own.
			if wait, _ := l.Allow(context.Background(), user+"-other"); wait != 0 {
				t.Error("another user was limited")
			}
			// The next window starts afresh.
			clk.Add(50 * time.Second)
			for i := 0; i < limit.N; i++ {
				if wait, err := l.Allow(context.Background(), user); err != nil || wait != 0 {
					t.Fatalf("new window, request %d: wait %v, %v", i, wait, err)
				}
			}
			if wait, _ := l.Allow(context.Background(), user); wait == 0 {
				t.Error("request N+1 of the new window allowed")
			}
		})
	}
}

func TestDynamoDown(t *testing.T) {
	db := newFakeDynamo()
	db.down = true
	l := authcode.NewDynamoLimiter(db, "limits", authcode.Limit{N: 3, Window: time.Minute}, time.Now)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if _, err := l.Allow(ctx, "user"); err == nil {
		t.Fatal("no error with DynamoDB down")
	}
}

// fakeDynamo is an in-process fake of the one DynamoDB call the limiter
// makes: its conditional counter update, applied atomically. Any other
// request fails, so a change to the limiter's expressions shows here and is
// checked against moto in the integration tier (TestLimitersMoto).
type fakeDynamo struct {
	mu     sync.Mutex
	counts map[string]int // by table and pk
	down   bool           // every call fails, as when DynamoDB is unreachable
}

func newFakeDynamo() *fakeDynamo { return &fakeDynamo{counts: map[string]int{}} }

func (f *fakeDynamo) UpdateItem(ctx context.Context, in *dynamodb.UpdateItemInput, _ ...func(*dynamodb.Options)) (*dynamodb.UpdateItemOutput, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.down {
		return nil, errors.New("fake DynamoDB is down")
	}
	if aws.ToString(in.UpdateExpression) != "ADD #count :one SET #expires = if_not_exists(#expires, :expires)" ||
		aws.ToString(in.ConditionExpression) != "attribute_not_exists(#count) OR #count < :limit" {
		return nil, fmt.Errorf("the fake knows only the limiter's counter update, got %q if %q",
			aws.ToString(in.UpdateExpression), aws.ToString(in.ConditionExpression))
	}
	pk, _ := in.Key["pk"].(*types.AttributeValueMemberS)
	limit, _ := in.ExpressionAttributeValues[":limit"].(*types.AttributeValueMemberN)
	if pk == nil || limit == nil {
		return nil, errors.New("the fake needs a string pk and a number :limit")
	}
	n, err := strconv.Atoi(limit.Value)
	if err != nil {
		return nil, err
	}
	k := aws.ToString(in.TableName) + "/" + pk.Value
	if f.counts[k] >= n {
		return nil, &types.ConditionalCheckFailedException{Message: aws.String("The conditional request failed")}
	}
	f.counts[k]++
	return &dynamodb.UpdateItemOutput{}, nil
}
