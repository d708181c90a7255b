package authcode_test

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"strconv"
	"testing"

	"github.com/golang-jwt/jwt/v5"
)

// wycheproofFile is the copy of Wycheproof's ECDSA P-256 / SHA-256 P1363
// vectors (its README gives source and licence).
const wycheproofFile = "testdata/wycheproof/ecdsa_secp256r1_sha256_p1363_test.json"

// wycheproofVector is one test case of wycheproofFile with its group's key.
type wycheproofVector struct {
	TcID    int
	Comment string
	Flags   []string
	Valid   bool   // result "valid"; every other case is "invalid"
	Msg     []byte // the signed message
	Sig     []byte // r || s as in JWS, though often not 64 bytes
	Key     *ecdsa.PublicKey
	// JWK is Key as an RFC 7517 EC key with kid "wycheproof-<group>" and
	// alg ES256, to serve in a JWKS.
	JWK map[string]any
}

// wycheproofECDSAP256 loads every vector of wycheproofFile. It fails the
// test if the file is missing, not the documented schema, or not the 262
// cases that were copied.
func wycheproofECDSAP256(t testing.TB) []wycheproofVector {
	t.Helper()
	raw, err := os.ReadFile(wycheproofFile)
	if err != nil {
		t.Fatalf("wycheproof: %v", err)
	}
	var file struct {
		Schema        string `json:"schema"`
		NumberOfTests int    `json:"numberOfTests"`
		TestGroups    []struct {
			Type      string `json:"type"`
			PublicKey struct {
				Curve        string `json:"curve"`
				Uncompressed string `json:"uncompressed"`
			} `json:"publicKey"`
			SHA   string `json:"sha"`
			Tests []struct {
				TcID    int      `json:"tcId"`
				Comment string   `json:"comment"`
				Flags   []string `json:"flags"`
				Msg     string   `json:"msg"`
				Sig     string   `json:"sig"`
				Result  string   `json:"result"`
			} `json:"tests"`
		} `json:"testGroups"`
	}
	if err := json.Unmarshal(raw, &file); err != nil {
		t.Fatalf("wycheproof: %s: %v", wycheproofFile, err)
	}
	if file.Schema != "ecdsa_p1363_verify_schema_v1.json" || file.NumberOfTests != 262 {
		t.Fatalf("wycheproof: %s: schema %q with %d tests, want the copied ecdsa_p1363_verify_schema_v1.json with 262",
			wycheproofFile, file.Schema, file.NumberOfTests)
	}
	var out []wycheproofVector
	for g, group := range file.TestGroups {
		if group.Type != "EcdsaP1363Verify" || group.PublicKey.Curve != "secp256r1" || group.SHA != "SHA-256" {
			t.Fatalf("wycheproof: %s: group %d is %s/%s/%s", wycheproofFile, g, group.Type, group.PublicKey.Curve, group.SHA)
		}
		point := unhex(t, group.PublicKey.Uncompressed)
		key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			t.Fatalf("wycheproof: %s: group %d key: %v", wycheproofFile, g, err)
		}
		jwk := map[string]any{
			"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig",
			"kid": "wycheproof-" + strconv.Itoa(g),
			"x":   base64.RawURLEncoding.EncodeToString(point[1:33]), "y": base64.RawURLEncoding.EncodeToString(point[33:65]),
		}
		for _, tc := range group.Tests {
			if tc.Result != "valid" && tc.Result != "invalid" {
				t.Fatalf("wycheproof: %s: tcId %d has result %q", wycheproofFile, tc.TcID, tc.Result)
			}
			out = append(out, wycheproofVector{
				TcID: tc.TcID, Comment: tc.Comment, Flags: tc.Flags, Valid: tc.Result == "valid",
				Msg: unhex(t, tc.Msg), Sig: unhex(t, tc.Sig), Key: key, JWK: jwk,
			})
		}
	}
	if len(out) != file.NumberOfTests {
		t.Fatalf("wycheproof: %s: read %d tests, the file says %d", wycheproofFile, len(out), file.NumberOfTests)
	}
	return out
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("wycheproof: %s: %v", wycheproofFile, err)
	}
	return b
}

// TestWycheproofES256 runs every Wycheproof ECDSA P-256 / SHA-256 P1363
// vector through golang-jwt's SigningMethodES256.Verify, the call the
// verifier makes for an ES256 token (with the signing input in place of the
// vector's message): every valid vector must verify, every invalid one
// (r = s = 0 in tcId 11, r or s out of range, wrong sizes, ...) must not.
// This proves the library path itself; TestWycheproofTokens shows the same
// signatures refused inside tokens.
func TestWycheproofES256(t *testing.T) {
	vectors := wycheproofECDSAP256(t)
	var valid, invalid int
	for _, v := range vectors {
		err := jwt.SigningMethodES256.Verify(string(v.Msg), v.Sig, v.Key)
		switch {
		case v.Valid && err != nil:
			t.Errorf("tcId %d (%s): valid vector refused: %v", v.TcID, v.Comment, err)
		case !v.Valid && err == nil:
			t.Errorf("tcId %d (%s, flags %v): invalid vector accepted", v.TcID, v.Comment, v.Flags)
		}
		if v.Valid {
			valid++
		} else {
			invalid++
		}
	}
	if valid == 0 || invalid == 0 {
		t.Fatalf("ran %d valid and %d invalid vectors", valid, invalid)
	}
	t.Logf("%d valid vectors verified, %d invalid refused", valid, invalid)
}
