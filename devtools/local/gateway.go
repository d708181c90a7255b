package local

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/aws/aws-lambda-go/events"

	"github.com/sentiance-authcode/backend/internal/authcode"
)

// Limits of the emulated gateway.
const (
	// MaxBodyBytes is how much of a body is read (the gateway takes 10 MB, the
	// function 4 KiB); a larger one gets the gateway's own 413.
	MaxBodyBytes = 64 << 10
	// maxDiscard bounds what is read of a refused body, so the client reads
	// the 413 rather than a connection reset.
	maxDiscard = 256 << 20
	// MaxHeaderBytes bounds the request line plus headers, as API Gateway
	// does (10,240 bytes).
	MaxHeaderBytes = 10240
)

// Function is the Lambda handler the gateway invokes.
type Function func(context.Context, events.APIGatewayV2HTTPRequest) (events.APIGatewayV2HTTPResponse, error)

// Gateway plays API Gateway's HTTP API: routes, the JWT authorizer, the
// payload format 2.0 event and the response. It is safe for concurrent use.
type Gateway struct {
	// Authorizer guards every route (authcode.Routes); nil leaves them open
	// and events carry no claims.
	Authorizer *Authorizer
	Function   Function
	Logger     *slog.Logger
}

// Refusal is an answer the gateway gives itself, without invoking the
// function.
type Refusal struct {
	Response events.APIGatewayV2HTTPResponse
	Reason   string // for the log; never contains the token
}

// Event returns the event API Gateway would send for r, or the answer it
// would give itself (no route, too large, the authorizer's 401).
func (g *Gateway) Event(r *http.Request) (events.APIGatewayV2HTTPRequest, *Refusal) {
	now := time.Now()
	requestID := newRequestID()
	if n := headerBytes(r); n > MaxHeaderBytes {
		// The status of this refusal is not documented; 431 is HTTP's own.
		return events.APIGatewayV2HTTPRequest{}, refuse(http.StatusRequestHeaderFieldsTooLarge, requestID, "request line and headers over 10,240 bytes")
	}
	// Unmatched paths and methods alike: API Gateway has no 405.
	routeKey := r.Method + " " + r.URL.Path
	if want, ok := authcode.Routes[r.URL.Path]; !ok || want != r.Method {
		return events.APIGatewayV2HTTPRequest{}, refuse(http.StatusNotFound, requestID, "no route "+routeKey)
	}
	if r.ContentLength > MaxBodyBytes {
		// A client waiting for 100 Continue is never told to send.
		if r.Header.Get("Expect") == "" {
			_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxDiscard))
		}
		return events.APIGatewayV2HTTPRequest{}, refuse(http.StatusRequestEntityTooLarge, requestID, "body over the local limit")
	}
	body, err := io.ReadAll(io.LimitReader(r.Body, MaxBodyBytes+1))
	if err != nil {
		return events.APIGatewayV2HTTPRequest{}, refuse(http.StatusBadRequest, requestID, "reading the body: "+err.Error())
	}
	if len(body) > MaxBodyBytes {
		_, _ = io.Copy(io.Discard, io.LimitReader(r.Body, maxDiscard))
		return events.APIGatewayV2HTTPRequest{}, refuse(http.StatusRequestEntityTooLarge, requestID, "body over the local limit")
	}

	// What the function reads of an event, and what a log line may show;
	// query strings and cookies are not emulated (the function takes neither).
	ev := events.APIGatewayV2HTTPRequest{
		Version:  "2.0",
		RouteKey: routeKey,
		RawPath:  r.URL.EscapedPath(),
		Headers:  headers(r),
		RequestContext: events.APIGatewayV2HTTPRequestContext{
			RouteKey:  routeKey,
			Stage:     "$default",
			RequestID: requestID,
			Time:      now.UTC().Format("02/Jan/2006:15:04:05 -0700"),
			TimeEpoch: now.UnixMilli(),
			HTTP: events.APIGatewayV2HTTPRequestContextHTTPDescription{
				Method:    r.Method,
				Path:      r.URL.Path,
				Protocol:  r.Proto,
				SourceIP:  hostname(r.RemoteAddr),
				UserAgent: r.UserAgent(),
			},
		},
	}
	if len(body) > 0 {
		if isText(r.Header.Get("Content-Type")) {
			ev.Body = string(body)
		} else {
			ev.Body, ev.IsBase64Encoded = base64.StdEncoding.EncodeToString(body), true
		}
	}

	if g.Authorizer != nil {
		claims, err := g.Authorizer.Authorize(r.Context(), ev.Headers["authorization"])
		if err != nil {
			ref := refuse(http.StatusUnauthorized, requestID, "authorizer: "+err.Error())
			ref.Response.Headers["www-authenticate"] = g.Authorizer.wwwAuthenticate(err)
			return events.APIGatewayV2HTTPRequest{}, ref
		}
		if scheme, _, _ := strings.Cut(ev.Headers["authorization"], " "); !strings.EqualFold(scheme, "Bearer") {
			g.logger().WarnContext(r.Context(), "the Authorization header has no Bearer prefix: the gateway's authorizer accepts that, the function does not (it answers 401): send Authorization: Bearer <token>",
				"request_id", requestID)
		}
		// Scopes stay nil: no route asks for any (the gateway then sends null).
		ev.RequestContext.Authorizer = &events.APIGatewayV2HTTPRequestContextAuthorizerDescription{
			JWT: &events.APIGatewayV2HTTPRequestContextAuthorizerJWTDescription{Claims: claims},
		}
	}
	return ev, nil
}

// ServeHTTP answers one request as the deployed API would.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ev, refusal := g.Event(r)
	if refusal != nil {
		g.logger().InfoContext(r.Context(), "gateway refused",
			"request_id", refusal.Response.Headers["apigw-requestid"],
			"route", r.Method+" "+r.URL.Path,
			"status", refusal.Response.StatusCode,
			"reason", refusal.Reason)
		writeResponse(w, refusal.Response, refusal.Response.Headers["apigw-requestid"])
		return
	}
	writeResponse(w, g.invoke(r.Context(), ev), ev.RequestContext.RequestID)
}

// invoke runs the function as Lambda would: its deadline, not the client's,
// and a panic or error becomes the gateway's 500.
func (g *Gateway) invoke(ctx context.Context, ev events.APIGatewayV2HTTPRequest) (resp events.APIGatewayV2HTTPResponse) {
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), authcode.Timeout)
	defer cancel()
	id := ev.RequestContext.RequestID
	defer func() {
		if p := recover(); p != nil {
			g.logger().ErrorContext(ctx, "function panicked", "request_id", id, "panic", p)
			resp = refuse(http.StatusInternalServerError, id, "").Response
		}
	}()
	resp, err := g.Function(ctx, ev)
	if err != nil {
		g.logger().ErrorContext(ctx, "function failed", "request_id", id, "error", err.Error())
		return refuse(http.StatusInternalServerError, id, "").Response
	}
	return resp
}

func (g *Gateway) logger() *slog.Logger {
	if g.Logger == nil {
		return slog.New(slog.DiscardHandler)
	}
	return g.Logger
}

// writeResponse writes an answer as the gateway does: base64 decoded, and
// the apigw-requestid header added.
func writeResponse(w http.ResponseWriter, resp events.APIGatewayV2HTTPResponse, requestID string) {
	body := []byte(resp.Body)
	if resp.IsBase64Encoded {
		var err error
		if body, err = base64.StdEncoding.DecodeString(resp.Body); err != nil {
			resp = refuse(http.StatusInternalServerError, requestID, "").Response
			body = []byte(resp.Body)
		}
	}
	if resp.StatusCode < 100 || resp.StatusCode > 599 {
		resp = refuse(http.StatusInternalServerError, requestID, "").Response
		body = []byte(resp.Body)
	}
	h := w.Header()
	for k, v := range resp.Headers {
		h.Set(k, v)
	}
	if h.Get("Content-Type") == "" {
		h["Content-Type"] = nil // the gateway does not guess one
	}
	h.Set("Apigw-Requestid", requestID)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	w.WriteHeader(resp.StatusCode)
	_, _ = w.Write(body)
}

// refuse is the gateway's own answer: {"message": <status text>}.
func refuse(status int, requestID, reason string) *Refusal {
	body, _ := json.Marshal(map[string]string{"message": http.StatusText(status)})
	return &Refusal{
		Response: events.APIGatewayV2HTTPResponse{
			StatusCode: status,
			Headers:    map[string]string{"content-type": "application/json", "apigw-requestid": requestID},
			Body:       string(body),
		},
		Reason: reason,
	}
}

// headers are the request's headers as payload format 2.0 carries them:
// names lower-cased, repeated headers joined with commas.
func headers(r *http.Request) map[string]string {
	h := make(map[string]string, len(r.Header)+1)
	for name, values := range r.Header {
		h[strings.ToLower(name)] = strings.Join(values, ",")
	}
	h["host"] = r.Host
	return h
}

// isText reports whether the gateway passes a body as text, as measured on
// real HTTP APIs (ministack PR #766); anything else arrives base64-encoded.
func isText(contentType string) bool {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil {
		return false
	}
	switch mt {
	case "application/json", "application/xml", "application/javascript":
		return true
	}
	return strings.HasPrefix(mt, "text/")
}

// headerBytes is the size of the request line and headers as sent.
func headerBytes(r *http.Request) int {
	n := len(r.Method) + 1 + len(r.RequestURI) + 1 + len(r.Proto) + 2
	n += len("Host: ") + len(r.Host) + 2
	for name, values := range r.Header {
		for _, v := range values {
			n += len(name) + 2 + len(v) + 2
		}
	}
	return n + 2
}

// hostname strips the port from host:port (a bare host is returned as is).
func hostname(hostport string) string {
	if h, _, err := net.SplitHostPort(hostport); err == nil {
		return h
	}
	return hostport
}

// newRequestID returns an id shaped like API Gateway's (16 characters of
// base64, e.g. "Mc7UVioPPHcEKPA=").
func newRequestID() string {
	b := make([]byte, 11)
	_, _ = rand.Read(b)
	return base64.StdEncoding.EncodeToString(b)
}
