package authcode_test

import (
	"context"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"math/big"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/aws/aws-lambda-go/events"
	"github.com/golang-jwt/jwt/v5"

	"github.com/sentiance-authcode/backend/devtools/devidp"
	"github.com/sentiance-authcode/backend/devtools/devsecrets"
	"github.com/sentiance-authcode/backend/devtools/devsentiance"
	"github.com/sentiance-authcode/backend/internal/authcode"
)

// The attack table: hostile tokens, claims and requests against the whole
// function (real verifier, real secret cache over the fake Secrets Manager, real Sentiance
// client) with in-function verification on. Each case must get its
// documented answer with the fixed problem detail and the security headers,
// and Sentiance must never be asked for a code. SECURITY.md maps the threats
// to these cases.

// attack is one hostile request and the answer it must get.
type attack struct {
	name        string
	gatewayOnly bool // run against the stack without in-function verification
	event       func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest
	status      int
	reason      authcode.Reason
}

// attackEnv is what the cases build their requests from.
type attackEnv struct {
	s        *stack         // the stack under attack; s.issuer is our identity provider
	other    *devidp.Issuer // another identity provider: the attacker's, or another deployment's
	otherJWK map[string]any // other's RSA public key as a JWK, for the embedded-jwk attack
	attacker *httptest.Server
	hits     *atomic.Int32 // requests the attacker's server received
}

// startAttacker starts a server that counts every request it gets: the
// target of jku/x5u headers and of redirects, which must never be contacted.
func startAttacker(t testing.TB) (*httptest.Server, *atomic.Int32) {
	t.Helper()
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprint(w, `{"authentication_code":"`+strings.Repeat("ee", 64)+`"}`)
	}))
	t.Cleanup(srv.Close)
	return srv, &hits
}

// claims are valid claims for user from our issuer, changed by kv pairs (a
// nil value removes the claim).
func (e *attackEnv) claims(kv ...any) jwt.MapClaims {
	now := time.Now()
	c := jwt.MapClaims{"iss": e.s.issuer.URL, "sub": user, "aud": audience, "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
	for i := 0; i < len(kv); i += 2 {
		if kv[i+1] == nil {
			delete(c, kv[i].(string))
		} else {
			c[kv[i].(string)] = kv[i+1]
		}
	}
	return c
}

// rawClaims is the JSON text of valid claims without sub, followed by
// members (which start with a comma), for payloads no map can express.
func (e *attackEnv) rawClaims(members string) string {
	now := time.Now()
	return fmt.Sprintf(`{"iss":%q,"aud":%q,"iat":%d,"exp":%d%s}`, e.s.issuer.URL, audience, now.Unix(), now.Add(10*time.Minute).Unix(), members)
}

// rs256 signs claims with our issuer's current RSA key, kid rsa-1.
func (e *attackEnv) rs256(t testing.TB, c jwt.MapClaims, header map[string]any) string {
	return e.s.issuer.Sign(t, jwt.SigningMethodRS256, "rsa-1", c, header)
}

// signed signs a raw payload with our RSA key under a normal header.
func (e *attackEnv) signed(t testing.TB, payload string) string {
	return e.s.issuer.SignSegments(t, jwt.SigningMethodRS256, `{"alg":"RS256","typ":"JWT","kid":"rsa-1"}`, payload)
}

func seg(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func post(token string) events.APIGatewayV2HTTPRequest {
	return event("POST", "/auth-code", token, "")
}

func postBody(token, body string) events.APIGatewayV2HTTPRequest {
	return event("POST", "/auth-code", token, body)
}

// withToken builds a POST carrying the token fn makes.
func withToken(fn func(t testing.TB, e *attackEnv) string) func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest {
	return func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest { return post(fn(t, e)) }
}

// es256Mutated takes a genuine ES256 token for user and replaces its
// signature (r, s) with mutate's result, each written as 32 bytes (JWS's
// P1363 form). Unlike the Wycheproof vectors, these signatures are about
// this very token, so a verifier that skipped a range check on r or s would
// accept the ones that happen to work out; Go's crypto/ecdsa refuses them.
func es256Mutated(mutate func(r, s, n *big.Int) (*big.Int, *big.Int)) func(t testing.TB, e *attackEnv) string {
	return func(t testing.TB, e *attackEnv) string {
		tok := e.s.issuer.TokenES256(t, jwt.MapClaims{"sub": user, "aud": audience})
		i := strings.LastIndex(tok, ".")
		sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
		if err != nil || len(sig) != 64 {
			t.Fatalf("ES256 signature: %d bytes, %v", len(sig), err)
		}
		r, s := mutate(new(big.Int).SetBytes(sig[:32]), new(big.Int).SetBytes(sig[32:]), elliptic.P256().Params().N)
		out := make([]byte, 64)
		r.FillBytes(out[:32])
		s.FillBytes(out[32:])
		return tok[:i+1] + base64.RawURLEncoding.EncodeToString(out)
	}
}

// attacks is the table. Every token case answers 401 invalid_token (with
// WWW-Authenticate), every claim case 403 external_id_claim.
func attacks() []attack {
	invalid := func(name string, fn func(t testing.TB, e *attackEnv) string) attack {
		return attack{name: "token/" + name, event: withToken(fn), status: 401, reason: "invalid_token"}
	}
	claim := func(name string, fn func(t testing.TB, e *attackEnv) string) attack {
		return attack{name: "claim/" + name, event: withToken(fn), status: 403, reason: "external_id_claim"}
	}
	// unsigned is header.payload. with our valid claims and no signature.
	unsigned := func(header string) func(t testing.TB, e *attackEnv) string {
		return func(t testing.TB, e *attackEnv) string {
			p, _ := json.Marshal(e.claims())
			return seg(header) + "." + seg(string(p)) + "."
		}
	}
	// part returns one of the three segments of a genuine token.
	part := func(e *attackEnv, t testing.TB, i int) string {
		return strings.Split(e.rs256(t, e.claims(), nil), ".")[i]
	}
	zero := big.NewInt(0)

	return []attack{
		// alg none and its spellings; golang-jwt knows only "none", and the allow-list knows none of them.
		invalid("alg none", unsigned(`{"alg":"none","typ":"JWT"}`)),
		invalid("alg None", unsigned(`{"alg":"None","typ":"JWT"}`)),
		invalid("alg NONE", unsigned(`{"alg":"NONE","typ":"JWT"}`)),
		invalid("alg none with our kid", unsigned(`{"alg":"none","kid":"rsa-1"}`)),
		invalid("alg none with a signature", func(t testing.TB, e *attackEnv) string {
			return unsigned(`{"alg":"none"}`)(t, e) + seg("signature")
		}),
		invalid("alg empty", unsigned(`{"alg":"","kid":"rsa-1"}`)),
		invalid("alg missing", unsigned(`{"kid":"rsa-1"}`)),

		// Key confusion: HMAC keyed with our RSA public key (PEM), as a verifier that let alg choose the key type would check it.
		invalid("HS256 with the RSA public key as secret", func(t testing.TB, e *attackEnv) string {
			return e.s.issuer.Sign(t, jwt.SigningMethodHS256, "rsa-1", e.claims(), nil)
		}),
		invalid("HS256 with the RSA public key as secret, no kid", func(t testing.TB, e *attackEnv) string {
			return e.s.issuer.Sign(t, jwt.SigningMethodHS256, "", e.claims(), nil)
		}),
		invalid("HS512 with the RSA public key as secret", func(t testing.TB, e *attackEnv) string {
			return e.s.issuer.Sign(t, jwt.SigningMethodHS512, "rsa-1", e.claims(), nil)
		}),
		invalid("ES256 header on an RSA key", func(t testing.TB, e *attackEnv) string {
			return e.s.issuer.Sign(t, jwt.SigningMethodES256, "rsa-1", e.claims(), nil)
		}),
		invalid("RS384: our key, algorithm not allowed", func(t testing.TB, e *attackEnv) string {
			return e.s.issuer.Sign(t, jwt.SigningMethodRS384, "rsa-1", e.claims(), nil)
		}),
		invalid("PS256: our key, algorithm not allowed", func(t testing.TB, e *attackEnv) string {
			return e.s.issuer.Sign(t, jwt.SigningMethodPS256, "rsa-1", e.claims(), nil)
		}),

		// Keys that are not in our JWKS.
		invalid("valid signature from a key not in the JWKS, our kid", func(t testing.TB, e *attackEnv) string {
			return e.other.Sign(t, jwt.SigningMethodRS256, "rsa-1", e.claims(), nil)
		}),
		invalid("valid signature from a key not in the JWKS, no kid", func(t testing.TB, e *attackEnv) string {
			return e.other.Sign(t, jwt.SigningMethodRS256, "", e.claims(), nil)
		}),
		invalid("valid signature from a key not in the JWKS, EC", func(t testing.TB, e *attackEnv) string {
			return e.other.Sign(t, jwt.SigningMethodES256, "ec-1", e.claims(), nil)
		}),
		invalid("unknown kid", func(t testing.TB, e *attackEnv) string {
			return e.s.issuer.Sign(t, jwt.SigningMethodRS256, "rsa-404", e.claims(), nil)
		}),
		// These are signed with our real key: only the kid is hostile.
		invalid("kid path traversal", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims(), map[string]any{"kid": "../../../../../etc/passwd"})
		}),
		invalid("kid /dev/null", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims(), map[string]any{"kid": "/dev/null"})
		}),
		invalid("kid file URL", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims(), map[string]any{"kid": "file:///etc/passwd"})
		}),
		invalid("kid SQL", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims(), map[string]any{"kid": "rsa-1' OR '1'='1"})
		}),
		invalid("kid SQL comment", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims(), map[string]any{"kid": "rsa-1'; --"})
		}),
		invalid("kid with NUL", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims(), map[string]any{"kid": "rsa-1\x00"})
		}),
		invalid("kid a number", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims(), map[string]any{"kid": 1})
		}),
		invalid("kid an object", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims(), map[string]any{"kid": map[string]any{"$ne": ""}})
		}),
		// Key-locating headers pointing at the attacker: never fetched, never used.
		invalid("jku to the attacker's JWKS", func(t testing.TB, e *attackEnv) string {
			return e.other.Sign(t, jwt.SigningMethodRS256, "rsa-1", e.claims(), map[string]any{"jku": e.attacker.URL + "/jwks.json"})
		}),
		invalid("jku to the attacker's JWKS, no kid", func(t testing.TB, e *attackEnv) string {
			return e.other.Sign(t, jwt.SigningMethodRS256, "", e.claims(), map[string]any{"jku": e.attacker.URL + "/jwks.json"})
		}),
		invalid("x5u to the attacker's certificate", func(t testing.TB, e *attackEnv) string {
			return e.other.Sign(t, jwt.SigningMethodRS256, "rsa-1", e.claims(), map[string]any{"x5u": e.attacker.URL + "/cert.pem"})
		}),
		invalid("embedded jwk of the attacker's key", func(t testing.TB, e *attackEnv) string {
			return e.other.Sign(t, jwt.SigningMethodRS256, "", e.claims(), map[string]any{"jwk": e.otherJWK})
		}),
		invalid("embedded jwk of the attacker's key, our kid", func(t testing.TB, e *attackEnv) string {
			return e.other.Sign(t, jwt.SigningMethodRS256, "rsa-1", e.claims(), map[string]any{"jwk": e.otherJWK})
		}),

		// Time.
		invalid("expired", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("exp", time.Now().Add(-2*time.Minute).Unix(), "iat", time.Now().Add(-time.Hour).Unix()), nil)
		}),
		invalid("expired beyond the 60 s leeway", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("exp", time.Now().Add(-90*time.Second).Unix()), nil)
		}),
		invalid("nbf in the future beyond leeway", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("nbf", time.Now().Add(5*time.Minute).Unix()), nil)
		}),
		invalid("iat in the future", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("iat", time.Now().Add(5*time.Minute).Unix()), nil)
		}),
		invalid("exp missing", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("exp", nil), nil)
		}),
		invalid("exp a string", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("exp", "9999999999"), nil)
		}),
		invalid("EXP instead of exp", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("exp", nil, "EXP", time.Now().Add(time.Hour).Unix()), nil)
		}),

		// Issuer.
		invalid("another identity provider's own token", func(t testing.TB, e *attackEnv) string {
			// A token that is valid for another deployment configured with another issuer.
			return e.other.Token(t, jwt.MapClaims{"sub": user, "aud": audience})
		}),
		invalid("wrong issuer", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("iss", "https://evil.example"), nil)
		}),
		invalid("issuer prefix", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("iss", e.s.issuer.URL[:len(e.s.issuer.URL)-1]), nil)
		}),
		invalid("issuer suffix /", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("iss", e.s.issuer.URL+"/"), nil)
		}),
		invalid("issuer suffix path", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("iss", e.s.issuer.URL+"/evil"), nil)
		}),
		invalid("issuer in upper case", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("iss", strings.ToUpper(e.s.issuer.URL)), nil)
		}),
		invalid("issuer missing", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("iss", nil), nil)
		}),
		invalid("issuer an array", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("iss", []string{e.s.issuer.URL}), nil)
		}),

		// Audience.
		invalid("wrong audience", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("aud", "someone-else"), nil)
		}),
		invalid("audience array without ours", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("aud", []string{"a", "b"}), nil)
		}),
		invalid("audience empty", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("aud", ""), nil)
		}),
		invalid("audience empty array, client_id ours", func(t testing.TB, e *attackEnv) string {
			// aud is present, so it decides; client_id counts only when aud is absent.
			return e.rs256(t, e.claims("aud", []string{}, "client_id", audience), nil)
		}),
		invalid("audience a number", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("aud", 42), nil)
		}),
		invalid("audience missing, wrong client_id", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("aud", nil, "client_id", "someone-else"), nil)
		}),
		invalid("audience and client_id missing", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("aud", nil), nil)
		}),

		// crit: we implement no extension, so any critical one is refused.
		invalid("unknown crit header", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims(), map[string]any{"crit": []string{"urn:example:unknown"}, "urn:example:unknown": true})
		}),
		invalid("crit naming a registered claim", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims(), map[string]any{"crit": []string{"exp"}})
		}),
		invalid("crit empty", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims(), map[string]any{"crit": []string{}})
		}),

		// Size and structure.
		invalid("token over 8 KiB", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("pad", strings.Repeat("a", 8<<10)), nil)
		}),
		invalid("empty bearer", func(t testing.TB, e *attackEnv) string { return "" }),
		invalid("one segment", func(t testing.TB, e *attackEnv) string { return "not-a-jwt" }),
		invalid("two segments", func(t testing.TB, e *attackEnv) string { return part(e, t, 0) + "." + part(e, t, 1) }),
		invalid("three dots", func(t testing.TB, e *attackEnv) string { return "..." }),
		invalid("two dots", func(t testing.TB, e *attackEnv) string { return ".." }),
		invalid("four segments", func(t testing.TB, e *attackEnv) string { return e.rs256(t, e.claims(), nil) + ".x" }),
		invalid("empty header", func(t testing.TB, e *attackEnv) string {
			tok := e.rs256(t, e.claims(), nil)
			return tok[strings.Index(tok, "."):]
		}),
		invalid("empty payload", func(t testing.TB, e *attackEnv) string {
			p := strings.Split(e.rs256(t, e.claims(), nil), ".")
			return p[0] + ".." + p[2]
		}),
		invalid("empty signature", func(t testing.TB, e *attackEnv) string {
			tok := e.rs256(t, e.claims(), nil)
			return tok[:strings.LastIndex(tok, ".")+1]
		}),
		invalid("tampered payload", func(t testing.TB, e *attackEnv) string {
			p := strings.Split(e.rs256(t, e.claims(), nil), ".")
			forged, _ := json.Marshal(e.claims("sub", "victim"))
			return p[0] + "." + seg(string(forged)) + "." + p[2]
		}),
		invalid("bad base64 header", func(t testing.TB, e *attackEnv) string {
			return "%%%." + part(e, t, 1) + "." + part(e, t, 2)
		}),
		invalid("bad base64 payload", func(t testing.TB, e *attackEnv) string {
			p := strings.Split(e.rs256(t, e.claims(), nil), ".")
			return p[0] + ".!!!!." + p[2]
		}),
		invalid("bad base64 signature", func(t testing.TB, e *attackEnv) string {
			tok := e.rs256(t, e.claims(), nil)
			return tok[:strings.LastIndex(tok, ".")+1] + "***"
		}),
		invalid("padded base64", func(t testing.TB, e *attackEnv) string {
			p := strings.Split(e.rs256(t, e.claims(), nil), ".")
			h, _ := base64.RawURLEncoding.DecodeString(p[0])
			return base64.URLEncoding.EncodeToString(h) + "==." + p[1] + "." + p[2]
		}),
		invalid("standard base64 alphabet", func(t testing.TB, e *attackEnv) string {
			// Re-encode a payload holding '+' and '/' material with the wrong alphabet.
			payload := e.rawClaims(`,"sub":"user-42","x":"???>>>"`)
			tok := e.signed(t, payload)
			p := strings.Split(tok, ".")
			return p[0] + "." + base64.RawStdEncoding.EncodeToString([]byte(payload)) + "." + p[2]
		}),
		invalid("header bad JSON", func(t testing.TB, e *attackEnv) string {
			return e.s.issuer.SignSegments(t, jwt.SigningMethodRS256, `{"alg":"RS256","kid":"rsa-1"`, e.rawClaims(`,"sub":"user-42"`))
		}),
		invalid("header a JSON array", func(t testing.TB, e *attackEnv) string {
			return e.s.issuer.SignSegments(t, jwt.SigningMethodRS256, `["RS256"]`, e.rawClaims(`,"sub":"user-42"`))
		}),
		invalid("payload bad JSON", func(t testing.TB, e *attackEnv) string {
			return e.signed(t, strings.TrimSuffix(e.rawClaims(`,"sub":"user-42"`), "}"))
		}),
		invalid("payload a JSON array", func(t testing.TB, e *attackEnv) string {
			return e.signed(t, `[`+e.rawClaims(`,"sub":"user-42"`)+`]`)
		}),
		invalid("payload a JSON string", func(t testing.TB, e *attackEnv) string { return e.signed(t, `"user-42"`) }),
		invalid("payload null", func(t testing.TB, e *attackEnv) string { return e.signed(t, `null`) }),
		invalid("payload with trailing data", func(t testing.TB, e *attackEnv) string {
			// golang-jwt decodes the first JSON value and would ignore the rest.
			return e.signed(t, e.rawClaims(`,"sub":"user-42"`)+` {"sub":"victim"}`)
		}),

		// Duplicate members: decoders disagree on which one wins.
		invalid("duplicate sub", func(t testing.TB, e *attackEnv) string {
			return e.signed(t, e.rawClaims(`,"sub":"user-42","sub":"victim"`))
		}),
		invalid("duplicate sub, same value", func(t testing.TB, e *attackEnv) string {
			return e.signed(t, e.rawClaims(`,"sub":"user-42","sub":"user-42"`))
		}),
		invalid("sub and SUB", func(t testing.TB, e *attackEnv) string {
			// Go's encoding/json, decoding into a struct, matches names case-insensitively.
			return e.signed(t, e.rawClaims(`,"sub":"user-42","SUB":"victim"`))
		}),
		invalid("sub and Sub", func(t testing.TB, e *attackEnv) string {
			return e.signed(t, e.rawClaims(`,"Sub":"victim","sub":"user-42"`))
		}),
		invalid("sub and ſub (long s folds to s)", func(t testing.TB, e *attackEnv) string {
			return e.signed(t, e.rawClaims(`,"sub":"user-42","ſub":"victim"`))
		}),
		invalid("duplicate exp", func(t testing.TB, e *attackEnv) string {
			return e.signed(t, e.rawClaims(`,"sub":"user-42","exp":1`))
		}),
		invalid("duplicate nested member", func(t testing.TB, e *attackEnv) string {
			return e.signed(t, e.rawClaims(`,"sub":"user-42","ext":{"role":"user","role":"admin"}`))
		}),
		invalid("duplicate member in an array's object", func(t testing.TB, e *attackEnv) string {
			return e.signed(t, e.rawClaims(`,"sub":"user-42","ext":[{"role":"user","role":"admin"}]`))
		}),
		invalid("duplicate alg in the header", func(t testing.TB, e *attackEnv) string {
			// Last one wins in golang-jwt: without the check this genuine RS256 signature would pass.
			return e.s.issuer.SignSegments(t, jwt.SigningMethodRS256, `{"alg":"none","alg":"RS256","kid":"rsa-1"}`, e.rawClaims(`,"sub":"user-42"`))
		}),
		invalid("duplicate kid in the header", func(t testing.TB, e *attackEnv) string {
			return e.s.issuer.SignSegments(t, jwt.SigningMethodRS256, `{"alg":"RS256","kid":"other","kid":"rsa-1"}`, e.rawClaims(`,"sub":"user-42"`))
		}),

		// ECDSA: values a verifier without range checks would accept.
		invalid("ES256 r = s = 0", func(t testing.TB, e *attackEnv) string {
			tok := e.s.issuer.TokenES256(t, jwt.MapClaims{"sub": user, "aud": audience})
			return tok[:strings.LastIndex(tok, ".")+1] + base64.RawURLEncoding.EncodeToString(make([]byte, 64))
		}),
		invalid("ES256 r = 0", es256Mutated(func(r, s, n *big.Int) (*big.Int, *big.Int) { return zero, s })),
		invalid("ES256 s = 0", es256Mutated(func(r, s, n *big.Int) (*big.Int, *big.Int) { return r, zero })),
		invalid("ES256 r = n", es256Mutated(func(r, s, n *big.Int) (*big.Int, *big.Int) { return n, s })),
		invalid("ES256 s = n", es256Mutated(func(r, s, n *big.Int) (*big.Int, *big.Int) { return r, n })),
		invalid("ES256 r = n - r", es256Mutated(func(r, s, n *big.Int) (*big.Int, *big.Int) { return new(big.Int).Sub(n, r), s })),
		invalid("ES256 r = s = n - 1", es256Mutated(func(r, s, n *big.Int) (*big.Int, *big.Int) {
			m := new(big.Int).Sub(n, big.NewInt(1))
			return m, m
		})),
		invalid("ES256 signature in DER", func(t testing.TB, e *attackEnv) string {
			// ASN.1 DER is not the JWS form; the length alone refuses it.
			tok := e.s.issuer.TokenES256(t, jwt.MapClaims{"sub": user, "aud": audience})
			der := append([]byte{0x30, 0x44, 0x02, 0x20}, make([]byte, 32)...)
			der = append(der, 0x02, 0x20)
			der = append(der, make([]byte, 32)...)
			return tok[:strings.LastIndex(tok, ".")+1] + base64.RawURLEncoding.EncodeToString(der)
		}),

		// The external_id claim (sub here): the token is genuine, the claim unusable.
		claim("missing", func(t testing.TB, e *attackEnv) string { return e.rs256(t, e.claims("sub", nil), nil) }),
		claim("empty", func(t testing.TB, e *attackEnv) string { return e.rs256(t, e.claims("sub", ""), nil) }),
		claim("a number", func(t testing.TB, e *attackEnv) string { return e.rs256(t, e.claims("sub", 42), nil) }),
		claim("an array", func(t testing.TB, e *attackEnv) string { return e.rs256(t, e.claims("sub", []string{user}), nil) }),
		claim("an object", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("sub", map[string]any{"id": user}), nil)
		}),
		claim("null", func(t testing.TB, e *attackEnv) string { return e.signed(t, e.rawClaims(`,"sub":null`)) }),
		claim("true", func(t testing.TB, e *attackEnv) string { return e.rs256(t, e.claims("sub", true), nil) }),
		claim("257 bytes", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("sub", strings.Repeat("a", 257)), nil)
		}),
		claim("257 bytes of multi-byte characters", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("sub", strings.Repeat("é", 128)+"a"), nil)
		}),
		claim("newline", func(t testing.TB, e *attackEnv) string { return e.rs256(t, e.claims("sub", "user\n42"), nil) }),
		claim("NUL", func(t testing.TB, e *attackEnv) string { return e.rs256(t, e.claims("sub", "user-42\x00"), nil) }),
		claim("DEL", func(t testing.TB, e *attackEnv) string { return e.rs256(t, e.claims("sub", "user\x7f42"), nil) }),
		claim("C1 control", func(t testing.TB, e *attackEnv) string { return e.rs256(t, e.claims("sub", "user\u008542"), nil) }),
		claim("escape sequence", func(t testing.TB, e *attackEnv) string {
			return e.rs256(t, e.claims("sub", "user\x1b[31m42"), nil)
		}),
		// Go's JSON decoder turns invalid UTF-8 and unpaired surrogates into
		// U+FFFD, so "user\xff42" and "user\xfe42" would both reach Sentiance
		// as "user\uFFFD42": two users, one Sentiance user. Refused instead.
		claim("invalid UTF-8 byte", func(t testing.TB, e *attackEnv) string {
			return e.signed(t, e.rawClaims(",\"sub\":\"user\xff42\""))
		}),
		claim("truncated UTF-8 sequence", func(t testing.TB, e *attackEnv) string {
			return e.signed(t, e.rawClaims(",\"sub\":\"user\xe2\x82\""))
		}),
		claim("unpaired surrogate escape", func(t testing.TB, e *attackEnv) string {
			return e.signed(t, e.rawClaims(`,"sub":"user\ud80042"`))
		}),
		claim("SUB only", func(t testing.TB, e *attackEnv) string {
			// The claim is named exactly; a case variant is not it.
			return e.rs256(t, e.claims("sub", nil, "SUB", user), nil)
		}),

		// The request around the token.
		{name: "request/body external_id differs by case", event: func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest {
			return postBody(e.rs256(t, e.claims(), nil), `{"external_id":"USER-42"}`)
		}, status: 403, reason: "external_id_mismatch"},
		{name: "request/body external_id with a trailing space", event: func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest {
			return postBody(e.rs256(t, e.claims(), nil), `{"external_id":"user-42 "}`)
		}, status: 403, reason: "external_id_mismatch"},
		{name: "request/body external_id with a leading space", event: func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest {
			return postBody(e.rs256(t, e.claims(), nil), `{"external_id":" user-42"}`)
		}, status: 403, reason: "external_id_mismatch"},
		{name: "request/body external_id with a NUL", event: func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest {
			return postBody(e.rs256(t, e.claims(), nil), `{"external_id":"user-42\u0000"}`)
		}, status: 403, reason: "external_id_mismatch"},
		{name: "request/body external_id of another user", event: func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest {
			return postBody(e.rs256(t, e.claims(), nil), `{"external_id":"victim"}`)
		}, status: 403, reason: "external_id_mismatch"},
		{name: "request/body external_id with no token", event: func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest {
			return postBody("", `{"external_id":"user-42"}`)
		}, status: 401, reason: "invalid_token"},
		{name: "request/body external_id and gateway claims but no token", event: func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest {
			// With in-function verification on, the gateway's word alone is not enough.
			return withClaims(postBody("", `{"external_id":"user-42"}`), map[string]string{"sub": user})
		}, status: 401, reason: "invalid_token"},
		{name: "request/gateway says another user than the token", event: func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest {
			return withClaims(post(e.rs256(t, e.claims(), nil)), map[string]string{"sub": "victim"})
		}, status: 401, reason: "identity_conflict"},
		{name: "request/token says another user than the gateway", event: func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest {
			return withClaims(post(e.rs256(t, e.claims("sub", "victim"), nil)), map[string]string{"sub": user})
		}, status: 401, reason: "identity_conflict"},
		{name: "request/gateway claim differs by case", event: func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest {
			return withClaims(post(e.rs256(t, e.claims(), nil)), map[string]string{"sub": "USER-42"})
		}, status: 401, reason: "identity_conflict"},
		{name: "request/Basic credentials", event: func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest {
			ev := post("")
			ev.Headers["authorization"] = "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":password"))
			return ev
		}, status: 401, reason: "invalid_token"},
		{name: "request/token in the query string is not read", event: func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest {
			ev := post("")
			ev.RawQueryString = "access_token=" + e.rs256(t, e.claims(), nil)
			ev.QueryStringParameters = map[string]string{"access_token": e.rs256(t, e.claims(), nil)}
			return ev
		}, status: 401, reason: "invalid_token"},
		{name: "request/token in a cookie is not read", event: func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest {
			ev := post("")
			ev.Cookies = []string{"token=" + e.rs256(t, e.claims(), nil)}
			return ev
		}, status: 401, reason: "invalid_token"},
		{name: "request/two bearer tokens", event: func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest {
			ev := post("")
			ev.Headers["authorization"] = "Bearer " + e.rs256(t, e.claims("sub", "victim"), nil) + ", Bearer " + e.rs256(t, e.claims(), nil)
			return ev
		}, status: 401, reason: "invalid_token"},

		// Without in-function verification the gateway's claims are all there is.
		{name: "gateway-only/no claims, body external_id", gatewayOnly: true, event: func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest {
			return postBody(e.rs256(t, e.claims(), nil), `{"external_id":"user-42"}`)
		}, status: 401, reason: "no_identity"},
		{name: "gateway-only/authorizer without claims", gatewayOnly: true, event: func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest {
			return withClaims(post(e.rs256(t, e.claims(), nil)), map[string]string{})
		}, status: 401, reason: "no_identity"},
		{name: "gateway-only/body differs from the gateway claim", gatewayOnly: true, event: func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest {
			return withClaims(postBody("", `{"external_id":"victim"}`), map[string]string{"sub": user})
		}, status: 403, reason: "external_id_mismatch"},
		{name: "gateway-only/gateway claim with a control character", gatewayOnly: true, event: func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest {
			return withClaims(post(""), map[string]string{"sub": "user\r\n42"})
		}, status: 403, reason: "external_id_claim"},
		{name: "gateway-only/gateway claim with U+FFFD", gatewayOnly: true, event: func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest {
			// What the Lambda runtime's JSON decoding leaves of an invalid UTF-8 claim.
			return withClaims(post(""), map[string]string{"sub": "user\uFFFD42"})
		}, status: 403, reason: "external_id_claim"},
	}
}

// attackRun holds the stacks the table runs against, built once: the cases
// only read, so they can share them (Sentiance's record is reset per case).
type attackRun struct {
	verifying, gatewayOnly *stack
	other                  *devidp.Issuer
	otherJWK               map[string]any
	attacker               *httptest.Server
	hits                   *atomic.Int32
}

func newAttackRun(t *testing.T) *attackRun {
	t.Helper()
	sm := devsecrets.New()
	sm.Put("user-link", `{"user_link_api_key":"`+apiKey+`"}`)
	r := &attackRun{
		verifying:   newStack(t, sm, stackOptions{verify: true}),
		gatewayOnly: newStack(t, sm, stackOptions{}),
		other:       devidp.Start(t, false),
	}
	r.attacker, r.hits = startAttacker(t)
	resp, err := http.Get(r.other.JWKSURL)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var set struct{ Keys []map[string]any }
	if err := json.NewDecoder(resp.Body).Decode(&set); err != nil || len(set.Keys) == 0 {
		t.Fatalf("other issuer's JWKS: %v", err)
	}
	r.otherJWK = set.Keys[0]
	return r
}

// do runs one case: it builds the request, resets the record and the logs,
// and returns the answer.
func (r *attackRun) do(t *testing.T, a attack) (events.APIGatewayV2HTTPResponse, *stack, events.APIGatewayV2HTTPRequest) {
	t.Helper()
	s := r.verifying
	if a.gatewayOnly {
		s = r.gatewayOnly
	}
	e := &attackEnv{s: s, other: r.other, otherJWK: r.otherJWK, attacker: r.attacker, hits: r.hits}
	ev := a.event(t, e)
	s.sentiance.Reset()
	s.logs.Reset()
	resp, err := s.handler.Handle(context.Background(), ev)
	if err != nil {
		t.Fatalf("Handle returned an error: %v", err)
	}
	return resp, s, ev
}

func TestAttacks(t *testing.T) {
	r := newAttackRun(t)
	otherFetches := r.other.JWKSFetches()
	for _, a := range attacks() {
		t.Run(a.name, func(t *testing.T) {
			resp, s, _ := r.do(t, a)
			if resp.StatusCode != a.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, a.status, resp.Body)
			}
			checkResponse(t, resp, a.reason, s)
			if a.status == 401 && resp.Headers["WWW-Authenticate"] != `Bearer error="invalid_token"` {
				t.Errorf("WWW-Authenticate = %q", resp.Headers["WWW-Authenticate"])
			}
			if calls := s.sentiance.Calls(); len(calls) != 0 {
				t.Errorf("Sentiance was called %d time(s), for %q", len(calls), calls[0].ExternalID)
			}
		})
	}
	if n := r.hits.Load(); n != 0 {
		t.Errorf("the attacker's server (jku, x5u) was contacted %d time(s)", n)
	}
	if n := r.other.JWKSFetches() - otherFetches; n != 0 {
		t.Errorf("the other identity provider's JWKS was fetched %d time(s)", n)
	}
	// The shared stack still serves the caller it should: the refusals left no state behind.
	t.Run("control: genuine token still works", func(t *testing.T) {
		resp, s, _ := r.do(t, attack{event: withToken(func(t testing.TB, e *attackEnv) string { return e.rs256(t, e.claims(), nil) })})
		if resp.StatusCode != 200 {
			t.Fatalf("status = %d; body %s", resp.StatusCode, resp.Body)
		}
		checkResponse(t, resp, "", s)
	})
}

// TestWycheproofTokens puts each invalid Wycheproof ECDSA P-256 signature in
// a token whose kid names that vector's public key, served in our JWKS.
//
// What it proves, honestly: the signing input of our token is not the
// vector's message, so a correct verifier refuses every one of these for
// that reason alone. The cases where this matters are the message-independent
// forgeries (r = 0 and/or s = 0, r or s = n, and the like, e.g. tcId 11): a
// verifier lacking range checks would accept those for any message,
// including ours, and this test would catch it. That the vectors are handled
// correctly for their own messages is proven by
// identity.TestWycheproofES256, which runs them through the same library
// call the verifier makes.
func TestWycheproofTokens(t *testing.T) {
	sm := devsecrets.New()
	sm.Put("user-link", apiKey)
	s := newStack(t, sm, stackOptions{verify: true})
	vectors := wycheproofECDSAP256(t)
	added := map[string]bool{}
	for _, v := range vectors {
		if kid := v.JWK["kid"].(string); !added[kid] {
			s.issuer.AddJWK(v.JWK)
			added[kid] = true
		}
	}
	// Control: the stack with every Wycheproof key in its JWKS still loads it and verifies.
	if resp, _ := s.handler.Handle(context.Background(), post(s.issuer.TokenES256(t, jwt.MapClaims{"sub": user, "aud": audience}))); resp.StatusCode != 200 {
		t.Fatalf("control: status %d, body %s", resp.StatusCode, resp.Body)
	}
	payload, _ := json.Marshal(jwt.MapClaims{"iss": s.issuer.URL, "sub": user, "aud": audience, "iat": time.Now().Unix(), "exp": time.Now().Add(10 * time.Minute).Unix()})
	n := 0
	for _, v := range vectors {
		if v.Valid {
			continue
		}
		n++
		header, _ := json.Marshal(map[string]any{"alg": "ES256", "typ": "JWT", "kid": v.JWK["kid"]})
		tok := seg(string(header)) + "." + seg(string(payload)) + "." + base64.RawURLEncoding.EncodeToString(v.Sig)
		s.sentiance.Reset()
		resp, _ := s.handler.Handle(context.Background(), post(tok))
		if resp.StatusCode != 401 || len(s.sentiance.Calls()) != 0 {
			t.Errorf("tcId %d (%s, %d-byte signature): status %d, Sentiance calls %d; want 401 and none",
				v.TcID, v.Comment, len(v.Sig), resp.StatusCode, len(s.sentiance.Calls()))
		}
	}
	if n < 80 {
		t.Fatalf("only %d invalid vectors ran", n)
	}
}

// TestOutboundSafety: what a hostile or broken upstream can make the
// function do. It never follows a redirect (so the key and the request never
// go to a host we did not choose), never reads more than the caps, never
// hands the app a code that does not look like one, and answers 502/503 with
// the fixed problem details, never a crash.
func TestOutboundSafety(t *testing.T) {
	sm := devsecrets.New()
	sm.Put("user-link", apiKey)
	attacker, hits := startAttacker(t)
	good := func(s *stack) events.APIGatewayV2HTTPRequest {
		return post(s.issuer.Token(t, jwt.MapClaims{"sub": user, "aud": audience}))
	}
	hostile := "<script>alert(1)</script>" + strings.Repeat("a", 40)
	tests := []struct {
		name   string
		steps  []devsentiance.Step
		jwks   func(w http.ResponseWriter, r *http.Request, jwks []byte)
		status int
		reason authcode.Reason
		calls  int    // Sentiance calls expected
		absent string // must not appear in the answer
	}{
		{name: "Sentiance redirects to another host", steps: []devsentiance.Step{{Status: http.StatusFound, Header: http.Header{"Location": {attacker.URL + "/users/auth-code"}}}},
			status: 502, reason: "sentiance_error", calls: 1},
		{name: "Sentiance redirects with 307 (method and body kept)", steps: []devsentiance.Step{{Status: http.StatusTemporaryRedirect, Header: http.Header{"Location": {attacker.URL + "/users/auth-code"}}}},
			status: 502, reason: "sentiance_error", calls: 1},
		{name: "Sentiance redirects to plain http", steps: []devsentiance.Step{{Status: http.StatusMovedPermanently, Header: http.Header{"Location": {"http://api.sentiance.example/users/auth-code"}}}},
			status: 502, reason: "sentiance_error", calls: 1},
		{name: "Sentiance 200 with markup for a code", steps: []devsentiance.Step{{Status: 200, Body: `{"authentication_code":"` + strings.ReplaceAll(hostile, `"`, `\"`) + `"}`}},
			status: 502, reason: "sentiance_error", calls: 1, absent: "<script>"},
		{name: "Sentiance 200 with a short code", steps: []devsentiance.Step{{Status: 200, Body: `{"authentication_code":"abc123"}`}},
			status: 502, reason: "sentiance_error", calls: 1, absent: "abc123"},
		{name: "Sentiance 200 with a 513-character code", steps: []devsentiance.Step{{Status: 200, Body: `{"authentication_code":"` + strings.Repeat("a", 513) + `"}`}},
			status: 502, reason: "sentiance_error", calls: 1, absent: strings.Repeat("a", 513)},
		{name: "Sentiance 200 with a code as a number", steps: []devsentiance.Step{{Status: 200, Body: `{"authentication_code":1234567890123456789012345678901234567890}`}},
			status: 502, reason: "sentiance_error", calls: 1, absent: "1234567890"},
		{name: "Sentiance 200 over the 64 KiB cap", steps: []devsentiance.Step{{Status: 200, Body: `{"authentication_code":"` + strings.Repeat("ab", 64) + `","pad":"` + strings.Repeat("x", 64<<10) + `"}`}},
			status: 502, reason: "sentiance_error", calls: 1, absent: strings.Repeat("ab", 64)},
		{name: "JWKS over 150,000 bytes", jwks: func(w http.ResponseWriter, r *http.Request, jwks []byte) {
			w.Header().Set("Content-Type", "application/json")
			w.Write(append(jwks[:len(jwks)-1], []byte(`,"pad":"`+strings.Repeat("x", 150_000)+`"}`)...))
		}, status: 503, reason: "jwks_unavailable"},
		{name: "JWKS redirect", jwks: func(w http.ResponseWriter, r *http.Request, _ []byte) {
			http.Redirect(w, r, attacker.URL+"/jwks.json", http.StatusFound)
		}, status: 503, reason: "jwks_unavailable"},
		{name: "JWKS not JSON", jwks: func(w http.ResponseWriter, r *http.Request, _ []byte) {
			w.Header().Set("Content-Type", "text/html")
			fmt.Fprint(w, "<html>JWKS-CANARY</html>")
		}, status: 503, reason: "jwks_unavailable", absent: "JWKS-CANARY"},
		{name: "JWKS with no keys", jwks: func(w http.ResponseWriter, r *http.Request, _ []byte) {
			w.Header().Set("Content-Type", "application/json")
			fmt.Fprint(w, `{"keys":[]}`)
		}, status: 503, reason: "jwks_unavailable"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s := newStack(t, sm, stackOptions{verify: true})
			ev := good(s)
			s.issuer.OverrideJWKS(tt.jwks)
			s.sentiance.Script(tt.steps...)
			before := hits.Load()
			resp, err := s.handler.Handle(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != tt.status {
				t.Fatalf("status = %d, want %d; body %s", resp.StatusCode, tt.status, resp.Body)
			}
			checkResponse(t, resp, tt.reason, s)
			if n := len(s.sentiance.Calls()); n != tt.calls {
				t.Errorf("Sentiance calls = %d, want %d", n, tt.calls)
			}
			if n := hits.Load() - before; n != 0 {
				t.Errorf("the redirect target was contacted %d time(s)", n)
			}
			if tt.absent != "" && strings.Contains(resp.Body, tt.absent) {
				t.Errorf("the upstream's content reached the client: %s", resp.Body)
			}
		})
	}
}

// TestNoLeaks runs every attack, the success paths and the upstream
// failures, captures every log line (at Debug, the most talkative level)
// and every answer (body and headers), and searches them all for the API
// key, every token sent, and every code Sentiance issued. A code may appear
// only in the 200 body that carries it; the upstream bodies (Sentiance's
// error text, a JWKS page) must not reach the client at all.
func TestNoLeaks(t *testing.T) {
	r := newAttackRun(t)
	const (
		sentianceCanary = "SENTIANCE-BODY-CANARY"
		jwksCanary      = "JWKS-BODY-CANARY"
	)
	type output struct {
		name, kind, text string
		carries          string // the code a 200 body carries
	}
	var (
		outputs []output
		tokens  []string
		codes   []string
	)
	record := func(name string, s *stack, ev events.APIGatewayV2HTTPRequest, resp events.APIGatewayV2HTTPResponse) {
		for _, v := range []string{ev.Headers["authorization"], ev.RawQueryString, strings.Join(ev.Cookies, ";")} {
			for _, f := range strings.FieldsFunc(v, func(r rune) bool { return r == ' ' || r == ',' || r == '=' || r == ';' }) {
				if len(f) >= 20 && f != "access_token" {
					tokens = append(tokens, f)
					if i := strings.LastIndex(f, "."); i >= 0 && len(f)-i > 20 {
						tokens = append(tokens, f[i+1:]) // the signature alone
					}
				}
			}
		}
		issued := s.sentiance.Codes()
		codes = append(codes, issued...)
		var hdrs []string
		for k, v := range resp.Headers {
			hdrs = append(hdrs, k+": "+v)
		}
		var carries string
		if resp.StatusCode == 200 && len(issued) > 0 {
			carries = issued[len(issued)-1]
		}
		outputs = append(outputs,
			output{name: name, kind: "logs", text: s.logs.String()},
			output{name: name, kind: "answer", text: strings.Join(hdrs, "\n") + "\n\n" + resp.Body, carries: carries})
	}

	for _, a := range attacks() {
		t.Run(a.name, func(t *testing.T) {
			resp, s, ev := r.do(t, a)
			record(a.name, s, ev, resp)
		})
	}

	good := func(t testing.TB, e *attackEnv) string { return e.rs256(t, e.claims(), nil) }
	upstream := []struct {
		name   string
		event  func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest
		steps  []devsentiance.Step
		status int
	}{
		{name: "success/POST", event: withToken(good), status: 200},
		{name: "success/GET", event: func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest {
			return event("GET", "/auth/code", good(t, e), "")
		}, status: 200},
		{name: "success/ES256 with matching body and gateway claims", event: func(t testing.TB, e *attackEnv) events.APIGatewayV2HTTPRequest {
			return withClaims(postBody(e.s.issuer.TokenES256(t, jwt.MapClaims{"sub": user, "aud": audience}), `{"external_id":"user-42"}`), map[string]string{"sub": user})
		}, status: 200},
		{name: "upstream/Sentiance 400 with a body", event: withToken(good), status: 502,
			steps: []devsentiance.Step{{Status: 400, Body: `{"message":"` + sentianceCanary + ` for user-42, key ` + apiKey + `","errorCode":"validation_error"}`}}},
		{name: "upstream/Sentiance 401 echoing the Authorization header", event: withToken(good), status: 502,
			// One call: the refreshed secret holds the same key, so there is no retry.
			steps: []devsentiance.Step{{Status: 401, Body: `{"message":"` + sentianceCanary + ` bad key Bearer ` + apiKey + `"}`}}},
		{name: "upstream/Sentiance 500 three times", event: withToken(good), status: 502,
			steps: []devsentiance.Step{{Status: 500, Body: sentianceCanary}, {Status: 500, Body: sentianceCanary}, {Status: 500, Body: sentianceCanary}}},
		{name: "upstream/Sentiance 429", event: withToken(good), status: 429,
			steps: []devsentiance.Step{{Status: 429, Body: sentianceCanary, Header: http.Header{"Retry-After": {"3"}}}}},
		{name: "upstream/Sentiance 200 with a hostile code", event: withToken(good), status: 502,
			steps: []devsentiance.Step{{Status: 200, Body: `{"authentication_code":"` + sentianceCanary + strings.Repeat("0", 40) + `"}`}}},
		{name: "upstream/Sentiance redirect", event: withToken(good), status: 502,
			steps: []devsentiance.Step{{Status: 302, Body: sentianceCanary, Header: http.Header{"Location": {r.attacker.URL + "/" + sentianceCanary}}}}},
		{name: "upstream/Sentiance connection reset", event: withToken(good), status: 200,
			steps: []devsentiance.Step{{Reset: true}}},
	}
	for _, u := range upstream {
		t.Run(u.name, func(t *testing.T) {
			r.verifying.sentiance.Script(u.steps...)
			resp, s, ev := r.do(t, attack{event: u.event})
			if resp.StatusCode != u.status {
				t.Errorf("status = %d, want %d; body %s", resp.StatusCode, u.status, resp.Body)
			}
			record(u.name, s, ev, resp)
		})
	}

	// Failures that need a stack of their own: a cold verifier, another secret.
	sm := devsecrets.New()
	sm.Put("user-link", apiKey)
	own := []struct {
		name   string
		opts   stackOptions
		before func(s *stack)
		status int
	}{
		{name: "upstream/JWKS 500 with a body", opts: stackOptions{verify: true}, status: 503, before: func(s *stack) {
			s.issuer.OverrideJWKS(func(w http.ResponseWriter, r *http.Request, _ []byte) {
				http.Error(w, jwksCanary, http.StatusInternalServerError)
			})
		}},
		{name: "upstream/JWKS garbage", opts: stackOptions{verify: true}, status: 503, before: func(s *stack) {
			s.issuer.OverrideJWKS(func(w http.ResponseWriter, r *http.Request, _ []byte) {
				w.Header().Set("Content-Type", "application/json")
				fmt.Fprint(w, `{"keys":"`+jwksCanary+`"}`)
			})
		}},
		{name: "upstream/identity provider down", opts: stackOptions{verify: true}, status: 503, before: func(s *stack) { s.issuer.SetDown(true) }},
		{name: "upstream/secret missing (AWS SDK error)", opts: stackOptions{verify: true, secretID: "no-such-secret-" + sentianceCanary}, status: 503},
		{name: "upstream/Secrets Manager down", opts: stackOptions{verify: true}, status: 503, before: func(s *stack) { sm.SetDown(true) }},
	}
	for _, o := range own {
		t.Run(o.name, func(t *testing.T) {
			s := newStack(t, sm, o.opts)
			ev := post(s.issuer.Token(t, jwt.MapClaims{"sub": user, "aud": audience}))
			if o.before != nil {
				o.before(s)
			}
			resp, err := s.handler.Handle(context.Background(), ev)
			if err != nil {
				t.Fatal(err)
			}
			if resp.StatusCode != o.status {
				t.Errorf("status = %d, want %d; body %s", resp.StatusCode, o.status, resp.Body)
			}
			record(o.name, s, ev, resp)
		})
	}

	if len(codes) < 4 || len(tokens) < len(attacks()) {
		t.Fatalf("recorded %d codes and %d tokens: the run did not exercise the success path and the attacks", len(codes), len(tokens))
	}
	for _, o := range outputs {
		secrets := append([]string{apiKey}, tokens...)
		for _, c := range codes {
			if c != o.carries {
				secrets = append(secrets, c)
			}
		}
		if o.kind == "answer" {
			secrets = append(secrets, sentianceCanary, jwksCanary)
		}
		t.Run(o.name+"/"+o.kind, func(t *testing.T) {
			noLeak(t, o.text, secrets...)
			if o.carries != "" && strings.Count(o.text, o.carries) != 2 {
				t.Errorf("the 200 body carries its code %d times, want 2 (authentication_code and auth_code)", strings.Count(o.text, o.carries))
			}
		})
	}
}
