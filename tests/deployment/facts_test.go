package deployment

import (
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/sentiance-authcode/backend/internal/app"
	"github.com/sentiance-authcode/backend/internal/authcode"
)

// Facts the template and openapi.yaml repeat are the code's: each is one
// constant in the package that owns it, and this test fails when a copy
// drifts from it.
func TestFactsAreTheCodes(t *testing.T) {
	tpl := expand(t)
	if got := at(tpl, "Parameters", "ExternalIdClaim", "Default"); got != app.DefaultExternalIDClaim {
		t.Errorf("ExternalIdClaim defaults to %v; the function to %s", got, app.DefaultExternalIDClaim)
	}
	// The key a user puts in reaches every instance within the cache's TTL.
	desc, _ := at(tpl, "Outputs", "PutKeyCommand", "Description").(string)
	if want := fmt.Sprintf("within %d minutes", int(app.DefaultSecretTTL.Minutes())); !strings.Contains(desc, want) {
		t.Errorf("PutKeyCommand's description does not say %q (app.DefaultSecretTTL): %s", want, desc)
	}

	spec := yamlFile(t, "openapi.yaml")
	schemas := at(spec, "components", "schemas").(map[string]any)
	body, required := jsonFields(reflect.TypeFor[authcode.SuccessBody]())
	checkSchema(t, "the 200 body", schemas, body, required)
	problem, required := jsonFields(reflect.TypeFor[authcode.Problem]())
	checkSchema(t, "the problem document", schemas, problem, required)

	// Every status the function answers is documented, on both routes where
	// it applies (a GET takes no body, so no 400/413/415).
	bodyOnly := []int{400, 413, 415}
	for path, method := range authcode.Routes {
		responses, _ := at(spec, "paths", path, strings.ToLower(method), "responses").(map[string]any)
		for _, r := range authcode.Reasons() {
			status := r.Spec().Status
			if status == 404 || status == 405 || method == "GET" && slices.Contains(bodyOnly, status) {
				continue // the gateway answers unknown routes and methods itself
			}
			if _, ok := responses[fmt.Sprint(status)]; !ok {
				t.Errorf("openapi.yaml: %s %s does not document %d (%s)", method, path, status, r)
			}
		}
	}
	rawSpec, err := os.ReadFile(filepath.Join(root, "openapi.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	raw := string(rawSpec)
	if want := fmt.Sprintf("%d KiB", authcode.MaxBodyBytes>>10); !strings.Contains(raw, want) {
		t.Errorf("openapi.yaml does not give the body limit as %s (authcode.MaxBodyBytes)", want)
	}
	if n := len(regexp.MustCompile(regexp.QuoteMeta(authcode.ProblemTypePrefix)).FindAllString(raw, -1)); n < len(authcode.Reasons()) {
		t.Errorf("openapi.yaml names the problem types %d times with authcode.ProblemTypePrefix, want every reason's", n)
	}
}

// jsonFields are the JSON names of typ's fields, embedded structs' included,
// and those without omitempty.
func jsonFields(typ reflect.Type) (all, required []string) {
	for f := range typ.Fields() {
		if f.Anonymous {
			a, r := jsonFields(f.Type)
			all, required = append(all, a...), append(required, r...)
			continue
		}
		name, opts, _ := strings.Cut(f.Tag.Get("json"), ",")
		all = append(all, name)
		if opts != "omitempty" {
			required = append(required, name)
		}
	}
	return all, required
}

// checkSchema finds the schema whose properties are exactly fields and
// checks its required list.
func checkSchema(t *testing.T, what string, schemas map[string]any, fields, required []string) {
	t.Helper()
	slices.Sort(fields)
	slices.Sort(required)
	for name, s := range schemas {
		props, _ := at(s, "properties").(map[string]any)
		var got []string
		for p := range props {
			got = append(got, p)
		}
		slices.Sort(got)
		if !slices.Equal(got, fields) {
			continue
		}
		var req []string
		req = append(req, asList(at(s, "required"))...)
		slices.Sort(req)
		if !slices.Equal(req, required) {
			t.Errorf("openapi.yaml schema %s (%s) requires %v; the code always sends %v", name, what, req, required)
		}
		return
	}
	t.Errorf("openapi.yaml has no schema with exactly the fields of %s: %v", what, fields)
}
