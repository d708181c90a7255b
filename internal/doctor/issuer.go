package doctor

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"slices"
	"strings"

	"github.com/sentiance-authcode/backend/internal/identity"
	"github.com/sentiance-authcode/backend/internal/outbound"
)

// gatewayAlgorithms are the RSA algorithms API Gateway's JWT authorizer
// verifies; it refuses every other kind of signature.
var gatewayAlgorithms = []string{"RS256", "RS384", "RS512"}

// checkIssuer reads the issuer's discovery document, as the gateway and the
// function do, and checks it names the configured issuer exactly.
func (d *doctor) checkIssuer(ctx context.Context) {
	iss := d.s.Issuer
	if u, err := url.Parse(iss); err != nil || u.Scheme != "https" || u.Host == "" {
		d.fail("issuer", "JwtIssuer %q is not an https URL: API Gateway reads keys over https only; use the tokens' iss exactly, e.g. https://cognito-idp.<region>.amazonaws.com/<userPoolId>", iss)
		return
	}
	discovery := strings.TrimRight(iss, "/") + "/.well-known/openid-configuration"
	body, err := d.get(ctx, discovery)
	if err != nil {
		d.fail("issuer", "discovery at %s: %v: %s", discovery, err, issuerHint(iss))
		return
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := json.Unmarshal(body, &doc); err != nil || doc.JWKSURI == "" {
		d.fail("issuer", "discovery at %s is not an OpenID configuration (no jwks_uri): %s", discovery, issuerHint(iss))
		return
	}
	d.jwksURL = doc.JWKSURI
	switch {
	case doc.Issuer == iss:
		d.ok("issuer", "discovery at %s names this issuer", discovery)
	case strings.TrimRight(doc.Issuer, "/") == strings.TrimRight(iss, "/"):
		d.fail("issuer", "discovery names issuer %q and JwtIssuer is %q: they differ by a trailing slash and API Gateway compares iss exactly: %s", doc.Issuer, iss, d.fix("JwtIssuer", doc.Issuer))
	default:
		d.fail("issuer", "discovery at %s names issuer %q, not JwtIssuer %q: %s", discovery, doc.Issuer, iss, d.fix("JwtIssuer", doc.Issuer))
	}
}

// checkJWKS loads the issuer's keys and checks the gateway can use them.
func (d *doctor) checkJWKS(ctx context.Context) {
	if d.jwksURL == "" {
		d.skip("jwks", "the discovery document could not be read")
		return
	}
	if err := httpsOnly(d.jwksURL); err != nil {
		d.fail("jwks", "jwks_uri %q %v: API Gateway fetches keys over https only", d.jwksURL, err)
		return
	}
	body, err := d.get(ctx, d.jwksURL)
	if err != nil {
		d.fail("jwks", "the JWKS at %s: %v: API Gateway cannot check any token and answers 401 to all; make it reachable over https from the internet", d.jwksURL, err)
		return
	}
	var set struct {
		Keys []struct {
			Kty string `json:"kty"`
			Kid string `json:"kid"`
			Alg string `json:"alg"`
			Use string `json:"use"`
		} `json:"keys"`
	}
	if err := json.Unmarshal(body, &set); err != nil {
		d.fail("jwks", "the JWKS at %s is not a JSON key set: check the issuer's jwks_uri", d.jwksURL)
		return
	}
	var rsa, other []string
	for _, k := range set.Keys {
		if k.Kty == "RSA" && k.Use != "enc" && (k.Alg == "" || slices.Contains(gatewayAlgorithms, k.Alg)) {
			rsa = append(rsa, k.Kid)
		} else {
			other = append(other, fmt.Sprintf("%s/%s", k.Kty, k.Alg))
		}
	}
	if len(rsa) == 0 {
		d.fail("jwks", "the JWKS at %s has no RSA signing key (it has %d: %s): API Gateway accepts RSA-signed tokens only; have the provider sign with RS256", d.jwksURL, len(set.Keys), strings.Join(other, ", "))
		return
	}
	d.jwks = body
	d.ok("jwks", "the JWKS at %s has %d RSA signing key(s) the gateway can use (kid %s)", d.jwksURL, len(rsa), strings.Join(rsa, ", "))
}

// errStatus is a document fetch answered with something other than 200.
var errStatus = errors.New("unexpected status")

// get fetches a discovery or JWKS document, capped at the gateway's size
// limit.
func (d *doctor) get(ctx context.Context, u string) ([]byte, error) {
	if err := httpsOnly(u); err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, u, nil)
	if err != nil {
		return nil, err
	}
	resp, err := d.o.HTTP.Do(req)
	if err != nil {
		return nil, fmt.Errorf("unreachable (%w)", err)
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%w: answered %d", errStatus, resp.StatusCode)
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, identity.MaxJWKSBytes+1))
	switch {
	case errors.Is(err, outbound.ErrBodyTooLarge) || len(body) > identity.MaxJWKSBytes:
		return nil, fmt.Errorf("larger than API Gateway's limit of %d bytes", identity.MaxJWKSBytes)
	case err != nil:
		return nil, fmt.Errorf("read: %w", err)
	}
	return body, nil
}

func httpsOnly(u string) error {
	if p, err := url.Parse(u); err != nil || p.Scheme != "https" || p.Host == "" {
		return errors.New("is not an https URL")
	}
	return nil
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
		return "check JwtIssuer: it must equal the tokens' iss, and <issuer>/.well-known/openid-configuration must answer (Auth0 issuers end in /)"
	}
	if poolRegion, _, found := strings.Cut(pool, "_"); found && poolRegion != region {
		return fmt.Sprintf("user pool %s is in %s but JwtIssuer names region %s: set JwtIssuer=https://cognito-idp.%s.amazonaws.com/%s", pool, poolRegion, region, poolRegion, pool)
	}
	return "check the user pool id and its region: JwtIssuer=https://cognito-idp.<pool's region>.amazonaws.com/<pool id> (the pool's region, which may differ from the stack's)"
}
