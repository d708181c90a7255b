// Package pytools tests pytools.sh, which installs the Python tools of the integration tier.
package pytools

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// pins is the one pip command line a fresh machine runs, after the venv's python3.
const pins = "moto[server]==5.2.1 cfn-lint==1.51.0 openapi-spec-validator==0.9.0 aws-sam-translator==1.110.0"

const howPython = "install it, e.g. apt-get install python3 python3-venv, brew install python@3.12"

// inventoryOrder is the order pytools.sh asks python3 about; "python" is the
// interpreter itself.
var inventoryOrder = []string{"python", "moto", "cfn-lint", "openapi-spec-validator", "aws-sam-translator", "PyYAML", "flask", "flask-cors"}

// preinstalled is what these machines have; "-" marks a package as missing.
var preinstalled = map[string]string{
	"python": "3.11.7", "moto": "5.2.1", "cfn-lint": "1.51.0", "openapi-spec-validator": "0.9.0",
	"aws-sam-translator": "1.110.0", "PyYAML": "6.0.3", "flask": "3.1.3", "flask-cors": "6.0.2",
}

// with is preinstalled with some versions changed.
func with(kv ...string) map[string]string {
	m := maps.Clone(preinstalled)
	for i := 0; i < len(kv); i += 2 {
		m[kv[i]] = kv[i+1]
	}
	return m
}

// venvOK is a fake `python -m venv --clear DIR`: DIR/bin/python3 records its
// arguments (the pip call) in DIR/pip-args and exits with $PIP_EXIT.
const venvOK = `mkdir -p "$4/bin"
cat >"$4/bin/python3" <<'EOF'
#!/bin/sh
echo "$@" >>"${0%/*}/../pip-args"
exit "${PIP_EXIT:-0}"
EOF
chmod +x "$4/bin/python3"
exit 0`

// venvNoEnsurepip is what `python3 -m venv` says on Debian without python3-venv.
const venvNoEnsurepip = `echo "The virtual environment was not created successfully because ensurepip is not"
echo "available.  On Debian/Ubuntu systems, you need to install the python3-venv"
echo "package using the following command."
exit 1`

// fakePython is a python shim: -c answers pytools.sh's inventory with inv,
// -m venv runs venv (a shell fragment, $4 is the folder).
func fakePython(inv map[string]string, venv string) string {
	var b strings.Builder
	for _, k := range inventoryOrder {
		fmt.Fprintf(&b, "%s %s\n", k, inv[k])
	}
	return fmt.Sprintf("#!/bin/sh\nif [ \"$1\" = -c ]; then\ncat <<'EOF'\n%sEOF\nexit 0\nfi\nif [ \"$1 $2\" = \"-m venv\" ]; then\n%s\nfi\nexit 1\n", b.String(), venv)
}

// machine is a fake PATH: the executables in bin (name to script) plus only
// the system tools the script and the shims use, so a real python3 in
// /usr/bin cannot leak into the test.
type machine struct {
	bin  map[string]string
	env  []string // more variables, e.g. PYTHON
	path string   // set by start
	venv string   // set by start
}

// start writes the machine's PATH into a temporary directory.
func (m *machine) start(t *testing.T) {
	t.Helper()
	dir, sys := t.TempDir(), t.TempDir()
	for name, script := range m.bin {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(script), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for _, tool := range []string{"bash", "env", "sh", "cat", "mkdir", "chmod"} {
		p, err := exec.LookPath(tool)
		if err != nil {
			t.Fatalf("%s not found: the script tests need it", tool)
		}
		if err := os.Symlink(p, filepath.Join(sys, tool)); err != nil {
			t.Fatal(err)
		}
	}
	m.path = dir + string(os.PathListSeparator) + sys
	m.venv = filepath.Join(t.TempDir(), ".venv-tools")
}

// run runs pytools.sh on the machine and returns stdout, stderr, exit code.
func (m *machine) run(t *testing.T, args ...string) (string, string, int) {
	t.Helper()
	env := append([]string{"PATH=" + m.path, "PYTOOLS_VENV=" + m.venv, "HOME=" + t.TempDir()}, m.env...)
	return runScript(t, env, args...)
}

func runScript(t *testing.T, env []string, args ...string) (string, string, int) {
	t.Helper()
	script, err := filepath.Abs("pytools.sh")
	if err != nil {
		t.Fatal(err)
	}
	var stdout, stderr bytes.Buffer
	cmd := exec.Command(script, args...)
	cmd.Env, cmd.Stdout, cmd.Stderr = env, &stdout, &stderr
	err = cmd.Run()
	var exit *exec.ExitError
	if err != nil && !errors.As(err, &exit) {
		t.Fatal(err)
	}
	return stdout.String(), stderr.String(), cmd.ProcessState.ExitCode()
}

// shim is an executable that only exists (moto_server, cfn-lint on PATH).
const shim = "#!/bin/sh\nexit 0\n"

func TestPlan(t *testing.T) {
	install := "then run: {venv}/bin/python3 -m pip install --disable-pip-version-check " + pins
	tests := []struct {
		name string
		m    machine
		rows []string // lines of the report, each as a prefix ("moto", status)
		plan string   // the last line; {venv} and {bin} are replaced
	}{
		{
			name: "all present: use them",
			m:    machine{bin: map[string]string{"python3": fakePython(preinstalled, venvOK), "moto_server": shim, "cfn-lint": shim}},
			rows: []string{"moto found 5.2.1", "cfn-lint found 1.51.0", "aws-sam-translator found 1.110.0", "openapi-spec-validator found 0.9.0", "PyYAML found 6.0.3"},
			plan: "plan: use the tools on PATH (no venv)",
		},
		{
			name: "newer than the pins: use them",
			m: machine{bin: map[string]string{"python3": fakePython(with("python", "3.13.0", "moto", "5.10.0", "cfn-lint", "1.100.0"), venvOK),
				"moto_server": shim, "cfn-lint": shim}},
			rows: []string{"python3 found 3.13.0 at {bin}/python3", "moto found 5.10.0", "cfn-lint found 1.100.0"},
			plan: "plan: use the tools on PATH (no venv)",
		},
		{
			name: "moto too old",
			m:    machine{bin: map[string]string{"python3": fakePython(with("moto", "5.1.9"), venvOK), "moto_server": shim, "cfn-lint": shim}},
			rows: []string{"moto too old (5.1.9 < 5.2.1)", "cfn-lint found 1.51.0"},
			plan: "plan: create {venv} with {bin}/python3, " + install,
		},
		{
			name: "cfn-lint 1.9 is older than 1.51 (numeric compare)",
			m:    machine{bin: map[string]string{"python3": fakePython(with("cfn-lint", "1.9.0"), venvOK), "moto_server": shim, "cfn-lint": shim}},
			rows: []string{"cfn-lint too old (1.9.0 < 1.51.0)"},
			plan: "plan: create {venv} with {bin}/python3, " + install,
		},
		{
			name: "moto_server not on PATH",
			m:    machine{bin: map[string]string{"python3": fakePython(preinstalled, venvOK), "cfn-lint": shim}},
			rows: []string{"moto found 5.2.1, but moto_server is not on PATH"},
			plan: "plan: create {venv} with {bin}/python3, " + install,
		},
		{
			name: "flask and openapi-spec-validator missing",
			m: machine{bin: map[string]string{"python3": fakePython(with("flask", "-", "openapi-spec-validator", "-"), venvOK),
				"moto_server": shim, "cfn-lint": shim}},
			rows: []string{"flask missing", "openapi-spec-validator missing", "flask-cors found 6.0.2"},
			plan: "plan: create {venv} with {bin}/python3, " + install,
		},
		{
			name: "python3 on PATH is 3.9, PYTHON names a 3.12",
			m: machine{
				bin: map[string]string{"python3": fakePython(with("python", "3.9.2"), venvOK),
					"python3.12": fakePython(with("python", "3.12.1"), venvOK), "moto_server": shim, "cfn-lint": shim},
				env: []string{"PYTHON=python3.12"},
			},
			rows: []string{"python3 too old (3.9.2 < 3.11) at {bin}/python3"},
			plan: "plan: create {venv} with {bin}/python3.12, " + install,
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tt.m.start(t)
			bin := strings.SplitN(tt.m.path, ":", 2)[0]
			out, errOut, code := tt.m.run(t, "--plan")
			if code != 0 || errOut != "" {
				t.Fatalf("exit %d, stderr %q", code, errOut)
			}
			lines := strings.Split(strings.TrimSuffix(out, "\n"), "\n")
			want := strings.NewReplacer("{venv}", tt.m.venv, "{bin}", bin).Replace(tt.plan)
			if got := lines[len(lines)-1]; got != want {
				t.Errorf("plan:\n got %s\nwant %s", got, want)
			}
			fields := map[string]string{}
			for _, l := range lines[:len(lines)-1] {
				f := strings.Fields(l)
				fields[f[0]] = strings.Join(f, " ")
			}
			for _, r := range tt.rows {
				r = strings.ReplaceAll(r, "{bin}", bin)
				if got := fields[strings.Fields(r)[0]]; got != r {
					t.Errorf("row: got %q, want %q\n%s", got, r, out)
				}
			}
			// Planning never installs.
			if _, err := os.Stat(tt.m.venv); !os.IsNotExist(err) {
				t.Errorf("--plan touched the venv folder: %v", err)
			}
		})
	}
}

func TestAllPresentPrintsNothing(t *testing.T) {
	m := machine{bin: map[string]string{"python3": fakePython(preinstalled, venvOK), "moto_server": shim, "cfn-lint": shim}}
	m.start(t)
	out, errOut, code := m.run(t)
	if code != 0 || out != "" || errOut != "" {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 0 and nothing", code, out, errOut)
	}
	if _, err := os.Stat(m.venv); !os.IsNotExist(err) {
		t.Errorf("made a venv although the tools are there: %v", err)
	}
}

func TestNoPython311(t *testing.T) {
	tests := []struct {
		name string
		bin  map[string]string
		env  []string
		want string // {bin} is the fake PATH directory
	}{
		{"python3 is 3.9", map[string]string{"python3": fakePython(with("python", "3.9.2"), venvOK)}, nil,
			"make test needs Python 3.11 or newer (found 3.9.2 at {bin}/python3): " + howPython},
		{"no python3", map[string]string{}, nil,
			"make test needs Python 3.11 or newer (no python3 on PATH): " + howPython},
		{"python3 does not run", map[string]string{"python3": "#!/bin/sh\nexit 127\n"}, nil,
			"make test needs Python 3.11 or newer (found an unknown version at {bin}/python3): " + howPython},
		{"PYTHON names a 3.10", map[string]string{"python3": fakePython(preinstalled, venvOK), "py310": fakePython(with("python", "3.10.12"), venvOK)},
			[]string{"PYTHON=py310"}, "make test needs Python 3.11 or newer (found 3.10.12 at {bin}/py310): " + howPython},
	}
	for _, tt := range tests {
		for _, args := range [][]string{nil, {"--plan"}} {
			t.Run(fmt.Sprint(tt.name, args), func(t *testing.T) {
				m := machine{bin: tt.bin, env: tt.env}
				m.start(t)
				out, errOut, code := m.run(t, args...)
				want := strings.ReplaceAll(tt.want, "{bin}", strings.SplitN(m.path, ":", 2)[0]) + "\n"
				if code == 0 || out != "" || errOut != want {
					t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant non-zero, no stdout, stderr:\n%s", code, out, errOut, want)
				}
			})
		}
	}
}

// TestInstall runs the install path against a fake venv and pip.
func TestInstall(t *testing.T) {
	m := machine{bin: map[string]string{"python3": fakePython(with("moto", "-"), venvOK), "cfn-lint": shim}}
	m.start(t)
	progress := "pytools: installing the pinned Python tools into " + m.venv + " (first run; needs internet)\n"
	pipLine := "-m pip install --disable-pip-version-check " + pins + "\n"

	out, errOut, code := m.run(t)
	if code != 0 || out != m.venv+"/bin\n" || errOut != progress {
		t.Fatalf("exit %d, stdout %q, stderr %q; want 0, %q, %q", code, out, errOut, m.venv+"/bin\n", progress)
	}
	if got := readFile(t, filepath.Join(m.venv, "pip-args")); got != pipLine {
		t.Errorf("pip called with:\n%s\nwant:\n%s", got, pipLine)
	}
	if got := readFile(t, filepath.Join(m.venv, ".pins")); got != pins+"\n" {
		t.Errorf("stamp %q, want %q", got, pins+"\n")
	}

	// The stamp matches: the next run uses the venv and installs nothing.
	out, errOut, code = m.run(t)
	if code != 0 || out != m.venv+"/bin\n" || errOut != "" {
		t.Fatalf("second run: exit %d, stdout %q, stderr %q", code, out, errOut)
	}
	if got := readFile(t, filepath.Join(m.venv, "pip-args")); got != pipLine {
		t.Errorf("second run called pip again:\n%s", got)
	}
	out, _, _ = m.run(t, "--plan")
	if want := "plan: use " + m.venv + "/bin (the pins are installed there)\n"; !strings.HasSuffix(out, want) {
		t.Errorf("plan after install:\n%s\nwant last line %q", out, want)
	}

	// Other pins in the stamp (an older checkout's): install again.
	if err := os.WriteFile(filepath.Join(m.venv, ".pins"), []byte("moto[server]==5.0.0\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errOut, code = m.run(t); code != 0 || errOut != progress {
		t.Fatalf("stale stamp: exit %d, stderr %q", code, errOut)
	}
	// (The fake venv keeps pip-args across --clear: it lists both calls.)
	if got := readFile(t, filepath.Join(m.venv, "pip-args")); got != pipLine+pipLine {
		t.Errorf("stale stamp: pip calls:\n%s\nwant a second:\n%s", got, pipLine)
	}
}

func TestInstallFails(t *testing.T) {
	tests := []struct {
		name string
		venv string
		env  []string
		want string // {venv} and {bin} are replaced
	}{
		{"pip fails", venvOK, []string{"PIP_EXIT=1"},
			"make test: pip could not install " + pins + " into {venv} (see {venv}/pip.log): connect to the internet (pypi.org) and run make test again"},
		{"no ensurepip", venvNoEnsurepip, nil,
			"make test: {bin}/python3 cannot create a virtual environment (no ensurepip): install python3.11-venv (apt-get install python3.11-venv) and run make test again"},
		{"venv fails otherwise", "echo 'Error: [Errno 13] Permission denied'; exit 1", nil,
			"make test: {bin}/python3 -m venv {venv} failed (Error: [Errno 13] Permission denied): fix that or install " + pins + " on PATH yourself"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m := machine{bin: map[string]string{"python3": fakePython(with("cfn-lint", "1.50.0"), tt.venv), "moto_server": shim, "cfn-lint": shim}, env: tt.env}
			m.start(t)
			out, errOut, code := m.run(t)
			want := strings.NewReplacer("{venv}", m.venv, "{bin}", strings.SplitN(m.path, ":", 2)[0]).Replace(tt.want)
			lines := strings.Split(strings.TrimSuffix(errOut, "\n"), "\n")
			// The progress line, then the failure in one line.
			if code == 0 || out != "" || len(lines) != 2 || lines[1] != want {
				t.Errorf("exit %d, stdout %q, stderr:\n%s\nwant non-zero, no stdout, last of two lines:\n%s", code, out, errOut, want)
			}
			if _, err := os.Stat(filepath.Join(m.venv, ".pins")); !os.IsNotExist(err) {
				t.Errorf("stamp written after a failed install: %v", err)
			}
		})
	}
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}
