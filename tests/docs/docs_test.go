// Package docs holds the README and docs/ to the code: the facts they state
// are the constants', each fact is stated once, every link resolves, and
// every command they show either runs here or names only what exists (make
// targets and variables, stack outputs, samconfig environments, flags).
package docs

import (
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sentiance-authcode/backend/devtools/local"
	"github.com/sentiance-authcode/backend/internal/app"
	"github.com/sentiance-authcode/backend/internal/authcode"
	"github.com/sentiance-authcode/backend/internal/identity"
	"github.com/sentiance-authcode/backend/internal/metrics"
	"github.com/sentiance-authcode/backend/internal/secret"
	"github.com/sentiance-authcode/backend/tests/testenv"
)

// page is one Markdown file of the guide.
type page struct {
	path  string // relative to the repository root
	lines []string
}

// pages are README.md, SECURITY.md and docs/*.md.
func pages(t *testing.T) []page {
	t.Helper()
	root := testenv.RepoRoot(t)
	files, _ := filepath.Glob(filepath.Join(root, "docs", "*.md"))
	files = append([]string{filepath.Join(root, "README.md"), filepath.Join(root, "SECURITY.md")}, files...)
	var out []page
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		rel, _ := filepath.Rel(root, f)
		out = append(out, page{rel, strings.Split(string(raw), "\n")})
	}
	return out
}

func find(t *testing.T, all []page, path string) page {
	t.Helper()
	for _, p := range all {
		if p.path == path {
			return p
		}
	}
	t.Fatalf("no page %s", path)
	return page{}
}

// block is a fenced code block: its language and lines.
type block struct {
	lang  string
	lines []string
	at    int // line number of the fence
}

func (p page) blocks() []block {
	var out []block
	var cur *block
	for i, l := range p.lines {
		switch {
		case cur == nil && strings.HasPrefix(l, "```"):
			cur = &block{lang: strings.TrimPrefix(l, "```"), at: i + 1}
		case cur != nil && l == "```":
			out = append(out, *cur)
			cur = nil
		case cur != nil:
			cur.lines = append(cur.lines, l)
		}
	}
	return out
}

// rows are the cells of the Markdown table rows outside code blocks whose
// first cell matches first.
func (p page) rows(first *regexp.Regexp) [][]string {
	var out [][]string
	inCode := false
	for _, l := range p.lines {
		if strings.HasPrefix(l, "```") {
			inCode = !inCode
		}
		if inCode || !strings.HasPrefix(l, "| ") {
			continue
		}
		cells := strings.Split(strings.Trim(l, "| "), " | ")
		for i := range cells {
			cells[i] = strings.TrimSpace(cells[i])
		}
		if first.MatchString(cells[0]) {
			out = append(out, cells)
		}
	}
	return out
}

// The README is read in ten minutes: at most 400 lines, and the first code
// of local mode within its first 40.
func TestREADMEShape(t *testing.T) {
	readme := find(t, pages(t), "README.md")
	if n := len(readme.lines); n > 400 {
		t.Errorf("README.md has %d lines, want at most 400", n)
	}
	first := slices.IndexFunc(readme.lines, func(l string) bool { return strings.Contains(l, `"authentication_code"`) })
	if first < 0 || first >= 40 {
		t.Errorf("the first code of local mode is at line %d of README.md, want within 40", first+1)
	}
	if !strings.Contains(strings.Join(readme.lines[:20], "\n"), "make run") || !strings.Contains(strings.Join(readme.lines[:20], "\n"), "make test") {
		t.Error("README.md does not start with make run and make test")
	}
}

// Every relative link resolves to a file, and its #anchor to a heading; the
// README links every page of docs/.
func TestLinks(t *testing.T) {
	all := pages(t)
	root := testenv.RepoRoot(t)
	anchors := map[string][]string{}
	for _, p := range all {
		for _, l := range p.lines {
			if h, ok := strings.CutPrefix(strings.TrimLeft(l, "#"), " "); ok && strings.HasPrefix(l, "#") {
				anchors[p.path] = append(anchors[p.path], slug(h))
			}
		}
	}
	link := regexp.MustCompile(`\]\(([^)\s]+)\)`)
	fromREADME := map[string]bool{}
	for _, p := range all {
		for i, l := range p.lines {
			for _, m := range link.FindAllStringSubmatch(l, -1) {
				target := m[1]
				if strings.Contains(target, "://") || strings.HasPrefix(target, "mailto:") {
					continue
				}
				file, anchor, _ := strings.Cut(target, "#")
				resolved := p.path
				if file != "" {
					resolved = filepath.Clean(filepath.Join(filepath.Dir(p.path), file))
				}
				if _, err := os.Stat(filepath.Join(root, resolved)); err != nil {
					t.Errorf("%s:%d links %s: no such file", p.path, i+1, target)
					continue
				}
				if anchor != "" && !slices.Contains(anchors[resolved], anchor) {
					t.Errorf("%s:%d links %s: no heading #%s in %s", p.path, i+1, target, anchor, resolved)
				}
				if p.path == "README.md" {
					fromREADME[resolved] = true
				}
			}
		}
	}
	for _, p := range all {
		if strings.HasPrefix(p.path, "docs/") && !fromREADME[p.path] {
			t.Errorf("README.md does not link %s", p.path)
		}
	}
	// The code's and the template's own pointers to the docs (messages, -h,
	// alarm texts) resolve too; a section named in prose ("README: Deploy") too.
	mention := regexp.MustCompile(`(docs/[\w-]+\.md|README\.md)(?:#([\w-]+))?`)
	prose := regexp.MustCompile(`README:\s+([A-Z][\w' ]+)`)
	_ = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if d.IsDir() && (d.Name() == "tests" || strings.HasPrefix(d.Name(), ".")) {
			return filepath.SkipDir
		}
		code := strings.HasSuffix(path, ".go") && !strings.HasSuffix(path, "_test.go")
		if !code && !strings.HasSuffix(path, ".yaml") && d.Name() != "Makefile" {
			return nil
		}
		src, _ := os.ReadFile(path)
		for _, m := range mention.FindAllStringSubmatch(string(src), -1) {
			if _, err := os.Stat(filepath.Join(root, m[1])); err != nil {
				t.Errorf("%s names %s: no such file", path, m[0])
			} else if m[2] != "" && !slices.Contains(anchors[m[1]], m[2]) {
				t.Errorf("%s names %s: no such heading", path, m[0])
			}
		}
		for _, m := range prose.FindAllStringSubmatch(string(src), -1) {
			if !slices.Contains(anchors["README.md"], slug(strings.TrimSpace(m[1]))) {
				t.Errorf("%s names the README section %q, which does not exist", path, m[1])
			}
		}
		return nil
	})
}

// slug is GitHub's anchor for a heading.
func slug(h string) string {
	h = strings.ToLower(strings.TrimSpace(h))
	h = regexp.MustCompile("[^a-z0-9 _-]").ReplaceAllString(h, "")
	return strings.ReplaceAll(h, " ", "-")
}

// Each fact is stated in one place: the secret's shape, the error table,
// the limits table, the configuration table.
func TestFactsStatedOnce(t *testing.T) {
	all := pages(t)
	shape := regexp.MustCompile(`\{\\?"` + secret.KeyField + `\\?":`)
	tables := map[string]*regexp.Regexp{
		"the error table":         regexp.MustCompile(`^[45]\d\d$`),
		"the limits table":        regexp.MustCompile(`^request body$`),
		"the configuration table": regexp.MustCompile("^`USER_LINK_SECRET_ID`$"),
	}
	where := map[string][]string{}
	for _, p := range all {
		for i, l := range p.lines {
			if shape.MatchString(l) {
				where["the secret's JSON shape"] = append(where["the secret's JSON shape"], fmt.Sprintf("%s:%d", p.path, i+1))
			}
		}
		for name, first := range tables {
			if len(p.rows(first)) > 0 {
				where[name] = append(where[name], p.path)
			}
		}
	}
	for _, fact := range []string{"the secret's JSON shape", "the error table", "the limits table", "the configuration table"} {
		if len(where[fact]) != 1 {
			t.Errorf("%s is stated in %v, want exactly one place", fact, where[fact])
		}
	}
}

// docs/api.md's error table lists every reason under its status, with the
// advice the doctor gives for it; its limits are the constants.
func TestContractTables(t *testing.T) {
	api := find(t, pages(t), "docs/api.md")
	rows := api.rows(regexp.MustCompile(`^[45]\d\d$`))
	got := map[string][]string{}
	for _, r := range rows {
		got[strings.Trim(r[1], "`")] = r
	}
	for _, r := range authcode.Reasons() {
		row, ok := got[string(r)]
		switch {
		case !ok:
			t.Errorf("docs/api.md has no row for %s", r)
		case row[0] != fmt.Sprint(r.Spec().Status):
			t.Errorf("docs/api.md lists %s under %s, the code answers %d", r, row[0], r.Spec().Status)
		case row[len(row)-1] != r.Spec().Fix:
			t.Errorf("docs/api.md's advice for %s is %q, the doctor's %q", r, row[len(row)-1], r.Spec().Fix)
		}
		delete(got, string(r))
	}
	for r := range got {
		t.Errorf("docs/api.md lists %s, which the code does not have", r)
	}
	limits := map[string]string{}
	for _, r := range api.rows(regexp.MustCompile(`.`)) {
		limits[r[0]] = r[1]
	}
	for name, want := range map[string]string{
		"request body":               fmt.Sprintf("%d KiB", authcode.MaxBodyBytes>>10),
		"bearer token":               fmt.Sprintf("%d KiB", identity.MaxTokenBytes>>10),
		"external_id":                fmt.Sprintf("%d bytes", identity.MaxExternalIDBytes),
		"JWKS or discovery document": fmt.Sprintf("%d,%03d bytes", identity.MaxJWKSBytes/1000, identity.MaxJWKSBytes%1000),
		"function timeout":           fmt.Sprintf("%d s", int(authcode.Timeout.Seconds())),
		"key cache":                  fmt.Sprintf("%d minutes", int(app.DefaultSecretTTL.Minutes())),
	} {
		if !strings.HasPrefix(limits[name], want) {
			t.Errorf("docs/api.md gives the %s limit as %q, want %s", name, limits[name], want)
		}
	}
	if retry := authcode.KeyUnavailable.Spec().RetryAfter; !strings.Contains(strings.Join(api.lines, "\n"), fmt.Sprintf("else %d s", int(retry.Seconds()))) {
		t.Errorf("docs/api.md does not give a 503's default Retry-After as %v", retry)
	}
}

// The tables of settings and metrics are the code's: every variable the
// function reads (by recording what app.Load asks for) with its default,
// local mode's own variables, and every metric.
func TestSettingsAndMetricsTables(t *testing.T) {
	all := pages(t)
	ops := find(t, all, "docs/operations.md")
	config := map[string]string{}
	for _, r := range ops.rows(regexp.MustCompile("^`[A-Z_]+`$")) {
		config[strings.Trim(r[0], "`")] = r[1]
	}
	for _, v := range testenv.FunctionVariables(t) {
		if _, ok := config[v]; !ok {
			t.Errorf("docs/operations.md's configuration table lacks %s", v)
		}
		delete(config, v)
	}
	for v := range config {
		if !slices.ContainsFunc(local.Variables, func(l [2]string) bool { return l[0] == v }) {
			t.Errorf("docs/operations.md's configuration lists %s, which the function does not read", v)
		}
	}
	defaults := map[string]string{
		"SENTIANCE_REGION": app.DefaultRegion, "EXTERNAL_ID_CLAIM": app.DefaultExternalIDClaim,
		"METRICS_NAMESPACE": app.DefaultMetricsNamespace, "JWT_ALGORITHMS": app.DefaultAlgorithms,
		"SECRET_CACHE_TTL": strings.TrimSuffix(app.DefaultSecretTTL.String(), "0s"),
	}
	rows := map[string]string{}
	for _, r := range ops.rows(regexp.MustCompile("^`[A-Z_]+`$")) {
		rows[strings.Trim(r[0], "`")] = r[1]
	}
	for v, d := range defaults {
		if rows[v] != "`"+d+"`" {
			t.Errorf("docs/operations.md gives %s's default as %s, the code %q", v, rows[v], d)
		}
	}

	localPage := find(t, all, "docs/local-mode.md")
	var listed []string
	for _, r := range localPage.rows(regexp.MustCompile("^`[A-Z_]+`$")) {
		listed = append(listed, strings.Trim(r[0], "`"))
	}
	var want []string
	for _, v := range local.Variables {
		want = append(want, v[0])
	}
	if !slices.Equal(listed, want) {
		t.Errorf("docs/local-mode.md lists %v, local mode reads %v", listed, want)
	}

	var named []string
	for _, r := range ops.rows(regexp.MustCompile("^`[A-Z][A-Za-z]+`$")) {
		if m := strings.Trim(r[0], "`"); strings.ToUpper(m) != m {
			named = append(named, m)
		}
	}
	if !slices.Equal(slices.Sorted(slices.Values(named)), slices.Sorted(slices.Values(metrics.Names()))) {
		t.Errorf("docs/operations.md's metrics table lists %v, the function emits %v", named, metrics.Names())
	}
}

// The guided deploy's table has a row for every template parameter, in
// template order, with its default.
func TestGuidedDeployTable(t *testing.T) {
	readme := find(t, pages(t), "README.md")
	var got []string
	for _, r := range readme.rows(regexp.MustCompile("^`Parameter ")) {
		got = append(got, strings.Trim(strings.TrimPrefix(r[0], "`Parameter "), "`"))
	}
	var want []string
	for _, p := range templateParameters(t) {
		want = append(want, fmt.Sprintf("%s [%s]:", p.name, p.def))
	}
	if !slices.Equal(got, want) {
		t.Errorf("README.md's guided deploy prompts:\n%v\nthe template asks, in order:\n%v", got, want)
	}
}

type parameter struct{ name, def string }

// templateParameters reads the template's parameters in order, with their
// defaults as SAM CLI shows them.
func templateParameters(t *testing.T) []parameter {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(testenv.RepoRoot(t), "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	body := string(raw)
	start := strings.Index(body, "\nParameters:\n") + 1
	end := start + regexp.MustCompile(`\n\S`).FindStringIndex(body[start:])[0] // the next top-level key
	var out []parameter
	for _, l := range strings.Split(body[start:end], "\n") {
		switch {
		case regexp.MustCompile(`^  [A-Za-z]+:$`).MatchString(l):
			out = append(out, parameter{name: strings.TrimSuffix(strings.TrimSpace(l), ":")})
		case strings.HasPrefix(l, "    Default:") && len(out) > 0:
			out[len(out)-1].def = strings.Trim(strings.TrimSpace(strings.TrimPrefix(l, "    Default:")), `"`)
		}
	}
	return out
}

// The README's date command prints the expiry of a key made today, in a
// form the function reads.
func TestExpiryCommand(t *testing.T) {
	readme := find(t, pages(t), "README.md")
	var line string
	for _, b := range readme.blocks() {
		for _, l := range b.lines {
			if strings.HasPrefix(l, "EXPIRES=$(") {
				line = l
			}
		}
	}
	if line == "" {
		t.Fatal("README.md computes no EXPIRES")
	}
	cmd := strings.TrimSpace(strings.SplitN(strings.TrimSuffix(strings.SplitN(line, "   #", 2)[0], " "), "=$(", 2)[1])
	cmd = strings.TrimSuffix(cmd, ")")
	out, err := exec.Command("sh", "-c", cmd).Output()
	want := time.Now().UTC().AddDate(1, 0, 0).Format(time.DateOnly)
	if err != nil || strings.TrimSpace(string(out)) != want {
		t.Errorf("%s printed %q (%v), want %s", cmd, out, err, want)
	}
	if _, err := secret.ParseExpiry(strings.TrimSpace(string(out))); err != nil {
		t.Errorf("the function cannot read %q: %v", out, err)
	}
}

// Every test the guide names as proof exists, in one module or the other.
func TestNamedTestsExist(t *testing.T) {
	root := testenv.RepoRoot(t)
	var sources strings.Builder
	_ = filepath.WalkDir(root, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, "_test.go") {
			raw, _ := os.ReadFile(path)
			sources.Write(raw)
		}
		return nil
	})
	named := regexp.MustCompile("`((?:Test|Fuzz)[A-Z][A-Za-z0-9]*)")
	seen := 0
	for _, p := range pages(t) {
		for _, m := range named.FindAllStringSubmatch(strings.Join(p.lines, "\n"), -1) {
			seen++
			if !strings.Contains(sources.String(), "func "+m[1]+"(") {
				t.Errorf("%s names %s, which no test file defines", p.path, m[1])
			}
		}
	}
	if seen < 20 {
		t.Errorf("only %d test names found; the check proves little", seen)
	}
}
