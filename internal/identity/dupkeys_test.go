package identity

import (
	"math/rand/v2"
	"testing"
)

// The single-pass scanner must judge every input as the decoder walk does
// (walkDecoder): same verdict, same message.
func sameVerdict(t *testing.T, data []byte) {
	t.Helper()
	want, got := walkDecoder(data), noDuplicateKeys(data)
	if (want == nil) != (got == nil) || (want != nil && want.Error() != got.Error()) {
		t.Fatalf("%q: decoder walk says %v, scanner %v", data, want, got)
	}
}

func FuzzNoDuplicateKeys(f *testing.F) {
	for _, s := range []string{
		`{"a":1,"b":[{"a":1,"a":2}]}`, `{"sub":"x","SUB":"y"}`, `{"kid":"a","\u212aid":"b"}`,
		`{"a\u0062":1,"ab":2}`, "{\"a\xff\":1,\"a\xfe\":2}", `[1,2,{"x":{"y":null,"y":true}}]`,
		` {"a" : [ ] , "b" : { } } `, `"str"`, `12.5e3`, `{"x":"\"}"}`, `{"sub":"a"} {}`, `{"sub"`, ``,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(sameVerdict)
}

// Objects past the scanner's 16-name fast path switch to a map.
func TestNoDuplicateKeysManyMembers(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	for range 3000 {
		b := []byte(`{"x":{`)
		top := []byte{'{'}
		for i := range r.IntN(120) {
			if i > 0 {
				b, top = append(b, ','), append(top, ',')
			}
			b = append(b, '"', byte('a'+r.IntN(26)), byte('A'+r.IntN(26)), '"', ':', '1')
			top = append(top, '"', byte('a'+r.IntN(26)), "aAbBkK"[r.IntN(6)], '"', ':', '1')
		}
		sameVerdict(t, append(b, '}', '}'))
		sameVerdict(t, append(top, '}'))
	}
}
