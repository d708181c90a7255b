package local

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sentiance-authcode/backend/internal/authcode"
)

func TestEvent(t *testing.T) {
	t.Parallel()
	gw := &Gateway{}
	type want struct {
		routeKey, rawPath, body string
		base64                  bool
		headers                 map[string]string // must be present with these values
	}
	tests := []struct {
		name   string
		req    func() *http.Request
		status int // a refusal's status; 0 when the function is invoked
		want   want
	}{
		{
			name: "POST with JSON body and repeated headers",
			req: func() *http.Request {
				r := httptest.NewRequest("POST", "http://api.example.com:3000/auth-code", strings.NewReader(`{"external_id":"u"}`))
				r.Header.Set("Content-Type", "application/json")
				r.Header.Set("Authorization", "Bearer t")
				r.Header.Add("X-Multi", "a")
				r.Header.Add("X-Multi", "b")
				r.Header.Set("User-Agent", "app/1.0")
				return r
			},
			want: want{
				routeKey: "POST /auth-code", rawPath: "/auth-code",
				body: `{"external_id":"u"}`,
				headers: map[string]string{
					"content-type": "application/json", "authorization": "Bearer t", "x-multi": "a,b",
					"host": "api.example.com:3000", "user-agent": "app/1.0",
				},
			},
		},
		{
			name: "GET without body",
			req:  func() *http.Request { return httptest.NewRequest("GET", "/auth/code", nil) },
			want: want{routeKey: "GET /auth/code", rawPath: "/auth/code"},
		},
		{
			name: "binary body is base64",
			req: func() *http.Request {
				r := httptest.NewRequest("POST", "/auth-code", strings.NewReader("\x00\xff"))
				r.Header.Set("Content-Type", "application/octet-stream")
				return r
			},
			want: want{routeKey: "POST /auth-code", rawPath: "/auth-code", body: "AP8=", base64: true},
		},
		{
			name: "no content type is base64",
			req:  func() *http.Request { return httptest.NewRequest("POST", "/auth-code", strings.NewReader("{}")) },
			want: want{routeKey: "POST /auth-code", rawPath: "/auth-code", body: "e30=", base64: true},
		},
		{
			name: "form encoding is base64",
			req: func() *http.Request {
				r := httptest.NewRequest("POST", "/auth-code", strings.NewReader("a=b"))
				r.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				return r
			},
			want: want{routeKey: "POST /auth-code", rawPath: "/auth-code", body: "YT1i", base64: true},
		},
		{
			name: "a +json type is base64",
			req: func() *http.Request {
				r := httptest.NewRequest("POST", "/auth-code", strings.NewReader("{}"))
				r.Header.Set("Content-Type", "application/vnd.api+json")
				return r
			},
			want: want{routeKey: "POST /auth-code", rawPath: "/auth-code", body: "e30=", base64: true},
		},
		{
			name: "text with charset is text",
			req: func() *http.Request {
				r := httptest.NewRequest("POST", "/auth-code", strings.NewReader("hé"))
				r.Header.Set("Content-Type", "text/plain; charset=utf-8")
				return r
			},
			want: want{routeKey: "POST /auth-code", rawPath: "/auth-code", body: "hé"},
		},
		{name: "unknown path", req: func() *http.Request { return httptest.NewRequest("GET", "/nope", nil) }, status: 404},
		{name: "wrong method is 404 too", req: func() *http.Request { return httptest.NewRequest("GET", "/auth-code", nil) }, status: 404},
		{name: "HEAD on a GET route", req: func() *http.Request { return httptest.NewRequest("HEAD", "/auth/code", nil) }, status: 404},
		{name: "trailing slash", req: func() *http.Request { return httptest.NewRequest("POST", "/auth-code/", nil) }, status: 404},
		{
			name: "body over the local limit",
			req: func() *http.Request {
				r := httptest.NewRequest("POST", "/auth-code", strings.NewReader(strings.Repeat("x", MaxBodyBytes+1)))
				r.Header.Set("Content-Type", "application/json")
				return r
			},
			status: 413,
		},
		{
			name: "headers over 10,240 bytes",
			req: func() *http.Request {
				r := httptest.NewRequest("GET", "/auth/code", nil)
				r.Header.Set("X-Big", strings.Repeat("x", MaxHeaderBytes))
				return r
			},
			status: 431,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			before := time.Now()
			ev, refusal := gw.Event(tt.req())
			if tt.status != 0 {
				if refusal == nil {
					t.Fatalf("invoked the function with %+v, want a %d from the gateway", ev, tt.status)
				}
				checkGatewayAnswer(t, refusal.Response, tt.status)
				return
			}
			if refusal != nil {
				t.Fatalf("refused %d (%s), want the function invoked", refusal.Response.StatusCode, refusal.Reason)
			}
			w := tt.want
			if ev.Version != "2.0" || ev.RouteKey != w.routeKey || ev.RequestContext.RouteKey != w.routeKey ||
				ev.RawPath != w.rawPath {
				t.Errorf("version %q routeKey %q/%q rawPath %q", ev.Version, ev.RouteKey, ev.RequestContext.RouteKey, ev.RawPath)
			}
			if ev.Body != w.body || ev.IsBase64Encoded != w.base64 {
				t.Errorf("body %q base64 %v, want %q %v", ev.Body, ev.IsBase64Encoded, w.body, w.base64)
			}
			for k, v := range w.headers {
				if ev.Headers[k] != v {
					t.Errorf("header %s = %q, want %q", k, ev.Headers[k], v)
				}
			}
			for k := range ev.Headers {
				if k != strings.ToLower(k) {
					t.Errorf("header name %q is not lower-case", k)
				}
			}
			rc := ev.RequestContext
			method, _, _ := strings.Cut(w.routeKey, " ")
			if rc.HTTP.Method != method || rc.HTTP.Path != w.rawPath || rc.HTTP.Protocol != "HTTP/1.1" || rc.HTTP.SourceIP != "192.0.2.1" {
				t.Errorf("requestContext.http = %+v", rc.HTTP)
			}
			if rc.Stage != "$default" || rc.Authorizer != nil {
				t.Errorf("stage %q authorizer %+v", rc.Stage, rc.Authorizer)
			}
			if len(rc.RequestID) != 16 {
				t.Errorf("requestId %q", rc.RequestID)
			}
			// Between the times taken before and after, to the second.
			at, err := time.Parse("02/Jan/2006:15:04:05 -0700", rc.Time)
			if err != nil || at.Before(before.Truncate(time.Second)) || at.After(time.Now()) {
				t.Errorf("time %q: %v", rc.Time, err)
			}
			if ms := rc.TimeEpoch; ms < before.UnixMilli() || ms > time.Now().UnixMilli() {
				t.Errorf("timeEpoch %d", ms)
			}
		})
	}

	// Request ids differ, as the gateway's do.
	seen := map[string]bool{}
	for range 50 {
		ev, _ := gw.Event(httptest.NewRequest("GET", "/auth/code", nil))
		if seen[ev.RequestContext.RequestID] {
			t.Fatalf("request id %q repeated", ev.RequestContext.RequestID)
		}
		seen[ev.RequestContext.RequestID] = true
	}
}

// checkGatewayAnswer checks an answer the gateway gives itself.
func checkGatewayAnswer(t *testing.T, resp events.APIGatewayV2HTTPResponse, status int) {
	t.Helper()
	want, _ := json.Marshal(map[string]string{"message": http.StatusText(status)})
	if resp.StatusCode != status || resp.Body != string(want) || resp.Headers["content-type"] != "application/json" || len(resp.Headers["apigw-requestid"]) != 16 {
		t.Errorf("gateway answer = %d %v %s, want %d %s", resp.StatusCode, resp.Headers, resp.Body, status, want)
	}
}

func TestServeHTTP(t *testing.T) {
	t.Parallel()
	var gotDeadline time.Duration
	tests := []struct {
		name       string
		fn         Function
		status     int
		header     http.Header // must be present
		noHeader   []string
		body       string
		gatewayErr bool // the gateway's own 500
	}{
		{
			name: "status, headers and body",
			fn: func(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
				d, _ := ctx.Deadline()
				gotDeadline = time.Until(d)
				return events.APIGatewayV2HTTPResponse{
					StatusCode: 201,
					Headers:    map[string]string{"Content-Type": "text/plain", "X-One": "1"},
					Body:       "made",
				}, nil
			},
			status: 201,
			header: http.Header{"Content-Type": {"text/plain"}, "X-One": {"1"}},
			body:   "made",
		},
		{
			name: "base64 body is decoded",
			fn: func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
				return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: base64.StdEncoding.EncodeToString([]byte("\x00bin")), IsBase64Encoded: true}, nil
			},
			status:   200,
			noHeader: []string{"Content-Type"}, // not sniffed
			body:     "\x00bin",
		},
		{
			name: "function error",
			fn: func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
				return events.APIGatewayV2HTTPResponse{}, errors.New("boom")
			},
			gatewayErr: true,
		},
		{
			name: "function panic",
			fn: func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
				panic("boom")
			},
			gatewayErr: true,
		},
		{
			name: "no status code",
			fn: func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
				return events.APIGatewayV2HTTPResponse{Body: "x"}, nil
			},
			gatewayErr: true,
		},
		{
			name: "invalid base64",
			fn: func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
				return events.APIGatewayV2HTTPResponse{StatusCode: 200, Body: "!!", IsBase64Encoded: true}, nil
			},
			gatewayErr: true,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			gw := &Gateway{Function: tt.fn}
			rec := httptest.NewRecorder()
			gw.ServeHTTP(rec, httptest.NewRequest("GET", "/auth/code", nil))
			resp := rec.Result()
			body, _ := io.ReadAll(resp.Body)
			if tt.gatewayErr {
				tt.status, tt.body = 500, `{"message":"Internal Server Error"}`
				tt.header = http.Header{"Content-Type": {"application/json"}}
			}
			if resp.StatusCode != tt.status || string(body) != tt.body {
				t.Errorf("got %d %q, want %d %q", resp.StatusCode, body, tt.status, tt.body)
			}
			for k, v := range tt.header {
				if !slices.Equal(resp.Header.Values(k), v) {
					t.Errorf("header %s = %q, want %q", k, resp.Header.Values(k), v)
				}
			}
			for _, k := range tt.noHeader {
				if v := resp.Header.Values(k); len(v) > 0 {
					t.Errorf("header %s = %q, want none", k, v)
				}
			}
			if len(resp.Header.Get("Apigw-Requestid")) != 16 {
				t.Errorf("Apigw-Requestid = %q", resp.Header.Get("Apigw-Requestid"))
			}
		})
	}
	if gotDeadline < authcode.Timeout-time.Second || gotDeadline > authcode.Timeout {
		t.Errorf("the function's deadline was %v away, want about %v", gotDeadline, authcode.Timeout)
	}
}

// The function runs to its end even when the client goes away, as a Lambda
// invocation does.
func TestInvokeOutlivesClient(t *testing.T) {
	t.Parallel()
	done := make(chan error, 1)
	gw := &Gateway{Function: func(ctx context.Context, _ events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
		time.Sleep(50 * time.Millisecond)
		done <- ctx.Err()
		return events.APIGatewayV2HTTPResponse{StatusCode: 200}, nil
	}}
	ctx, cancel := context.WithCancel(context.Background())
	req := httptest.NewRequest("GET", "/auth/code", nil).WithContext(ctx)
	cancel()
	gw.ServeHTTP(httptest.NewRecorder(), req)
	if err := <-done; err != nil {
		t.Errorf("the function's context ended with the client's: %v", err)
	}
}
