package doctor

import (
	"context"
	"encoding/json"
	"io"
	"mime"
	"net/http"
	"strings"

	"github.com/sentiance-authcode/backend/internal/authcode"
)

// maxAnswerBytes caps the answer read from the deployed API; its answers
// (a code or a problem document) are far smaller.
const maxAnswerBytes = 64 << 10

// checkCall makes one real request to the deployed API with the token and
// explains the answer. It never prints the code an answer carries.
func (d *doctor) checkCall(ctx context.Context) {
	if !d.o.Call {
		return
	}
	raw := tokenOf(d.o.Token)
	switch {
	case d.s.URL == "":
		d.skip("call", "there is no AuthCodeUrl to call: -call needs -stack")
		return
	case raw == "":
		d.skip("call", "no token was given")
		return
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, d.s.URL, nil)
	if err != nil {
		d.fail("call", "AuthCodeUrl %q is not a URL: %v", d.s.URL, err)
		return
	}
	req.Header.Set("Authorization", "Bearer "+raw)
	resp, err := d.o.HTTP.Do(req)
	if err != nil {
		d.fail("call", "POST %s failed: %v: check the URL and your network", d.s.URL, err)
		return
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(io.LimitReader(resp.Body, maxAnswerBytes))
	if resp.StatusCode == http.StatusOK {
		d.ok("call", "POST %s answered 200: a code was issued (not shown)", d.s.URL)
		return
	}
	// The function answers problem+json; the gateway's own answers (its
	// authorizer's 401, throttling, a crashed function) are not.
	var p authcode.Problem
	mt, _, _ := mime.ParseMediaType(resp.Header.Get("Content-Type"))
	if mt == "application/problem+json" && json.Unmarshal(body, &p) == nil && strings.HasPrefix(p.Type, authcode.ProblemTypePrefix) {
		reason := authcode.Reason(strings.TrimPrefix(p.Type, authcode.ProblemTypePrefix))
		d.fail("call", "POST answered %d %s (%q): %s", resp.StatusCode, reason, p.Detail, reason.Spec().Fix)
		return
	}
	from := "API Gateway"
	if h := resp.Header.Get("WWW-Authenticate"); h != "" {
		from += ", WWW-Authenticate: " + h
	}
	d.fail("call", "POST answered %d (%s): %s", resp.StatusCode, from, gatewayAdvice(resp.StatusCode))
}

// gatewayAdvice says what to do about an answer of the gateway's own,
// which has no problem type.
func gatewayAdvice(status int) string {
	switch status {
	case http.StatusUnauthorized, http.StatusForbidden:
		return "API Gateway's JWT authorizer refused the token: the token checks above say why"
	case http.StatusNotFound:
		return "no such route: call the stack's AuthCodeUrl output exactly"
	case http.StatusTooManyRequests:
		return "the API is throttled (ThrottlingRateLimit, ThrottlingBurstLimit): wait and try again"
	}
	return "the function failed or timed out: see its logs (FunctionLogGroup output)"
}
