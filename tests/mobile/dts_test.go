package mobile_test

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"slices"
	"strings"
	"testing"
)

// The React Native snippet is held to the SDK's declarations as published,
// vendored (an excerpt, with its version and checksum) rather than fetched
// by the test: the tests talk to loopback only, a registry outage must not
// fail them, and the registry here offers one 6.x release (6.0.3) anyway.
const dtsPath = "testdata/sentiance-react-native-core-6.0.3-index.d.ts"

// dts is what the declarations say about the module's shape.
type dts struct {
	module        string
	options       []string        // UserCreationOptions' fields
	members       map[string]bool // the default export's methods
	defaultExport string          // the name exported as default
	namedValues   []string        // other exports that exist at run time
}

var (
	moduleRE   = regexp.MustCompile(`declare module "([^"]+)"`)
	optionsRE  = regexp.MustCompile(`(?s)export interface UserCreationOptions \{(.*?)\n\s*\}`)
	fieldRE    = regexp.MustCompile(`(?m)^\s*(\w+)\??\s*:`)
	defaultRE  = regexp.MustCompile(`export default (\w+);`)
	namedRE    = regexp.MustCompile(`export (?:declare )?(?:function|const|let|var|class|enum) (\w+)`)
	memberRE   = regexp.MustCompile(`(?m)^\s*(\w+)\(`)
	defaultImp = regexp.MustCompile(`import (\w+) from "([^"]+)";`)
	namedImp   = regexp.MustCompile(`import \{([^}]*)\} from "([^"]+)";`)
)

func parseDTS(src string) (dts, error) {
	var d dts
	m := moduleRE.FindStringSubmatch(src)
	o := optionsRE.FindStringSubmatch(src)
	def := defaultRE.FindStringSubmatch(src)
	if m == nil || o == nil || def == nil {
		return d, errors.New("no module, UserCreationOptions or default export")
	}
	d.module, d.defaultExport = m[1], def[1]
	for _, f := range fieldRE.FindAllStringSubmatch(o[1], -1) {
		d.options = append(d.options, f[1])
	}
	for _, n := range namedRE.FindAllStringSubmatch(src, -1) {
		d.namedValues = append(d.namedValues, n[1])
	}
	// The default export's interface is the one named like its value.
	iface := regexp.MustCompile(`(?s)export interface ` + d.defaultExport + ` \{(.*?)\n  \}`).FindStringSubmatch(src)
	if iface == nil {
		return d, fmt.Errorf("no interface %s", d.defaultExport)
	}
	d.members = map[string]bool{}
	for _, mm := range memberRE.FindAllStringSubmatch(iface[1], -1) {
		d.members[mm[1]] = true
	}
	return d, nil
}

// checkJS holds a snippet to d: it imports what the module exports, calls
// createUser and reset as members of the default export, and passes only
// options the SDK declares, authCode and platformUrl among them.
func checkJS(js string, d dts) error {
	var errs []error
	obj := ""
	for _, m := range defaultImp.FindAllStringSubmatch(js, -1) {
		if m[2] == d.module {
			obj = m[1]
		}
	}
	for _, m := range namedImp.FindAllStringSubmatch(js, -1) {
		for name := range strings.SplitSeq(m[1], ",") {
			if name = strings.TrimSpace(name); m[2] == d.module && !slices.Contains(d.namedValues, name) {
				errs = append(errs, fmt.Errorf("imports {%s}: %s exports no such name (only %v and a default)", name, d.module, d.namedValues))
			}
		}
	}
	if obj == "" {
		errs = append(errs, fmt.Errorf("no default import of %s", d.module))
		obj = d.defaultExport // to report the calls against the name it should have
	}
	for _, fn := range []string{"createUser", "reset"} {
		if !d.members[fn] {
			errs = append(errs, fmt.Errorf("the declarations have no %s.%s", d.defaultExport, fn))
		}
		calls := regexp.MustCompile(`(\w+\.)?\b`+fn+`\(`).FindAllStringSubmatch(js, -1)
		if len(calls) == 0 {
			errs = append(errs, fmt.Errorf("no %s.%s() call", obj, fn))
		}
		for _, c := range calls {
			if c[1] != obj+"." {
				errs = append(errs, fmt.Errorf("%s%s( is not a member call on the default import %s", c[1], fn, obj))
			}
		}
	}
	for _, m := range regexp.MustCompile(`\b`+obj+`\.(\w+)\(`).FindAllStringSubmatch(js, -1) {
		if !d.members[m[1]] {
			errs = append(errs, fmt.Errorf("%s.%s is not declared", obj, m[1]))
		}
	}
	arg := regexp.MustCompile(`\bcreateUser\(\{([^}]*)\}\)`).FindStringSubmatch(js) // the receiver is checked above
	if arg == nil {
		return errors.Join(append(errs, errors.New("createUser is not given an object literal"))...)
	}
	var keys []string
	for _, kv := range strings.Split(arg[1], ",") {
		keys = append(keys, strings.TrimSpace(strings.SplitN(kv, ":", 2)[0]))
	}
	slices.Sort(keys)
	if !slices.Equal(keys, []string{"authCode", "platformUrl"}) {
		errs = append(errs, fmt.Errorf("createUser gets %v, want [authCode platformUrl]", keys))
	}
	for _, k := range keys {
		if !slices.Contains(d.options, k) {
			errs = append(errs, fmt.Errorf("createUser option %s is not declared (%v)", k, d.options))
		}
	}
	return errors.Join(errs...)
}

func readDTS(t *testing.T) dts {
	t.Helper()
	src, err := os.ReadFile(dtsPath)
	if err != nil {
		t.Fatal(err)
	}
	d, err := parseDTS(string(src))
	if err != nil {
		t.Fatalf("%s: %v", dtsPath, err)
	}
	// What the published declarations say, so a parser slip cannot pass the
	// snippet against a shape the SDK does not have.
	if d.module != "@sentiance-react-native/core" || d.defaultExport != "SentianceCore" ||
		!slices.Contains(d.options, "authCode") || !slices.Contains(d.options, "platformUrl") ||
		!d.members["createUser"] || !d.members["reset"] || slices.Contains(d.namedValues, "createUser") {
		t.Fatalf("%s parsed as %+v", dtsPath, d)
	}
	return d
}

func TestReactNativeSnippetAgainstTheSDKDeclarations(t *testing.T) {
	d := readDTS(t)
	for _, tc := range []struct {
		name, doc string
		wantErr   bool
	}{
		{"docs/mobile.md", readDoc(t), false},
		// The old snippet called a bare createUser it never imported.
		{"the old README snippet", readOldDoc(t), true},
		// Sentiance's getting-started page imports { createUser }, which
		// 6.x's declarations do not export: TypeScript rejects it.
		{"a named import", strings.NewReplacer(
			`import SentianceCore from`, `import { createUser, reset } from`,
			`SentianceCore.createUser(`, `createUser(`,
			`SentianceCore.reset(`, `reset(`).Replace(readDoc(t)), true},
		{"an option the SDK does not declare", strings.Replace(readDoc(t),
			`platformUrl: body.platform_url`, `platformURL: body.platform_url`, 1), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			err := checkJS(code(snippet(t, tc.doc, "js")), d)
			switch {
			case tc.wantErr && err == nil:
				t.Error("passes; it must be rejected")
			case !tc.wantErr && err != nil:
				t.Errorf("does not match %s 6.x's declarations:\n%v", d.module, err)
			case err != nil:
				t.Logf("rejected: %v", err)
			}
		})
	}
}
