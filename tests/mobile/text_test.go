package mobile_test

import (
	"errors"
	"fmt"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// These are text checks, not compilation: no Kotlin, Swift or Dart compiler
// is on these machines. They read the snippets (comments stripped) for the
// shapes that make the retry policy hold, and for the SDK calls by name.

// check is one rule a snippet's code must satisfy.
type check struct {
	name string
	fn   func(code string) error
}

// The checks' names, shared by the three languages and the old-text table.
const (
	bounded    = "attempts bounded by a constant, no recursion"
	retryAfter = "Retry-After read and capped"
	refresh    = "401 refreshes the token at most once"
	sdkCalls   = "SDK calls and answer fields by name"
	execIO     = "blocking execute() only inside withContext(Dispatchers.IO)"
	useBlock   = "no wait or retry inside .use {}"
	typedJSON  = "answer decoded into a Decodable struct, not [String: String]"
)

// lang is what differs between the languages; the checks are built from it.
type lang struct {
	tag string
	// attempts and wait are the two constants' declarations; loop is the
	// loop they bound.
	attempts, wait, loop *regexp.Regexp
	waitName             string // the cap's name, to find where wait is compared with it
	readRetryAfter       string // how the snippet reads the header
	tokenCall            *regexp.Regexp
	must                 []string // SDK calls and answer fields, verbatim
	extra                []check
}

func languages() []lang {
	return []lang{
		{
			tag:            "kotlin",
			attempts:       regexp.MustCompile(fmt.Sprintf(`\bconst val MAX_ATTEMPTS = %d\b`, maxAttempts)),
			wait:           regexp.MustCompile(fmt.Sprintf(`\bconst val MAX_WAIT_S = %dL?\b`, maxWaitS)),
			loop:           regexp.MustCompile(`for \(attempt in 1\.\.MAX_ATTEMPTS\)`),
			waitName:       "MAX_WAIT_S",
			readRetryAfter: `.header("Retry-After")`,
			tokenCall:      regexp.MustCompile(`token\(forceRefresh = (\w+)\)`),
			must: []string{
				`UserCreationOptions.Builder(json.getString("authentication_code"))`,
				`.setPlatformUrl(json.getString("platform_url"))`,
				`Sentiance.getInstance(context).createUser(options)`,
				`Sentiance.getInstance(context).reset()`,
			},
			extra: []check{{execIO, executeOnIO}, {useBlock, nothingInsideUse}},
		},
		{
			tag:            "swift",
			attempts:       regexp.MustCompile(fmt.Sprintf(`\blet maxAttempts = %d\b`, maxAttempts)),
			wait:           regexp.MustCompile(fmt.Sprintf(`\blet maxWaitSeconds = %d\b`, maxWaitS)),
			loop:           regexp.MustCompile(`for attempt in 1\.\.\.maxAttempts\b`),
			waitName:       "maxWaitSeconds",
			readRetryAfter: `.value(forHTTPHeaderField: "Retry-After")`,
			tokenCall:      regexp.MustCompile(`token\(forceRefresh: (\w+)\)`),
			must: []string{
				// convertFromSnakeCase maps authentication_code and platform_url.
				`.keyDecodingStrategy = .convertFromSnakeCase`,
				`let authenticationCode: String`,
				`let platformUrl: String`,
				`SENTUserCreationOptions(authenticationCode: answer.authenticationCode)`,
				`options.platformUrl = answer.platformUrl`,
				`Sentiance.shared.createUser(options: options`,
				`Sentiance.shared.reset(`,
			},
			extra: []check{{typedJSON, decodableStruct}},
		},
		{
			tag:      "dart",
			attempts: regexp.MustCompile(fmt.Sprintf(`\bconst maxAttempts = %d;`, maxAttempts)),
			wait:     regexp.MustCompile(fmt.Sprintf(`\bconst maxWaitSeconds = %d;`, maxWaitS)),
			loop:     regexp.MustCompile(`for \(var attempt = 1; attempt <= maxAttempts; attempt\+\+\)`),
			waitName: "maxWaitSeconds",
			// package:http lower-cases header names: 'Retry-After' would never match.
			readRetryAfter: `res.headers['retry-after']`,
			tokenCall:      regexp.MustCompile(`token\(forceRefresh: (\w+)\)`),
			must: []string{
				`SentianceCore().createUser(CreateUserOptions(`,
				`authCode: body['authentication_code']`,
				`platformUrl: body['platform_url']`,
				`SentianceCore().reset()`,
			},
		},
	}
}

// checks builds lang's rules.
func (l lang) checks() []check {
	cs := []check{
		{bounded, func(c string) error {
			switch {
			case !l.attempts.MatchString(c):
				return fmt.Errorf("no %q", l.attempts)
			case !l.loop.MatchString(c):
				return fmt.Errorf("no loop %q", l.loop)
			}
			// A retry by recursion is what let the old snippets loop forever.
			if n := len(selfCallRE.FindAllString(c, -1)); n != 1 {
				return fmt.Errorf("linkSentianceUser( appears %d times: it must be declared once and never call itself", n)
			}
			return nil
		}},
		{retryAfter, func(c string) error {
			if !strings.Contains(c, l.readRetryAfter) {
				return fmt.Errorf("does not read Retry-After as %s", l.readRetryAfter)
			}
			if !l.wait.MatchString(c) {
				return fmt.Errorf("no cap %q", l.wait)
			}
			for line := range strings.Lines(c) {
				if !l.wait.MatchString(line) && strings.Contains(line, "wait") && strings.Contains(line, l.waitName) {
					return nil
				}
			}
			return fmt.Errorf("wait is never compared with %s", l.waitName)
		}},
		{refresh, func(c string) error { return refreshOnce(c, l.tokenCall) }},
		{sdkCalls, func(c string) error {
			var errs []error
			for _, s := range l.must {
				if !strings.Contains(c, s) {
					errs = append(errs, fmt.Errorf("no %s", s))
				}
			}
			return errors.Join(errs...)
		}},
	}
	return append(cs, l.extra...)
}

// refreshOnce: the token call's force-refresh flag is set to true exactly
// once, and a 401 guarded by that flag being false is what sets it.
func refreshOnce(c string, tokenCall *regexp.Regexp) error {
	m := tokenCall.FindStringSubmatch(c)
	if m == nil {
		return fmt.Errorf("no token call %q", tokenCall)
	}
	flag := regexp.QuoteMeta(m[1])
	if !regexp.MustCompile(`401\b[^\n]*!\s*` + flag + `\b`).MatchString(c) {
		return fmt.Errorf("no 401 branch guarded by !%s", m[1])
	}
	if n := len(regexp.MustCompile(`\b`+flag+`\s*[=:]\s*true\b`).FindAllString(c, -1)); n != 1 {
		return fmt.Errorf("%s is set to true %d times, want 1", m[1], n)
	}
	return nil
}

var (
	withIORE   = regexp.MustCompile(`withContext\(Dispatchers\.IO\)\s*\{`)
	useRE      = regexp.MustCompile(`\.use\s*\{`)
	stringDict = regexp.MustCompile(`\[\s*String\s*:\s*String\s*\]`)
	decodeRE   = regexp.MustCompile(`\.decode\((\w+)\.self`)
	selfCallRE = regexp.MustCompile(`\blinkSentianceUser\(`) // not unlinkSentianceUser(
)

// executeOnIO: OkHttp's execute() blocks its thread; in a suspend fun it
// belongs on the IO dispatcher.
func executeOnIO(c string) error {
	ioBlocks := blocks(c, withIORE)
	for at := 0; ; {
		j := strings.Index(c[at:], ".execute()")
		if j < 0 {
			return nil
		}
		at += j
		if !slices.ContainsFunc(ioBlocks, func(b span) bool { return b.start < at && at < b.end }) {
			line := c[strings.LastIndexByte(c[:at], '\n')+1 : at]
			return fmt.Errorf("execute() outside withContext(Dispatchers.IO): %s", strings.TrimSpace(line))
		}
		at++
	}
}

// nothingInsideUse: a wait or a retry inside .use {} keeps the response
// (and its connection) open for as long.
func nothingInsideUse(c string) error {
	for _, b := range blocks(c, useRE) {
		body := c[b.start:b.end]
		for _, bad := range []string{"delay(", "Thread.sleep(", "continue", "token("} {
			if strings.Contains(body, bad) {
				return fmt.Errorf("%s inside .use {}", strings.TrimSuffix(bad, "("))
			}
		}
		if selfCallRE.MatchString(body) {
			return errors.New("a retry (linkSentianceUser) inside .use {}")
		}
	}
	return nil
}

// decodableStruct: a [String: String] decode fails as soon as one field is
// not a string; the answer must go into a struct of its own.
func decodableStruct(c string) error {
	if stringDict.MatchString(c) {
		return errors.New("decodes [String: String]")
	}
	m := decodeRE.FindStringSubmatch(c)
	if m == nil {
		return errors.New("no decode(T.self, ...)")
	}
	if !regexp.MustCompile(`struct ` + m[1] + `\s*:[^{]*\b(Decodable|Codable)\b`).MatchString(c) {
		return fmt.Errorf("%s is not declared as a Decodable struct", m[1])
	}
	return nil
}

func TestSnippetText(t *testing.T) {
	doc := readDoc(t)
	for _, l := range languages() {
		t.Run(l.tag, func(t *testing.T) {
			c := code(snippet(t, doc, l.tag))
			for _, ch := range l.checks() {
				t.Run(ch.name, func(t *testing.T) {
					if err := ch.fn(c); err != nil {
						t.Errorf("docs/mobile.md's %s snippet: %v", l.tag, err)
					}
				})
			}
		})
	}
}

// The checks have teeth: on the snippets docs/mobile.md replaced, each
// rejects what it was written against. The old 401 handling was right
// (a refresh guarded by !retried, passed down the recursion), so that check
// passes there; the recursion itself fails the bounded check.
func TestTextChecksOnTheOldSnippets(t *testing.T) {
	old := readOldDoc(t)
	wantFail := map[string]map[string]bool{
		"kotlin": {bounded: true, retryAfter: true, refresh: false, sdkCalls: true, execIO: true, useBlock: true},
		"swift":  {bounded: true, retryAfter: true, refresh: false, sdkCalls: true, typedJSON: true},
		"dart":   {bounded: true, retryAfter: true, refresh: false, sdkCalls: true},
	}
	for _, l := range languages() {
		t.Run(l.tag, func(t *testing.T) {
			c := code(snippet(t, old, l.tag))
			for _, ch := range l.checks() {
				t.Run(ch.name, func(t *testing.T) {
					want, ok := wantFail[l.tag][ch.name]
					if !ok {
						t.Fatalf("no expectation for %q on the old %s snippet", ch.name, l.tag)
					}
					err := ch.fn(c)
					switch {
					case want && err == nil:
						t.Errorf("passes on the old %s snippet; it must reject it", l.tag)
					case !want && err != nil:
						t.Errorf("rejects the old %s snippet, whose behaviour here was right: %v", l.tag, err)
					case err != nil:
						t.Logf("rejects the old snippet: %v", err)
					}
				})
			}
		})
	}
}
