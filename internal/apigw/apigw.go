// Package apigw adapts API Gateway HTTP API (payload format 2.0) events to
// the auth-code use case and its results back to responses: routing, body
// limits, problem+json errors and the security headers every answer carries.
package apigw

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

	"github.com/sentiance-authcode/backend/internal/authcode"
	"github.com/sentiance-authcode/backend/internal/metrics"
)

// MaxBodyBytes is the largest request body accepted.
const MaxBodyBytes = 4 << 10

// Routes are the routes the handler serves, method by path. The template and
// the OpenAPI document must match them (a test checks).
var Routes = map[string]string{
	"/auth-code": http.MethodPost,
	"/auth/code": http.MethodGet,
}

// Issuer is the use case.
type Issuer interface {
	Issue(ctx context.Context, req authcode.Request) (authcode.Result, error)
}

// Observer counts answers: the part of metrics.Observer the adapter calls.
type Observer interface {
	Answer(status int, reason string)
}

// Options configure a Handler; both are optional.
type Options struct {
	Logger  *slog.Logger
	Metrics Observer // default metrics.Nop
}

// Handler serves API Gateway events.
type Handler struct {
	issuer  Issuer
	log     *slog.Logger
	metrics Observer
}

// NewHandler returns a handler over issuer.
func NewHandler(issuer Issuer, o Options) *Handler {
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Metrics == nil {
		o.Metrics = metrics.Nop{}
	}
	return &Handler{issuer: issuer, log: o.Logger, metrics: o.Metrics}
}

// Handle answers one event. It always returns a response and a nil error: a
// Lambda error would reach the caller as a bare 500.
func (h *Handler) Handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error) {
	start := time.Now()
	requestID := ev.RequestContext.RequestID
	method, path := route(ev)
	resp, reason := h.handle(ctx, ev, method, path, requestID)
	level := slog.LevelInfo
	if resp.StatusCode >= 500 {
		level = slog.LevelError
	}
	h.metrics.Answer(resp.StatusCode, reason)
	// LogAttrs: typed attributes, no boxing into interfaces on every request.
	h.log.LogAttrs(ctx, level, "request",
		slog.String("request_id", requestID),
		slog.String("route", method+" "+path),
		slog.Int("status", resp.StatusCode),
		slog.String("outcome", reason),
		slog.Int64("duration_ms", time.Since(start).Milliseconds()),
	)
	return resp, nil
}

// handle answers the event and returns the outcome for the log and metrics:
// "issued", or the reason of the problem answer.
func (h *Handler) handle(ctx context.Context, ev events.APIGatewayV2HTTPRequest, method, path, requestID string) (events.APIGatewayV2HTTPResponse, string) {
	want, known := Routes[path]
	switch {
	case !known:
		return problem(&authcode.Error{Reason: authcode.NotFound}, requestID), string(authcode.NotFound)
	case method != want:
		resp := problem(&authcode.Error{Reason: authcode.MethodNotAllowed}, requestID)
		resp.Headers["Allow"] = want
		return resp, string(authcode.MethodNotAllowed)
	}

	// Only POST takes a body; GET /auth/code is called bare by the sample apps.
	var bodyID *string
	if method == http.MethodPost {
		var err error
		if bodyID, err = parseBody(ev); err != nil {
			e := authcode.AsError(err)
			return problem(e, requestID), string(e.Reason)
		}
	}

	res, err := h.issuer.Issue(ctx, authcode.Request{
		BearerToken:    bearer(header(ev.Headers, "authorization")),
		GatewayClaims:  gatewayClaims(ev),
		BodyExternalID: bodyID,
	})
	if err != nil {
		e := authcode.AsError(err)
		if e.Err != nil {
			h.log.DebugContext(ctx, "request failed", "request_id", requestID, "reason", e.Reason, "error", e.Err.Error())
		}
		return problem(e, requestID), string(e.Reason)
	}
	return success(res), "issued"
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
// external_id. Its errors are *authcode.Error.
func parseBody(ev events.APIGatewayV2HTTPRequest) (*string, error) {
	if ev.Body == "" {
		return nil, nil
	}
	// Refuse before decoding so an oversized body costs nothing.
	if len(ev.Body) > base64.StdEncoding.EncodedLen(MaxBodyBytes) {
		return nil, &authcode.Error{Reason: authcode.BodyTooLarge}
	}
	body := []byte(ev.Body)
	if ev.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(ev.Body); err != nil {
			return nil, &authcode.Error{Reason: authcode.BadRequest, Err: fmt.Errorf("body is not base64: %w", err)}
		}
	}
	if len(body) > MaxBodyBytes {
		return nil, &authcode.Error{Reason: authcode.BodyTooLarge}
	}
	if len(body) == 0 {
		return nil, nil
	}
	if mt, _, err := mime.ParseMediaType(header(ev.Headers, "content-type")); err != nil || mt != "application/json" {
		return nil, &authcode.Error{Reason: authcode.UnsupportedMediaType}
	}
	var fields map[string]json.RawMessage
	if err := json.Unmarshal(body, &fields); err != nil || fields == nil {
		return nil, &authcode.Error{Reason: authcode.BadRequest, Err: errors.New("body is not a JSON object")}
	}
	raw, ok := fields["external_id"]
	if !ok {
		return nil, nil
	}
	var id string
	if err := json.Unmarshal(raw, &id); err != nil || string(raw) == "null" {
		return nil, &authcode.Error{Reason: authcode.BadRequest, Err: errors.New("external_id is not a string")}
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

type successBody struct {
	AuthenticationCode string `json:"authentication_code"`
	AuthCode           string `json:"auth_code"`
	ExpiresAt          string `json:"expires_at,omitempty"`
	PlatformURL        string `json:"platform_url"`
	AppID              string `json:"app_id,omitempty"`
}

func success(r authcode.Result) events.APIGatewayV2HTTPResponse {
	body, _ := json.Marshal(successBody{
		AuthenticationCode: r.Code,
		AuthCode:           r.Code,
		ExpiresAt:          r.ExpiresAt,
		PlatformURL:        r.PlatformURL,
		AppID:              r.AppID,
	})
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

// ProblemTypePrefix starts every problem type; the reason follows it.
const ProblemTypePrefix = "urn:sentiance-auth-code:problem:"

// ProblemType is the type URI for a reason; README.md lists the reasons.
func ProblemType(r authcode.Reason) string { return ProblemTypePrefix + string(r) }

// problem renders e as problem+json, from its reason's one definition.
func problem(e *authcode.Error, requestID string) events.APIGatewayV2HTTPResponse {
	spec := e.Reason.Spec()
	body, _ := json.Marshal(Problem{
		Type:      ProblemType(e.Reason),
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
