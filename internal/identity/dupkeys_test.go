package identity

import "testing"

// Duplicate members are refused at every depth; at the top level, names that
// differ only in case (Unicode simple folding) count as duplicates too.
func TestNoDuplicateKeys(t *testing.T) {
	tests := []struct {
		in string
		ok bool
	}{
		{`{"sub":"x","aud":["a","a"],"n":{"y":1}}`, true},
		{` {"a" : [ ] , "b" : { } } `, true},
		{`{"x":{"sub":1,"SUB":2}}`, true}, // case folding only at the top level
		{`{"a":1,"b":[{"a":1,"a":2}]}`, false},
		{`{"sub":"x","SUB":"y"}`, false},
		{`{"kid":"a","\u212aid":"b"}`, false}, // KELVIN SIGN folds to k
		{`{"a\u0062":1,"ab":2}`, false},       // escapes are resolved first
		{"{\"a\xff\":1,\"a\xfe\":2}", false},  // both decode to U+FFFD
		{`[1,2,{"x":{"y":null,"y":true}}]`, false},
		{`{"sub":"a"} {}`, false},
		{`{"sub"`, false},
		{``, false},
	}
	for _, tt := range tests {
		t.Run(tt.in, func(t *testing.T) {
			if err := noDuplicateKeys([]byte(tt.in)); (err == nil) != tt.ok {
				t.Fatalf("noDuplicateKeys = %v, want ok=%v", err, tt.ok)
			}
		})
	}
}
