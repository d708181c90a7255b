// Package mobile_test holds docs/mobile.md to what it tells app developers.
// The React Native snippet runs under Node.js against a scripted server on
// 127.0.0.1 and is checked against the SDK's own declarations; the Kotlin,
// Swift and Dart snippets are checked as text, since no compiler for them is
// here. Every snippet is read from the doc at test time: the doc is what is
// tested. testdata/readme-73922b2-mobile.md keeps the snippets the doc
// replaced, so each check is shown to reject what it was written against.
package mobile_test

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/sentiance-authcode/backend/tests/testenv"
)

// The doc under test, and the README section it replaced.
const (
	docPath    = "docs/mobile.md"
	oldDocPath = "testdata/readme-73922b2-mobile.md"
)

// The retry policy the doc states in prose; the snippets must agree.
const (
	maxAttempts = 3  // requests in all, the 401 retry included
	maxWaitS    = 10 // the longest Retry-After a snippet waits for
)

// readDoc returns docs/mobile.md.
func readDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), docPath))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// readOldDoc returns the README section the doc replaced.
func readOldDoc(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile(oldDocPath)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// fenceRE matches a fenced block with a language tag; fences are not nested.
var fenceRE = regexp.MustCompile("(?ms)^```([a-z]+)\n(.*?)^```[ \t]*$")

// snippet returns the one code block tagged lang in md; none or several is
// a broken doc, as a test that picked one of several would test the wrong one.
func snippet(t *testing.T, md, lang string) string {
	t.Helper()
	var found []string
	for _, m := range fenceRE.FindAllStringSubmatch(md, -1) {
		if m[1] == lang {
			found = append(found, m[2])
		}
	}
	if len(found) != 1 {
		t.Fatalf("want exactly one ```%s block, found %d", lang, len(found))
	}
	return found[0]
}

// lineCommentRE is a // comment, but not the // of a URL's scheme.
var (
	lineCommentRE  = regexp.MustCompile(`(^|[^:])//[^\n]*`)
	blockCommentRE = regexp.MustCompile(`(?s)/\*.*?\*/`)
)

// code returns src without comments: what a check reads must be code, not
// a comment that names the right call (the old snippets reset in comments).
func code(src string) string {
	src = blockCommentRE.ReplaceAllString(src, "")
	return lineCommentRE.ReplaceAllString(src, "$1")
}

// span is a brace-delimited block of source: src[start:end] runs from its
// '{' to its '}'.
type span struct{ start, end int }

// blocks returns the block that follows each match of opener. Braces in
// string templates such as "${x}" are balanced, so counting them is enough.
func blocks(src string, opener *regexp.Regexp) []span {
	var out []span
	for _, loc := range opener.FindAllStringIndex(src, -1) {
		open := strings.IndexByte(src[loc[0]:], '{')
		if open < 0 {
			continue
		}
		start, depth := loc[0]+open, 0
		for i := start; i < len(src); i++ {
			switch src[i] {
			case '{':
				depth++
			case '}':
				depth--
			}
			if depth == 0 {
				out = append(out, span{start, i + 1})
				break
			}
		}
	}
	return out
}
