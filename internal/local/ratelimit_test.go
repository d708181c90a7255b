//go:build integration

package local

import (
	"net/http"
	"testing"
	"time"

	"github.com/sentiance-authcode/backend/internal/testenv"
)

// Local mode applies RATE_LIMIT like the function: in memory without a
// table, in DynamoDB (here moto's) when RATE_LIMIT_TABLE names one. Not
// parallel: moto's settings reach the AWS SDK through the environment.
func TestRunRateLimit(t *testing.T) {
	moto := testenv.StartMoto(t)
	moto.SetEnv(t)
	moto.CreateRateLimitTable(t, "limits")
	for _, tt := range []struct{ name, table string }{{"in memory", ""}, {"moto's DynamoDB", "limits"}} {
		t.Run(tt.name, func(t *testing.T) {
			s := startRun(t, map[string]string{"RATE_LIMIT": "2/1h", "RATE_LIMIT_TABLE": tt.table})
			token := s.token(t)
			client := &http.Client{Timeout: 10 * time.Second}
			for i, want := range []int{200, 200, 429} {
				status, h, body := call(t, client, "POST", s.url+"/auth-code", token, "", "")
				if status != want {
					t.Fatalf("request %d: %d %s, want %d", i+1, status, body, want)
				}
				if status == 429 && h.Get("Retry-After") == "" {
					t.Errorf("429 without Retry-After")
				}
			}
		})
	}
	if n := moto.Calls("DynamoDB_20120810.UpdateItem"); n != 3 {
		t.Errorf("UpdateItem calls = %d, want 3 (only the DynamoDB run uses the table)", n)
	}
}
