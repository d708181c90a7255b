package testenv

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// WycheproofFile is the copy of Wycheproof's ECDSA P-256 / SHA-256 P1363
// vectors, relative to the module root (its README gives source and licence).
const WycheproofFile = "testdata/wycheproof/ecdsa_secp256r1_sha256_p1363_test.json"

// WycheproofVector is one test case of WycheproofFile with its group's key.
type WycheproofVector struct {
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

// WycheproofECDSAP256 loads every vector of WycheproofFile. It fails the
// test if the file is missing, not the documented schema, or not the 262
// cases that were copied.
func WycheproofECDSAP256(t testing.TB) []WycheproofVector {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(moduleRoot(t), WycheproofFile))
	if err != nil {
		t.Fatalf("testenv: %v", err)
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
		t.Fatalf("testenv: %s: %v", WycheproofFile, err)
	}
	if file.Schema != "ecdsa_p1363_verify_schema_v1.json" || file.NumberOfTests != 262 {
		t.Fatalf("testenv: %s: schema %q with %d tests, want the copied ecdsa_p1363_verify_schema_v1.json with 262",
			WycheproofFile, file.Schema, file.NumberOfTests)
	}
	var out []WycheproofVector
	for g, group := range file.TestGroups {
		if group.Type != "EcdsaP1363Verify" || group.PublicKey.Curve != "secp256r1" || group.SHA != "SHA-256" {
			t.Fatalf("testenv: %s: group %d is %s/%s/%s", WycheproofFile, g, group.Type, group.PublicKey.Curve, group.SHA)
		}
		point := unhex(t, group.PublicKey.Uncompressed)
		key, err := ecdsa.ParseUncompressedPublicKey(elliptic.P256(), point)
		if err != nil {
			t.Fatalf("testenv: %s: group %d key: %v", WycheproofFile, g, err)
		}
		jwk := map[string]any{
			"kty": "EC", "crv": "P-256", "alg": "ES256", "use": "sig",
			"kid": "wycheproof-" + strconv.Itoa(g),
			"x":   b64(point[1:33]), "y": b64(point[33:65]),
		}
		for _, tc := range group.Tests {
			if tc.Result != "valid" && tc.Result != "invalid" {
				t.Fatalf("testenv: %s: tcId %d has result %q", WycheproofFile, tc.TcID, tc.Result)
			}
			out = append(out, WycheproofVector{
				TcID: tc.TcID, Comment: tc.Comment, Flags: tc.Flags, Valid: tc.Result == "valid",
				Msg: unhex(t, tc.Msg), Sig: unhex(t, tc.Sig), Key: key, JWK: jwk,
			})
		}
	}
	if len(out) != file.NumberOfTests {
		t.Fatalf("testenv: %s: read %d tests, the file says %d", WycheproofFile, len(out), file.NumberOfTests)
	}
	return out
}

func unhex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatalf("testenv: %s: %v", WycheproofFile, err)
	}
	return b
}
