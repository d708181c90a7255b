package doctor

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/MicahParks/jwkset"

	"github.com/sentiance-authcode/backend/internal/identity"
)

// checkIssuer reads the issuer's discovery document, as the gateway and the
// function do, and checks it names the configured issuer exactly.
func (d *doctor) checkIssuer(ctx context.Context) {
	iss := d.s.Issuer
	if !isHTTPS(iss) {
		d.fail("issuer", "JwtIssuer %q is not an https URL: API Gateway reads keys over https only; use the tokens' iss exactly, e.g. https://cognito-idp.<region>.amazonaws.com/<userPoolId>", iss)
		return
	}
	doc, err := identity.Discover(ctx, d.o.HTTP, iss)
	if err != nil {
		d.fail("issuer", "discovery at %s: %v: %s", doc.URL, fetchError(err), issuerHint(iss))
		return
	}
	d.jwksURL = doc.JWKSURI
	switch {
	case doc.Issuer == iss:
		d.ok("issuer", "discovery at %s names this issuer", doc.URL)
	case strings.TrimRight(doc.Issuer, "/") == strings.TrimRight(iss, "/"):
		d.fail("issuer", "discovery names issuer %q and JwtIssuer is %q: they differ by a trailing slash and API Gateway compares iss exactly: %s", doc.Issuer, iss, d.fix("JwtIssuer", doc.Issuer))
	default:
		d.fail("issuer", "discovery at %s names issuer %q, not JwtIssuer %q: %s", doc.URL, doc.Issuer, iss, d.fix("JwtIssuer", doc.Issuer))
	}
}

// checkJWKS loads the issuer's keys as the gateway does (identity's
// verifier with the gateway's algorithms) and checks it can use them.
func (d *doctor) checkJWKS(ctx context.Context) {
	switch {
	case d.jwksURL == "":
		d.skip("jwks", "the discovery document could not be read")
		return
	case !isHTTPS(d.jwksURL):
		d.fail("jwks", "jwks_uri %q is not an https URL: API Gateway fetches keys over https only", d.jwksURL)
		return
	}
	gateway := identity.NewVerifier(identity.VerifierOptions{
		Issuer: d.s.Issuer, Audiences: d.s.Audiences, Algorithms: identity.GatewayAlgorithms, JWKSURL: d.jwksURL,
		Client: d.o.HTTP, Leeway: time.Nanosecond, Logger: slog.New(slog.DiscardHandler), Now: d.o.Now,
	})
	keys, err := gateway.Keys(ctx)
	if err != nil {
		gateway.Close()
		d.fail("jwks", "the JWKS at %s: %v: API Gateway cannot check any token and answers 401 to all; make it reachable over https from the internet", d.jwksURL, fetchError(err))
		return
	}
	var rsa, other []string
	for _, k := range keys {
		m := k.Marshal()
		if m.KTY == jwkset.KtyRSA && m.USE != jwkset.UseEnc && (m.ALG == "" || slices.Contains(identity.GatewayAlgorithms, m.ALG.String())) {
			rsa = append(rsa, m.KID)
		} else {
			other = append(other, fmt.Sprintf("%s/%s", m.KTY, m.ALG))
		}
	}
	if len(rsa) == 0 {
		gateway.Close()
		d.fail("jwks", "the JWKS at %s has no RSA signing key (it has %d: %s): API Gateway accepts RSA-signed tokens only; have the provider sign with RS256", d.jwksURL, len(keys), strings.Join(other, ", "))
		return
	}
	d.gateway = gateway
	d.ok("jwks", "the JWKS at %s has %d RSA signing key(s) the gateway can use (kid %s)", d.jwksURL, len(rsa), strings.Join(rsa, ", "))
}

// fetchError says why a document could not be had, in the gateway's terms
// where it has them.
func fetchError(err error) string {
	var urlErr *url.Error
	var tooLarge *http.MaxBytesError
	switch {
	case errors.As(err, &tooLarge):
		return fmt.Sprintf("larger than API Gateway's limit of %d bytes", identity.MaxJWKSBytes)
	case errors.As(err, &urlErr):
		return fmt.Sprintf("unreachable (%v)", urlErr.Err)
	}
	return err.Error()
}

func isHTTPS(u string) bool {
	p, err := url.Parse(u)
	return err == nil && p.Scheme == "https" && p.Host != ""
}

// cognitoIssuer splits a Cognito issuer into the region in its host and the
// user pool id in its path.
func cognitoIssuer(iss string) (region, pool string, ok bool) {
	u, err := url.Parse(iss)
	if err != nil {
		return "", "", false
	}
	region, found := strings.CutPrefix(u.Host, "cognito-idp.")
	if !found {
		return "", "", false
	}
	region, found = strings.CutSuffix(region, ".amazonaws.com")
	return region, strings.Trim(u.Path, "/"), found
}

// issuerHint says how to find the right issuer when discovery fails.
func issuerHint(iss string) string {
	region, pool, ok := cognitoIssuer(iss)
	if !ok {
		return "check JwtIssuer: it must equal the tokens' iss, and <issuer>" + identity.DiscoveryPath + " must answer (Auth0 issuers end in /)"
	}
	if poolRegion, _, found := strings.Cut(pool, "_"); found && poolRegion != region {
		return fmt.Sprintf("user pool %s is in %s but JwtIssuer names region %s: set JwtIssuer=https://cognito-idp.%s.amazonaws.com/%s", pool, poolRegion, region, poolRegion, pool)
	}
	return "check the user pool id and its region: JwtIssuer=https://cognito-idp.<pool's region>.amazonaws.com/<pool id> (the pool's region, which may differ from the stack's)"
}
