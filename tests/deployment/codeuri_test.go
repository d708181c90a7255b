package deployment

import (
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// makefileFunctions returns the logical id and CodeUri of every function
// that sam build builds with its Makefile.
func makefileFunctions(t *testing.T, tpl map[string]any) map[string]string {
	t.Helper()
	fns := map[string]string{}
	for id, r := range at(tpl, "Resources").(map[string]any) {
		if at(r, "Type") == "AWS::Serverless::Function" && at(r, "Metadata", "BuildMethod") == "makefile" {
			uri, ok := at(r, "Properties", "CodeUri").(string)
			if !ok {
				t.Fatalf("%s: CodeUri %v is not a local folder", id, at(r, "Properties", "CodeUri"))
			}
			fns[id] = uri
		}
	}
	if len(fns) == 0 {
		t.Fatal("no function with BuildMethod: makefile; the checks below would prove nothing")
	}
	return fns
}

// sam build (BuildMethod: makefile) copies each function's CodeUri, all of
// it but .aws-sam and .git, into a scratch folder before it runs make. This
// test runs inside make test, after `make tools` and `make pytools` have
// installed everything: what they made must not be in that folder, and the
// folder must stay small.
func TestBuildCopiesOnlySources(t *testing.T) {
	need(t, "make", "apt-get install make")
	cmd := exec.Command("make", "-s", "--no-print-directory", "--eval", "print-cache: ; @echo $(CACHE)", "print-cache")
	cmd.Dir = root
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("make print-cache: %v", err)
	}
	cache := strings.TrimSpace(string(out))
	for id, uri := range makefileFunctions(t, cfnFile(t, "template.yaml")) {
		t.Run(id, func(t *testing.T) {
			dir, err := filepath.Abs(filepath.Join(root, uri))
			if err != nil {
				t.Fatal(err)
			}
			if rel, err := filepath.Rel(dir, cache); err == nil && !strings.HasPrefix(rel, "..") {
				t.Errorf("the Makefile installs tools into %s, inside CodeUri %s: sam build would copy them", cache, dir)
			}
			var size int64
			err = filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
				if err != nil {
					return err
				}
				switch name := d.Name(); {
				case d.IsDir() && (name == ".git" || name == ".aws-sam"):
					return filepath.SkipDir // sam build leaves these out
				case d.IsDir() && (name == ".venv-tools" || name == ".bin" || name == "dist"):
					t.Errorf("%s is inside CodeUri %s: sam build would copy it (tools now live in %s; remove it)", path, uri, cache)
					return filepath.SkipDir
				case d.Type().IsRegular():
					info, err := d.Info()
					if err != nil {
						return err
					}
					size += info.Size()
				}
				return nil
			})
			if err != nil && !os.IsNotExist(err) {
				t.Fatal(err)
			}
			t.Logf("sam build copies %.1f MB for %s", float64(size)/1e6, id)
			// The sources are about 2 MB; a tool install or a binary is tens.
			if size > 8<<20 {
				t.Errorf("CodeUri %s holds %d bytes; something other than sources is in it", uri, size)
			}
		})
	}
}
