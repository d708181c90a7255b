package identity_test

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/sentiance-authcode/backend/devtools/devidp"
	"github.com/sentiance-authcode/backend/internal/identity"
)

// Token shapes of FuzzVerify (mode % 3).
const (
	fuzzRaw    = iota // header is the whole token
	fuzzForged        // base64url(header).base64url(payload).sig: never validly signed
	fuzzSigned        // header and payload signed with the issuer's ES256 key, $ISS, $AUD, $NOW, $EXP filled in
)

// FuzzVerify feeds the verifier arbitrary tokens: raw strings, hand-made
// segments with an arbitrary signature, and header/payload pairs genuinely
// signed by the identity provider, so the claim and header checks are
// reached with the fuzzer's JSON. Properties:
//   - Verify never panics, and refuses with ErrInvalidToken only (the
//     provider is up, so never ErrKeysUnavailable), never quoting the token;
//   - it accepts only tokens the provider signed;
//   - what it accepts passes, by an independent reading of the token: at
//     most 8 KiB, alg ES256 (the key signed), no crit, no duplicate or
//     case-variant top-level member, iss exact, aud (or client_id without
//     aud) accepted, exp present and not past, nbf and iat not in the
//     future (60 s leeway), and the claims returned are the payload's.
func FuzzVerify(f *testing.F) {
	iss := devidp.Start(f, false)
	v := newVerifier(f, iss.URL, nil)
	if err := v.Warm(context.Background()); err != nil {
		f.Fatal(err)
	}

	const (
		h = `{"alg":"ES256","typ":"JWT","kid":"ec-1"}`
		p = `{"iss":"$ISS","aud":"$AUD","iat":$NOW,"exp":$EXP,"sub":"user-1"}`
	)
	for _, s := range []struct {
		mode            uint8
		header, payload string
		sig             string
	}{
		{fuzzSigned, h, p, ""},
		{fuzzSigned, h, strings.Replace(p, `"aud":"$AUD"`, `"client_id":"$AUD"`, 1), ""},
		{fuzzSigned, h, strings.Replace(p, `"aud":"$AUD"`, `"aud":["x","second-app"]`, 1), ""},
		{fuzzSigned, h, strings.Replace(p, `"sub"`, `"SUB":"victim","sub"`, 1), ""},
		{fuzzSigned, h, strings.Replace(p, `"sub":"user-1"`, `"sub":"user-1","sub":"victim"`, 1), ""},
		{fuzzSigned, h, strings.Replace(p, `,"exp":$EXP`, ``, 1), ""},
		{fuzzSigned, h, strings.Replace(p, `"iat":$NOW`, `"iat":$EXP`, 1), ""},
		{fuzzSigned, h, strings.Replace(p, `"iat":$NOW`, `"nbf":$EXP`, 1), ""},
		{fuzzSigned, h, p + ` {"sub":"victim"}`, ""},
		{fuzzSigned, h, `{"iss":"$ISS","aud":"$AUD","exp":1e300,"sub":"user-1"}`, ""},
		{fuzzSigned, h, `{"iss":"$ISS","aud":"$AUD","exp":$EXP,"iat":-1e300,"sub":"user-1"}`, ""},
		{fuzzSigned, `{"alg":"ES256","typ":"JWT","kid":"ec-1","crit":["x"]}`, p, ""},
		{fuzzSigned, `{"alg":"ES256","alg":"none","kid":"ec-1"}`, p, ""},
		{fuzzSigned, `{"alg":"ES256"}`, p, ""},
		{fuzzSigned, `{"alg":"ES256","kid":"rsa-1"}`, p, ""},
		{fuzzForged, `{"alg":"none"}`, p, ""},
		{fuzzForged, `{"alg":"HS256","kid":"rsa-1"}`, p, "c2ln"},
		{fuzzForged, h, p, strings.Repeat("A", 86)},
		{fuzzRaw, "", "", ""},
		{fuzzRaw, "...", "", ""},
		{fuzzRaw, "eyJhbGciOiJub25lIn0.e30.", "", ""},
		{fuzzRaw, "a.b.c.d.e", "", ""},
	} {
		f.Add(s.mode, s.header, s.payload, s.sig)
	}

	f.Fuzz(func(t *testing.T, mode uint8, header, payload, sig string) {
		now := time.Now()
		fill := strings.NewReplacer("$ISS", iss.URL, "$AUD", audience,
			"$NOW", strconv.FormatInt(now.Unix(), 10), "$EXP", strconv.FormatInt(now.Add(10*time.Minute).Unix(), 10))
		var token string
		switch mode % 3 {
		case fuzzRaw:
			token = header
		case fuzzForged:
			token = seg(header) + "." + seg(payload) + "." + sig
		case fuzzSigned:
			header, payload = fill.Replace(header), fill.Replace(payload)
			token = iss.SignSegments(t, jwt.SigningMethodES256, header, payload)
		}

		claims, err := v.Verify(context.Background(), token)
		if err != nil {
			if claims != nil {
				t.Fatalf("claims returned with error %v", err)
			}
			if !errors.Is(err, identity.ErrInvalidToken) {
				t.Fatalf("err = %v, want ErrInvalidToken", err)
			}
			if len(token) >= 16 && strings.Contains(err.Error(), token) {
				t.Fatalf("the error quotes the token: %v", err)
			}
			return
		}
		if mode%3 != fuzzSigned {
			t.Fatalf("accepted a token the provider did not sign: %q", token)
		}
		if why := acceptable(header, payload, iss.URL, now); why != "" {
			t.Fatalf("accepted a token that %s:\nheader  %s\npayload %s", why, header, payload)
		}
		var want map[string]any
		if err := json.Unmarshal([]byte(payload), &want); err != nil || want["sub"] != claims["sub"] || len(want) != len(claims) {
			t.Fatalf("claims %v are not the payload's %s", claims, payload)
		}
	})
}

// acceptable judges a header and payload the verifier accepted, without
// its code: it returns why they should have been refused, or "".
func acceptable(header, payload, issuer string, now time.Time) string {
	if len(seg(header))+len(seg(payload))+2+86 > identity.MaxTokenBytes {
		return "is over 8 KiB"
	}
	var h, p map[string]any
	if json.Unmarshal([]byte(header), &h) != nil || json.Unmarshal([]byte(payload), &p) != nil {
		return "is not two JSON objects"
	}
	if dup := topLevelDuplicate(header); dup != "" {
		return "repeats header member " + dup
	}
	if dup := topLevelDuplicate(payload); dup != "" {
		return "repeats claim " + dup
	}
	if h["alg"] != "ES256" {
		return "names alg " + strconv.Quote(toString(h["alg"]))
	}
	if _, ok := h["crit"]; ok {
		return "has crit"
	}
	if p["iss"] != issuer {
		return "has another issuer"
	}
	const leeway = 60
	t := float64(now.Unix())
	exp, ok := p["exp"].(float64)
	if !ok || exp < t-leeway-1 {
		return "has no exp or is expired"
	}
	for _, c := range []string{"nbf", "iat"} {
		if v, present := p[c]; present {
			n, ok := v.(float64)
			// Past 2^63 s the library's int64 conversion wraps (to the
			// distant past on amd64); such a time is the provider's doing,
			// not an attacker's, so the oracle leaves it alone.
			if !ok || (n > t+leeway+1 && n < 9e18) {
				return c + " is not a past time"
			}
		}
	}
	switch aud := p["aud"].(type) {
	case nil:
		if _, present := p["aud"]; present || !slices.Contains([]string{audience, "second-app"}, toString(p["client_id"])) {
			return "has no accepted aud or client_id"
		}
	case string:
		if aud != audience && aud != "second-app" {
			return "has another audience"
		}
	case []any:
		if !slices.ContainsFunc(aud, func(a any) bool { return a == audience || a == "second-app" }) {
			return "has no accepted audience"
		}
	default:
		return "has an aud of the wrong type"
	}
	return ""
}

func toString(v any) string {
	s, _ := v.(string)
	return s
}

// topLevelDuplicate returns a top-level member name that repeats, case
// folded, in the JSON object data, or "".
func topLevelDuplicate(data string) string {
	var m map[string]json.RawMessage
	if json.Unmarshal([]byte(data), &m) != nil {
		return ""
	}
	dec := json.NewDecoder(strings.NewReader(data))
	var seen []string
	depth := 0
	expectKey := false
	for {
		tok, err := dec.Token()
		if err != nil {
			return ""
		}
		switch tok {
		case json.Delim('{'), json.Delim('['):
			depth++
			expectKey = depth == 1 && tok == json.Delim('{')
			continue
		case json.Delim('}'), json.Delim(']'):
			depth--
			expectKey = depth == 1
			continue
		}
		if depth == 1 {
			if expectKey {
				name := tok.(string)
				if slices.ContainsFunc(seen, func(s string) bool { return strings.EqualFold(s, name) }) {
					return name
				}
				seen = append(seen, name)
			}
			expectKey = !expectKey
		}
	}
}
