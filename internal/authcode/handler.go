// Package authcode is the function's request path. Handle translates an API
// Gateway HTTP API event (payload format 2.0) into a Request, Issue obtains a
// Sentiance authentication code for the verified caller, and Handle turns
// the result back into a response: the code, or a problem document whose
// status, detail and Retry-After come from one table of reasons.
package authcode

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"mime"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"
)

// MaxBodyBytes is the largest request body accepted.
const MaxBodyBytes = 4 << 10

// Routes are the routes the function serves, method by path. The template
// and the OpenAPI document must match them (a test checks).
var Routes = map[string]string{
	"/auth-code": http.MethodPost,
	"/auth/code": http.MethodGet,
}

// ProblemTypePrefix starts every problem type; the reason follows it.
const ProblemTypePrefix = "urn:sentiance-auth-code:problem:"

// Handle answers one event. It always returns a response and a nil error: a
// Lambda error would reach the caller as a bare 500.
func (f *Function) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	start := time.Now()
	requestID := ev.RequestContext.RequestID
	method, path := route(ev)
	var resp events.APIGatewayV2HTTPResponse
	outcome := "issued"
	if res, err := f.serve(ctx, ev, method, path); err == nil {
		resp = success(res)
	} else {
		e := asError(err)
		if e.Err != nil {
			f.opts.Logger.DebugContext(ctx, "request failed", "request_id", requestID, "reason", e.Reason, "error", e.Err.Error())
		}
		resp, outcome = problem(e, requestID), string(e.Reason)
		if e.Reason == MethodNotAllowed {
			resp.Headers["Allow"] = Routes[path]
		}
	}
	level := slog.LevelInfo
	if resp.StatusCode >= 500 {
		level = slog.LevelError
	}
	f.opts.Metrics.Answer(resp.StatusCode, outcome)
	// LogAttrs: typed attributes, no boxing into interfaces on every request.
	f.opts.Logger.LogAttrs(ctx, level, "request",
		slog.String("request_id", requestID),
		slog.String("route", method+" "+path),
		slog.Int("status", resp.StatusCode),
		slog.String("outcome", outcome),
		slog.Int64("duration_ms", time.Since(start).Milliseconds()),
	)
	return resp, nil
}

// serve routes and reads the event, then issues a code.
func (f *Function) serve(ctx context.Context, ev events.APIGatewayV2HTTPRequest, method, path string) (Result, error) {
	want, known := Routes[path]
	switch {
	case !known:
		return Result{}, &Error{Reason: NotFound}
	case method != want:
		return Result{}, &Error{Reason: MethodNotAllowed}
	}
	// Only POST takes a body; GET /auth/code is called bare by the sample apps.
	var bodyID *string
	if method == http.MethodPost {
		var err error
		if bodyID, err = parseBody(ev); err != nil {
			return Result{}, err
		}
	}
	return f.Issue(ctx, Request{
		BearerToken:    bearer(header(ev.Headers, "authorization")),
		GatewayClaims:  gatewayClaims(ev),
		BodyExternalID: bodyID,
	})
}

// route returns the method and path of the request: from the route key when
// API Gateway matched one ("POST /auth-code"), else from the raw request.
func route(ev events.APIGatewayV2HTTPRequest) (string, string) {
	if m, p, ok := strings.Cut(ev.RouteKey, " "); ok && strings.HasPrefix(p, "/") {
		return m, p
	}
	return strings.ToUpper(ev.RequestContext.HTTP.Method), ev.RawPath
}

// parseBody checks size, media type and JSON shape, and returns the optional
// external_id. Its errors are *Error.
func parseBody(ev events.APIGatewayV2HTTPRequest) (*string, error) {
	if ev.Body == "" {
		return nil, nil
	}
	// Refuse before decoding so an oversized body costs nothing.
	if len(ev.Body) > base64.StdEncoding.EncodedLen(MaxBodyBytes) {
		return nil, &Error{Reason: BodyTooLarge}
	}
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return nil, &Error{Reason: BadRequest, Err: fmt.Errorf("body is not base64: %w", err)}
		}
	}
	if len(body) > MaxBodyBytes {
		return nil, &Error{Reason: BodyTooLarge}
	}
	if len(body) == 0 {
		return nil, nil
	}
	if mt, _, err := mime.ParseMediaType(header(ev.Headers, "content-type")); err != nil || mt != "application/json" {
		return nil, &Error{Reason: UnsupportedMediaType}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, &Error{Reason: BadRequest, Err: errors.New("body is not a JSON object")}
	}
	raw, ok := fields["external_id"]
	if !ok {
		return nil, nil
	}
	var id string
	if err := json.Unmarshal(raw, &id); err != nil || string(raw) == "null" {
		return nil, &Error{Reason: BadRequest, Err: errors.New("external_id is not a string")}
	}
	return &id, nil
}

// gatewayClaims returns the claims API Gateway's JWT authorizer verified, or
// nil when none came with the event.
func gatewayClaims(ev events.APIGatewayV2HTTPRequest) map[string]string {
	a := ev.RequestContext.Authorizer
	if a == nil || a.JWT == nil || len(a.JWT.Claims) == 0 {
		return nil
	}
	return a.JWT.Claims
}

// bearer extracts the token from an Authorization header value.
func bearer(v string) string {
	scheme, token, ok := strings.Cut(strings.TrimSpace(v), " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return ""
	}
	return strings.TrimSpace(token)
}

// header looks a header up whatever its case (HTTP API lower-cases names,
// but events built by hand may not).
func header(h map[string]string, name string) string {
	if v, ok := h[name]; ok {
		return v
	}
	for k, v := range h {
		if strings.EqualFold(k, name) {
			return v
		}
	}
	return ""
}

func baseHeaders(contentType string) map[string]string {
	return map[string]string{
		"Content-Type":           contentType,
		"Cache-Control":          "no-store",
		"X-Content-Type-Options": "nosniff",
	}
}

// SuccessBody is the 200 answer: the Result and, for apps built on
// Sentiance's sample backend, the code again as auth_code.
type SuccessBody struct {
	Result
	AuthCode string `json:"auth_code"`
}

func success(r Result) events.APIGatewayV2HTTPResponse {
	body, _ := json.Marshal(SuccessBody{Result: r, AuthCode: r.Code})
	return events.APIGatewayV2HTTPResponse{StatusCode: http.StatusOK, Headers: baseHeaders("application/json"), Body: string(body)}
}

// Problem is an RFC 9457 problem document.
type Problem struct {
	Type      string `json:"type"`
	Title     string `json:"title"`
	Status    int    `json:"status"`
	Detail    string `json:"detail"`
	RequestID string `json:"request_id"`
}

// problem renders e as problem+json, from its reason's one definition.
func problem(e *Error, requestID string) events.APIGatewayV2HTTPResponse {
	spec := e.Reason.Spec()
	body, _ := json.Marshal(Problem{
		Type:      ProblemTypePrefix + string(e.Reason),
		Title:     http.StatusText(spec.Status),
		Status:    spec.Status,
		Detail:    spec.Detail,
		RequestID: requestID,
	})
	headers := baseHeaders("application/problem+json")
	switch spec.Status {
	case http.StatusUnauthorized:
		headers["WWW-Authenticate"] = `Bearer error="invalid_token"`
	case http.StatusTooManyRequests, http.StatusServiceUnavailable:
		secs := int((e.Wait() + time.Second - 1) / time.Second)
		if secs < 1 {
			secs = 1
		}
		headers["Retry-After"] = strconv.Itoa(secs)
	}
	return events.APIGatewayV2HTTPResponse{StatusCode: spec.Status, Headers: headers, Body: string(body)}
}
