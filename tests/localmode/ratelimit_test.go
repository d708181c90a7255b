package localmode_test

import (
	"net/http"
	"testing"
	"time"

	"github.com/sentiance-authcode/backend/tests/testenv"
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
			s := testenv.RunLocal(t, map[string]string{"RATE_LIMIT": "2/1h", "RATE_LIMIT_TABLE": tt.table})
			token := s.Token(t)
			client := &http.Client{Timeout: 10 * time.Second}
			t.Cleanup(client.CloseIdleConnections)
			for i, want := range []int{200, 200, 429} {
				req, _ := http.NewRequest(http.MethodPost, s.URL+"/auth-code", nil)
				req.Header.Set("Authorization", "Bearer "+token)
				resp, err := client.Do(req)
				if err != nil {
					t.Fatal(err)
				}
				resp.Body.Close()
				if resp.StatusCode != want {
					t.Fatalf("request %d: %d, want %d", i+1, resp.StatusCode, want)
				}
				if resp.StatusCode == 429 && resp.Header.Get("Retry-After") == "" {
					t.Errorf("429 without Retry-After")
				}
			}
		})
	}
	if n := moto.Calls("DynamoDB_20120810.UpdateItem"); n != 3 {
		t.Errorf("UpdateItem calls = %d, want 3 (only the DynamoDB run uses the table)", n)
	}
}
