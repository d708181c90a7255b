package doctor

import (
	"context"
	"errors"
	"slices"
	"strings"
	"time"

	"log/slog"

	"github.com/MicahParks/jwkset"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sentiance-authcode/backend/internal/app"
	"github.com/sentiance-authcode/backend/internal/identity"
)

// checkToken judges a token as the gateway and then the function would, a
// line per rule; the token is never printed.
func (d *doctor) checkToken(ctx context.Context) {
	raw := tokenOf(d.o.Token)
	if raw == "" {
		d.skip("token", "no token was given: set AUTHCODE_TOKEN to a signed-in user's token")
		d.skip("function", "no token was given")
		return
	}
	if n := strings.Count(raw, ".") + 1; n != 3 {
		d.fail("token", "the token is not a JWT (it has %d part(s) separated by dots, a JWT has 3): API Gateway's JWT authorizer needs one; an opaque access token (Auth0 without an audience) cannot work, so request a JWT for your API", n)
		d.skip("function", "the token is not a JWT")
		return
	}
	if len(raw) > identity.MaxTokenBytes {
		d.fail("token", "the token is %d bytes long; the function refuses tokens over %d bytes: leave large claims out of it", len(raw), identity.MaxTokenBytes)
	}
	claims := jwt.MapClaims{}
	tok, _, err := jwt.NewParser().ParseUnverified(raw, claims)
	if err != nil {
		d.fail("token", "the token cannot be decoded (%v): copy the whole token", err)
		d.skip("function", "the token cannot be decoded")
		return
	}
	failures := len(d.report)
	if d.checkAlgorithm(tok.Method.Alg()) {
		d.checkSignature(ctx, raw, tok)
	} else {
		d.skip("token", "the gateway refuses the algorithm, so the signature was not checked")
	}
	d.checkIss(claims)
	d.checkAudience(claims)
	d.checkTimes(claims)
	d.checkExternalID(claims)
	switch {
	case slices.ContainsFunc(d.report[failures:], func(l Line) bool { return l.Status == Fail }):
		d.skip("function", "a token check above failed")
		return
	case d.gateway == nil:
		d.skip("function", "the issuer's keys could not be loaded (see above)")
		return
	}
	d.checkFunction(ctx, raw)
}

// tokenOf trims what a copy and paste often brings along.
func tokenOf(s string) string {
	s = strings.TrimSpace(s)
	if len(s) > 7 && strings.EqualFold(s[:7], "bearer ") {
		s = strings.TrimSpace(s[7:])
	}
	return s
}

// checkAlgorithm reports false when the gateway refuses alg.
func (d *doctor) checkAlgorithm(alg string) bool {
	fnAlgs := strings.Split(app.DefaultAlgorithms, ",")
	switch {
	case !slices.Contains(identity.GatewayAlgorithms, alg):
		d.fail("token", "the token is signed with %s; API Gateway's JWT authorizer accepts %s only: have the provider sign with RS256", alg, strings.Join(identity.GatewayAlgorithms, ", "))
		return false
	case d.s.VerifyInFunction && !slices.Contains(fnAlgs, alg):
		d.fail("token", "the token is signed with %s; the function (VerifyTokenInFunction=true) accepts %s: have the provider sign with RS256, or %s", alg, app.DefaultAlgorithms, d.fix("VerifyTokenInFunction", "false"))
	default:
		d.ok("token", "signed with %s, which the gateway and the function accept", alg)
	}
	return true
}

// checkSignature verifies the token as the gateway would; the claims it
// then checks each have a line of their own.
func (d *doctor) checkSignature(ctx context.Context, raw string, tok *jwt.Token) {
	if d.gateway == nil {
		d.skip("token", "the issuer's JWKS could not be loaded, so the signature cannot be checked")
		return
	}
	kid, _ := tok.Header["kid"].(string)
	if kid == "" {
		d.fail("token", "the token has no kid header: API Gateway needs one naming a key of the JWKS at %s", d.jwksURL)
		return
	}
	_, err := d.gateway.Verify(ctx, raw)
	switch {
	case errors.Is(err, jwkset.ErrKeyNotFound):
		d.fail("token", "the token's kid %q is not in the JWKS at %s: it comes from another issuer (or user pool) than JwtIssuer", kid, d.jwksURL)
	case errors.Is(err, jwt.ErrTokenSignatureInvalid):
		d.fail("token", "the token's signature does not verify with key %q of the JWKS at %s: it was not issued by this issuer", kid, d.jwksURL)
	default:
		d.ok("token", "the signature verifies with key %q of the issuer's JWKS", kid)
	}
}

func (d *doctor) checkIss(claims jwt.MapClaims) {
	iss, _ := claims["iss"].(string)
	want := d.s.Issuer
	tokRegion, _, tokCognito := cognitoIssuer(iss)
	wantRegion, _, wantCognito := cognitoIssuer(want)
	switch {
	case iss == want:
		d.ok("token", "iss is JwtIssuer")
	case iss == "":
		d.fail("token", "the token has no iss claim: API Gateway refuses it; use a token from your identity provider")
	case strings.TrimRight(iss, "/") == strings.TrimRight(want, "/"):
		d.fail("token", "the token's iss is %q; JwtIssuer is %q: they differ by a trailing slash and API Gateway compares iss exactly: %s", iss, want, d.fix("JwtIssuer", iss))
	case tokCognito && wantCognito && tokRegion != wantRegion:
		d.fail("token", "the token's iss is %q; JwtIssuer is %q: the user pool's region is %s, not %s: %s", iss, want, tokRegion, wantRegion, d.fix("JwtIssuer", iss))
	default:
		d.fail("token", "the token's iss is %q; the stack accepts %q: %s, or use a token from that issuer", iss, want, d.fix("JwtIssuer", iss))
	}
}

// checkAudience applies the function's audience rule (aud, or client_id
// when aud is absent, as the gateway does) and explains a mismatch.
func (d *doctor) checkAudience(claims jwt.MapClaims) {
	accepted := d.s.Audiences
	list := strings.Join(accepted, ",")
	tokenUse, _ := claims["token_use"].(string)
	clientID, _ := claims["client_id"].(string)
	_, hasAud := claims["aud"]
	err := identity.CheckAudience(claims, accepted)
	if err == nil {
		if hasAud {
			d.ok("token", "aud is among JwtAudience %q%s", list, kind(tokenUse))
		} else {
			d.ok("token", "client_id is among JwtAudience %q (no aud%s)", list, kind(tokenUse))
		}
		return
	}
	if !errors.Is(err, identity.ErrAudience) {
		d.fail("token", "the audience cannot be checked: %v", err)
		return
	}
	auds, audErr := claims.GetAudience()
	aud := strings.Join(auds, ",")
	switch {
	case hasAud && audErr != nil:
		d.fail("token", "the token's aud is neither a string nor a list of strings: API Gateway refuses it")
	case hasAud && tokenUse == "id":
		d.fail("token", "the token is a Cognito ID token: its aud %q is the app client it was issued to; the stack accepts %q (an app client id: ID tokens' aud, access tokens' client_id): sign in with app client %s, or %s", aud, list, list, d.fix("JwtAudience", aud))
	case hasAud && (slices.Contains(accepted, clientID) || slices.Contains(accepted, stringClaim(claims, "azp"))):
		d.fail("token", "the token's aud is %q, so API Gateway never reads its client id (only when aud is absent); the stack accepts %q: %s", aud, list, d.fix("JwtAudience", aud))
	case hasAud && looksLikeIDToken(claims):
		d.fail("token", "the token looks like an ID token (aud %q is the app's client id); the stack accepts %q, an API audience: send the access token requested for that audience, or %s to accept ID tokens", aud, list, d.fix("JwtAudience", aud))
	case hasAud:
		d.fail("token", "the token's aud is %q; the stack accepts %q: %s", aud, list, d.fix("JwtAudience", aud))
	case clientID != "" && tokenUse == "access":
		d.fail("token", "the token is a Cognito access token: it has client_id %q and no aud; the stack accepts %q: sign in with app client %s, or %s", clientID, list, list, d.fix("JwtAudience", clientID))
	case clientID != "":
		d.fail("token", "the token has no aud and its client_id is %q; the stack accepts %q: %s", clientID, list, d.fix("JwtAudience", clientID))
	default:
		d.fail("token", "the token has neither aud nor client_id, so API Gateway refuses it: request a token for your API (Auth0: pass audience=<API identifier>)")
	}
}

// kind names a Cognito token's type for the ok lines.
func kind(tokenUse string) string {
	switch tokenUse {
	case "access":
		return "; a Cognito access token"
	case "id":
		return "; a Cognito ID token"
	}
	return ""
}

func stringClaim(claims jwt.MapClaims, name string) string {
	s, _ := claims[name].(string)
	return s
}

// looksLikeIDToken: OpenID Connect ID tokens carry these; access tokens do not.
func looksLikeIDToken(claims jwt.MapClaims) bool {
	for _, c := range []string{"nonce", "at_hash", "email_verified", "firebase"} {
		if _, ok := claims[c]; ok {
			return true
		}
	}
	return false
}

// checkTimes applies the gateway's time rules: exp after now, nbf and iat
// before now. The function also requires exp.
func (d *doctor) checkTimes(claims jwt.MapClaims) {
	now := d.o.Now()
	exp, err := claims.GetExpirationTime()
	switch {
	case err != nil:
		d.fail("token", "the token's exp is not a number: it is refused")
		return
	case exp == nil:
		d.fail("token", "the token has no exp: the function refuses tokens without one; use the provider's ordinary user token")
		return
	case !now.Before(exp.Time):
		d.fail("token", "the token expired at %s (%s ago): get a fresh one (the app should refresh its token before calling; Cognito's last 1 hour by default)", exp.UTC().Format(time.RFC3339), now.Sub(exp.Time).Round(time.Second))
		return
	}
	for _, c := range []struct {
		name string
		get  func() (*jwt.NumericDate, error)
	}{{"nbf", claims.GetNotBefore}, {"iat", claims.GetIssuedAt}} {
		t, err := c.get()
		switch {
		case err != nil:
			d.fail("token", "the token's %s is not a number: it is refused", c.name)
			return
		case t != nil && t.After(now):
			d.fail("token", "the token's %s is %s, %s in the future: this machine's clock or the issuer's is wrong", c.name, t.UTC().Format(time.RFC3339), t.Sub(now).Round(time.Second))
			return
		}
	}
	d.ok("token", "valid until %s (%s from now)", exp.UTC().Format(time.RFC3339), exp.Sub(now).Round(time.Second))
}

// checkExternalID applies the function's rule for the external_id claim.
// The claim's value is never printed: it identifies a user.
func (d *doctor) checkExternalID(claims jwt.MapClaims) {
	claim := d.s.Claim
	v, present := claims[claim]
	id, err := identity.ExternalID(v)
	if err == nil {
		d.ok("token", "claim %q gives a usable external_id (%d bytes)", claim, len(id))
		return
	}
	tokenUse, _ := claims["token_use"].(string)
	_, subErr := identity.ExternalID(claims["sub"])
	switch {
	case !present && tokenUse == "access":
		d.fail("token", "the token has no %q claim, so the function answers 403 external_id_claim: Cognito access tokens carry no user attributes; send the ID token (its aud is the app client id), or %s", claim, d.fix("ExternalIdClaim", "sub"))
	case !present && subErr == nil:
		d.fail("token", "the token has no %q claim, so the function answers 403 external_id_claim: add the claim to the token, or %s", claim, d.fix("ExternalIdClaim", "sub"))
	case !present:
		d.fail("token", "the token has no %q claim, so the function answers 403 external_id_claim: add the claim to the token, or set ExternalIdClaim to a claim it has", claim)
	default:
		d.fail("token", "the token's %q claim cannot be an external_id (%v), so the function answers 403 external_id_claim: choose another ExternalIdClaim (sub is usually right)", claim, err)
	}
}

// checkFunction runs the function's own verifier, so the rules the doctor
// does not spell out (duplicate claims, crit, ...) apply too.
func (d *doctor) checkFunction(ctx context.Context, raw string) {
	if !d.s.VerifyInFunction {
		d.skip("function", "VerifyTokenInFunction=false: the function trusts the gateway's claims")
		return
	}
	v := identity.NewVerifier(identity.VerifierOptions{
		Issuer:     d.s.Issuer,
		Audiences:  d.s.Audiences,
		Algorithms: strings.Split(app.DefaultAlgorithms, ","),
		JWKSURL:    d.jwksURL,
		Client:     d.o.HTTP,
		Logger:     slog.New(slog.DiscardHandler),
		Now:        d.o.Now,
	})
	defer v.Close()
	if _, err := v.Verify(ctx, raw); err != nil {
		d.fail("function", "the function's verifier refuses the token (%v), so it answers 401 behind the gateway", err)
		return
	}
	d.ok("function", "the function's own verifier accepts the token")
}
