package testenv

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
)

// CodeDeploy is a stand-in for the one CodeDeploy call a lifecycle hook
// makes, PutLifecycleEventHookExecutionStatus (JSON 1.1 protocol), on
// 127.0.0.1. Point the SDK at URL (BaseEndpoint, or
// AWS_ENDPOINT_URL_CODEDEPLOY for a process).
type CodeDeploy struct {
	URL string

	mu      sync.Mutex
	reports []HookReport
}

// HookReport is one reported hook outcome.
type HookReport struct {
	DeploymentID string `json:"deploymentId"`
	ExecutionID  string `json:"lifecycleEventHookExecutionId"`
	Status       string `json:"status"`
}

// StartCodeDeploy starts the stand-in; t.Cleanup stops it. Any other call
// is answered 400, as CodeDeploy answers an unknown target.
func StartCodeDeploy(t testing.TB) *CodeDeploy {
	t.Helper()
	c := &CodeDeploy{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var rep HookReport
		body, _ := io.ReadAll(r.Body)
		if r.Header.Get("X-Amz-Target") != "CodeDeploy_20141006.PutLifecycleEventHookExecutionStatus" || json.Unmarshal(body, &rep) != nil {
			http.Error(w, `{"__type":"UnknownOperationException"}`, http.StatusBadRequest)
			return
		}
		c.mu.Lock()
		c.reports = append(c.reports, rep)
		c.mu.Unlock()
		w.Header().Set("Content-Type", "application/x-amz-json-1.1")
		json.NewEncoder(w).Encode(map[string]string{"lifecycleEventHookExecutionId": rep.ExecutionID})
	}))
	t.Cleanup(srv.Close)
	c.URL = srv.URL
	return c
}

// Reports returns the outcomes reported so far.
func (c *CodeDeploy) Reports() []HookReport {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]HookReport(nil), c.reports...)
}
