package docs

import (
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/sentiance-authcode/backend/devtools/devidp"
	"github.com/sentiance-authcode/backend/devtools/local"
	"github.com/sentiance-authcode/backend/internal/secret"
	"github.com/sentiance-authcode/backend/tests/testenv"
)

// command is one shell command of a page's sh blocks: continuation lines
// joined, the comment cut, and the leading VAR=value words apart.
type command struct {
	where string
	env   []string // NAME=value words before the command
	words []string // the command and its arguments
	text  string
}

// commands are every command of every sh block, split at && ; | and with
// each $( ... ) taken out as a command of its own, so that each program is
// checked on its own. A shell function's body is checked as commands, and
// its name becomes a program of that page.
func commands(t *testing.T) []command {
	t.Helper()
	var out []command
	subst := regexp.MustCompile(`\$\(([^()]*)\)`)
	function := regexp.MustCompile(`^\s*(\w+)\(\)\s*\{(.*)\}\s*$`)
	for _, p := range pages(t) {
		for _, b := range p.blocks() {
			if b.lang != "sh" {
				continue
			}
			joined := strings.ReplaceAll(strings.Join(b.lines, "\n"), "\\\n", " ")
			for _, line := range strings.Split(joined, "\n") {
				line = regexp.MustCompile(`(^|\s)#\s.*$`).ReplaceAllString(line, "")
				if m := function.FindStringSubmatch(line); m != nil {
					out = append(out, command{where: p.path, words: []string{"function", m[1]}, text: m[2]})
					line = m[2]
				}
				var parts []string
				for subst.MatchString(line) {
					for _, m := range subst.FindAllStringSubmatch(line, -1) {
						parts = append(parts, m[1])
					}
					line = subst.ReplaceAllString(line, "X")
				}
				for _, part := range append(parts, regexp.MustCompile(`&&|\|\||;|\|`).Split(line, -1)...) {
					words := strings.Fields(part)
					c := command{where: p.path, text: strings.TrimSpace(part)}
					for len(words) > 0 && regexp.MustCompile(`^[A-Z_][A-Z0-9_]*=`).MatchString(words[0]) {
						c.env, words = append(c.env, words[0]), words[1:]
					}
					if c.words = words; len(words) > 0 {
						out = append(out, c)
					} else if len(c.env) > 0 && strings.Contains(part, "=") {
						out = append(out, c) // a bare assignment, checked for its name below
					}
				}
			}
		}
	}
	return out
}

// programs are the commands the guide may show; a new one must be added
// here, with a check, before it can appear.
var programs = []string{"make", "sam", "aws", "curl", "go", "read", "export", "unset", "date", "jq", "auth0", "cd", "gh", "printf"}

// Every command names only what exists: make targets and the variables the
// Makefile reads, sam subcommands and samconfig environments, the stack's
// outputs, the secret's fields, the doctor's flags, and the variables the
// function, local mode or the AWS SDK read.
func TestCommandsNameWhatExists(t *testing.T) {
	root := testenv.RepoRoot(t)
	makefile, err := os.ReadFile(filepath.Join(root, "Makefile"))
	if err != nil {
		t.Fatal(err)
	}
	template, err := os.ReadFile(filepath.Join(root, "template.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	known := knownVariables(t)
	cmds := commands(t)
	if len(cmds) < 20 {
		t.Fatalf("found only %d commands; the parser proves nothing", len(cmds))
	}
	outputs := template[strings.Index(string(template), "\nOutputs:"):]
	functions := map[string]string{} // page's shell functions: name, body
	for _, c := range cmds {
		if len(c.words) == 0 {
			continue // a shell variable for the commands after it, such as an ARN
		}
		if c.words[0] == "function" {
			functions[c.where+" "+c.words[1]] = c.text
			continue
		}
		for _, e := range c.env {
			if name, _, _ := strings.Cut(e, "="); !known[name] && !strings.HasPrefix(name, "AWS_") {
				t.Errorf("%s: %s sets %s, which nothing reads", c.where, c.text, name)
			}
		}
		prog := c.words[0]
		if strings.Contains(c.text, `"`+secret.KeyField+`"`) {
			var names []string
			for _, f := range regexp.MustCompile(`\\?"(\w+)\\?":`).FindAllStringSubmatch(c.text, -1) {
				names = append(names, f[1])
			}
			if !slices.Equal(names, []string{secret.KeyField, secret.ExpiryField}) {
				t.Errorf("%s: %s stores fields %v, the function reads %s and %s", c.where, c.text, names, secret.KeyField, secret.ExpiryField)
			}
		}
		// A program's arguments are visible to every user of the machine: a
		// secret reaches it on stdin, from a shell builtin.
		if !slices.Contains([]string{"printf", "read", "export", "unset"}, prog) &&
			regexp.MustCompile(`\$\{?(PASSWORD|SENTIANCE_KEY|SENTIANCE_USER_LINK_KEY|AUTHCODE_TOKEN)\b`).MatchString(c.text) {
			t.Errorf("%s: %s puts a secret on its command line; pass it on stdin", c.where, c.text)
		}
		body, isFunction := functions[c.where+" "+prog]
		switch {
		case isFunction:
			// A function that reads one stack output ('$1') must be called with an output's name.
			if strings.Contains(body, "OutputKey=='$1'") && (len(c.words) < 2 || !regexp.MustCompile(`(?m)^  `+regexp.QuoteMeta(c.words[1])+`:$`).Match(outputs)) {
				t.Errorf("%s: %s reads an output the template does not have", c.where, c.text)
			}
		case !slices.Contains(programs, prog):
			t.Errorf("%s: %s runs %s, which the guide's test does not know", c.where, c.text, prog)
		case prog == "make":
			for _, w := range c.words[1:] {
				if name, _, ok := strings.Cut(w, "="); ok {
					if !strings.Contains(string(makefile), "$("+name+")") {
						t.Errorf("%s: %s passes %s, which the Makefile does not read", c.where, c.text, name)
					}
				} else if !regexp.MustCompile(`(?m)^` + regexp.QuoteMeta(w) + `:`).Match(makefile) {
					t.Errorf("%s: %s: the Makefile has no target %s", c.where, c.text, w)
				}
			}
		case prog == "sam":
			if len(c.words) < 2 || !slices.Contains([]string{"validate", "build", "deploy", "pipeline", "delete", "logs"}, c.words[1]) {
				t.Errorf("%s: %s: not a sam command this project uses", c.where, c.text)
			}
			for i, w := range c.words {
				if w == "--config-env" && (i+1 >= len(c.words) || !samconfigHas(t, root, c.words[i+1])) {
					t.Errorf("%s: %s: samconfig.toml has no such environment", c.where, c.text)
				}
			}
		case prog == "aws":
			for _, m := range regexp.MustCompile(`OutputKey=='(\w+)'`).FindAllStringSubmatch(c.text, -1) {
				if !regexp.MustCompile(`(?m)^  ` + m[1] + `:$`).Match(outputs) {
					t.Errorf("%s: %s reads output %s, which the template does not have", c.where, c.text, m[1])
				}
			}
			// argv is visible to every user of the machine: the key comes from stdin.
			if slices.Contains(c.words, "put-secret-value") && !slices.Contains(c.words, "file:///dev/stdin") {
				t.Errorf("%s: %s puts the key on its command line; read it from file:///dev/stdin", c.where, c.text)
			}
		case prog == "go" && len(c.words) > 2 && c.words[1] == "run":
			checkFlags(t, c)
		}
	}
}

// knownVariables are the names the function and local mode read.
func knownVariables(t *testing.T) map[string]bool {
	known := map[string]bool{}
	for _, v := range testenv.FunctionVariables(t) {
		known[v] = true
	}
	for _, v := range local.Variables {
		known[v[0]] = true
	}
	return known
}

// samconfigHas reports whether samconfig.toml has the environment env.
func samconfigHas(t *testing.T, root, env string) bool {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(root, "samconfig.toml"))
	if err != nil {
		t.Fatal(err)
	}
	return regexp.MustCompile(`(?m)^\[` + regexp.QuoteMeta(env) + `\.`).Match(raw)
}

// checkFlags runs the program's -h and checks every flag the command
// passes is one it takes.
func checkFlags(t *testing.T, c command) {
	t.Helper()
	pkg := c.words[2]
	bin := testenv.BuildBootstrap(t, pkg)
	out, _ := exec.Command(bin, "-h").CombinedOutput()
	for _, w := range c.words[3:] {
		if strings.HasPrefix(w, "-") && !strings.Contains(string(out), "\n  "+w+" ") && !strings.Contains(string(out), "\n  "+w+"\n") {
			t.Errorf("%s: %s passes %s, which %s does not take:\n%s", c.where, c.text, w, pkg, out)
		}
	}
}

// `make run`, exactly as the README says, serves the API; its banner's
// first curl line, run as printed, gets a code. (LOCAL_ADDR keeps it off
// the developer's port 3000.)
func TestMakeRun(t *testing.T) {
	root := testenv.RepoRoot(t)
	addr := "127.0.0.1:" + strconv.Itoa(testenv.FreePort(t))
	cmd := exec.Command("make", "--no-print-directory", "run")
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "LOCAL_ADDR="+addr)
	var stderr testenv.SyncBuffer
	cmd.Stderr = &stderr
	// Ctrl-C reaches every process of the terminal's group: make and the
	// server it runs.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGINT)
		_ = cmd.Wait()
	})
	testenv.Poll(t, "make run prints its banner", 3*time.Minute, func() bool { return strings.Contains(stderr.String(), "Ctrl-C stops.") })
	curl := regexp.MustCompile(`(?m)^curl -sS -X POST .*$`).FindString(stderr.String())
	if curl == "" {
		t.Fatalf("no POST curl line in the banner:\n%s", stderr.String())
	}
	out, err := exec.Command("sh", "-c", curl).Output()
	var body map[string]any
	if err != nil || json.Unmarshal(out, &body) != nil || body["authentication_code"] == nil {
		t.Fatalf("%s: %v %s", curl, err, out)
	}
}

// `make doctor`, as the README runs it, against a stack in moto: the stack,
// its secret and a TLS issuer, with a user's token from AUTHCODE_TOKEN.
// Only the region is moto's instead of the README's eu-west-1.
func TestMakeDoctor(t *testing.T) {
	var line string
	for _, c := range commands(t) {
		if c.where == "README.md" && strings.HasPrefix(c.text, "make doctor STACK=") && strings.Contains(c.text, "CALL=1") {
			line = c.text
		}
	}
	if line == "" {
		t.Fatal("README.md shows no make doctor ... CALL=1")
	}
	stack := regexp.MustCompile(`STACK=(\S+)`).FindStringSubmatch(line)[1]
	moto := testenv.StartMoto(t)
	issuer := devidp.Start(t, true)
	api := httptest.NewTLSServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = io.WriteString(w, `{"authentication_code":"`+strings.Repeat("c0de", 32)+`"}`)
	}))
	t.Cleanup(api.Close)
	arn := moto.CreateSecret(t, "user-link", `{"user_link_api_key":"FAKE0000.not-a-real-sentiance-key-e2e9"}`)
	moto.CreateStack(t, stack, testenv.StandInTemplate, map[string]string{
		"JwtIssuer": issuer.URL, "JwtAudience": "app-client", "SecretArn": arn, "Url": api.URL + "/auth-code",
	})
	ca := filepath.Join(t.TempDir(), "ca.pem")
	if err := os.WriteFile(ca, issuer.Certificate(), 0o600); err != nil {
		t.Fatal(err)
	}
	env := moto.Env()
	env["AWS_ENDPOINT_URL_CLOUDFORMATION"] = moto.URL
	env["SSL_CERT_FILE"] = ca
	env["AUTHCODE_TOKEN"] = issuer.Token(t, jwt.MapClaims{"sub": "user-1", "client_id": "app-client", "token_use": "access"})
	run := func() (string, int) {
		cmd := exec.Command("sh", "-c", regexp.MustCompile(`REGION=\S+`).ReplaceAllString(line, "REGION="+env["AWS_REGION"]))
		cmd.Dir = testenv.RepoRoot(t)
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME"), "GOCACHE=" + goEnv(t, "GOCACHE"), "GOMODCACHE=" + goEnv(t, "GOMODCACHE")}
		for k, v := range env {
			cmd.Env = append(cmd.Env, k+"="+v)
		}
		out, _ := cmd.CombinedOutput()
		return string(out), cmd.ProcessState.ExitCode()
	}
	if out, code := run(); code != 0 || !strings.Contains(out, "ok    call     POST") || strings.Contains(out, "FAIL") {
		t.Fatalf("%s: exit %d\n%s", line, code, out)
	}
	// A failed check: the doctor exits 1, which make reports as Error 1 and
	// exits 2 for, as the README says.
	env["AUTHCODE_TOKEN"] = issuer.Token(t, jwt.MapClaims{"sub": "user-1", "client_id": "app-client", "exp": time.Now().Add(-time.Hour).Unix()})
	if out, code := run(); code != 2 || !strings.Contains(out, "FAIL  token") || !strings.Contains(out, "Error 1") {
		t.Errorf("%s with an expired token: exit %d\n%s", line, code, out)
	}
}

func goEnv(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command("go", "env", name).Output()
	if err != nil {
		t.Fatal(err)
	}
	return strings.TrimSpace(string(out))
}
