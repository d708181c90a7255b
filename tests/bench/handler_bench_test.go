package bench

import (
	"context"
	"testing"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sentiance-authcode/backend/internal/identity"
)

// Figure 2: the warm handler, Sentiance answered in-process.

// BenchmarkHandlerGateway is the whole handler on the gateway-claims path
// (VerifyTokenInFunction=false: the claims API Gateway verified are trusted).
func BenchmarkHandlerGateway(b *testing.B) { benchHandler(b, false) }

// BenchmarkHandlerInFunction is the whole handler with in-function RS256
// verification of the bearer token (the deployed default), gateway claims
// present as well.
func BenchmarkHandlerInFunction(b *testing.B) { benchHandler(b, true) }

// BenchmarkVerifyRS256Bare is the floor of the in-function path: jwt.Parse
// of the same token with the RSA public key, nothing else.
func BenchmarkVerifyRS256Bare(b *testing.B) {
	iss := newRSAIssuer(b)
	tok := iss.token(b)
	pub := &iss.key.PublicKey
	keyfunc := func(*jwt.Token) (any, error) { return pub, nil }
	b.ReportAllocs()
	for b.Loop() {
		if _, err := jwt.Parse(tok, keyfunc); err != nil {
			b.Fatal(err)
		}
	}
}

func benchHandler(b *testing.B, verify bool) {
	h, ev := warmHandler(b, newRSAIssuer(b), verify)
	ctx := context.Background()
	b.ReportAllocs()
	for b.Loop() {
		resp, _ := h.Handle(ctx, ev)
		if resp.StatusCode != 200 {
			b.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
		}
	}
}

// BenchmarkVerifierVerify is identity.Verifier.Verify alone on the same
// token (keys cached): the in-function path's verification, without the
// rest of the handler. It splits the in-function figure into its parts.
func BenchmarkVerifierVerify(b *testing.B) {
	iss := newRSAIssuer(b)
	v := identity.NewVerifier(identity.VerifierOptions{
		Issuer: inProcIssuer, Audiences: []string{audience}, Algorithms: []string{"RS256", "ES256"},
		JWKSURL: inProcIssuer + "/jwks.json", Client: iss.jwksClient(),
	})
	b.Cleanup(v.Close)
	tok := iss.token(b)
	ctx := context.Background()
	if _, err := v.Verify(ctx, tok); err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := v.Verify(ctx, tok); err != nil {
			b.Fatal(err)
		}
	}
}
