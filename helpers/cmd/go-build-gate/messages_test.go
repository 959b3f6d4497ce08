package main

import (
	"context"
	"net"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// helperFlag matches a helper flag such as --allow-list: a step's errors must never name one.
var helperFlag = regexp.MustCompile(`(^|[\s(,'"])--[a-z]`)

// TestStepErrorsNameTheJenkinsfileKeyAndValueNeverAFlag drives `run` with the runner's params document, as goBuildGate
// writes it, for each error a Jenkinsfile author can cause in the checks.
func TestStepErrorsNameTheJenkinsfileKeyAndValueNeverAFlag(t *testing.T) {
	goEnv(t)
	plain := t.TempDir()                                     // no go.mod, not a git repository
	t.Setenv("GIT_CEILING_DIRECTORIES", filepath.Dir(plain)) // whatever TMPDIR lies in, git looks no higher
	spec, _ := filepath.Abs(filepath.Join(fixture, "docs", "v1", "swagger.json"))
	head, _ := filepath.Abs(filepath.Join(fixture, "docs", "v2-breaking", "swagger.json"))
	repo := gitRepo(t, head)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	busy := "http://" + ln.Addr().String() + "/healthz"
	cases := []struct {
		name   string
		params map[string]any
		wants  []string
	}{
		{"a dir without go.mod", map[string]any{"checks": []string{"modverify"}, "dir": plain},
			[]string{"no go.mod in " + plain, "fix dir: '" + plain + "'"}},
		{"a missing head spec", map[string]any{"checks": []string{"apidiff"}, "dir": plain, "spec": "nope/swagger.json", "baseSpec": spec},
			[]string{"nope/swagger.json: no such file or directory (spec: 'nope/swagger.json')"}},
		{"a missing base spec", map[string]any{"checks": []string{"apidiff"}, "dir": plain, "spec": spec, "baseSpec": "release/swagger.json"},
			[]string{"(baseSpec: 'release/swagger.json')"}},
		{"a missing allow list", map[string]any{"checks": []string{"apidiff"}, "dir": plain, "spec": spec, "baseSpec": spec, "allowList": "accepted.yaml"},
			[]string{"accepted.yaml: no such file or directory (allowList: 'accepted.yaml')"}},
		{"a base ref that is not in the repository", map[string]any{"checks": []string{"apidiff"}, "dir": repo, "spec": "docs/swagger.json", "baseRef": "v9.9.9"},
			[]string{`base ref "v9.9.9" not found`, "fix baseRef: 'v9.9.9'"}},
		{"a base path not in the ref", map[string]any{"checks": []string{"apidiff"}, "dir": repo, "spec": "docs/swagger.json", "baseRef": "v1.0.0", "basePath": "api/swagger.json"},
			[]string{"set basePath: 'api/swagger.json' to where the spec lived"}},
		{"a tag pattern that matches no tag", map[string]any{"checks": []string{"apidiff"}, "dir": repo, "spec": "docs/swagger.json", "tagPattern": "orders/v*"},
			[]string{"fix tagPattern: 'orders/v*', or set baseRef or baseSpec"}},
		{"no git repository to find the base in", map[string]any{"checks": []string{"apidiff"}, "dir": plain, "spec": spec},
			[]string{"is not in a git repository: set baseSpec"}},
		{"a health URL that is not http", map[string]any{"checks": []string{"smoke"}, "dir": plain, "smokeCommand": "./orders", "healthUrl": "ftp://127.0.0.1/healthz"},
			[]string{"healthUrl: 'ftp://127.0.0.1/healthz': want http(s)://127.0.0.1:PORT/path"}},
		{"a health port already taken", map[string]any{"checks": []string{"smoke"}, "dir": plain, "smokeCommand": "./orders", "healthUrl": busy},
			[]string{"is already in use", "point healthUrl: '" + busy + "' at a free port"}},
		{"a service binary that does not exist", map[string]any{"checks": []string{"smoke"}, "dir": plain, "smokeCommand": "./bin/orders-missing", "healthUrl": "http://127.0.0.1:" + freePort(t) + "/healthz"},
			[]string{"cannot start", "(smokeCommand: './bin/orders-missing')"}},
		{"baseSpec with baseRef", map[string]any{"checks": []string{"apidiff"}, "baseSpec": "a.json", "baseRef": "v1.4.0"},
			[]string{"baseSpec: 'a.json' and baseRef: 'v1.4.0' are both set"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			c.params["junit"] = false
			c.params["resultFile"] = filepath.Join(t.TempDir(), "goBuildGate.json")
			doc := map[string]any{"step": "goBuildGate", "context": map[string]any{}, "secrets": map[string]any{}, "params": c.params}
			code, r, stderr := runCLI(t, context.Background(), "run", "--params", writeParams(t, doc))
			if code != 2 {
				t.Fatalf("exit %d, want 2: %s\n%s", code, r.Message, stderr)
			}
			for _, w := range c.wants {
				if !strings.Contains(r.Message, w) {
					t.Errorf("message lacks %q:\n%s", w, r.Message)
				}
			}
			if helperFlag.MatchString(strings.ReplaceAll(r.Message, "git fetch --tags", "git fetch")) {
				t.Errorf("message names a helper flag:\n%s", r.Message)
			}
		})
	}
}

// TestCLIErrorsStillNameTheFlags: the same checks, run as verbs, speak the CLI's words.
func TestCLIErrorsStillNameTheFlags(t *testing.T) {
	plain := t.TempDir()
	spec, _ := filepath.Abs(filepath.Join(fixture, "docs", "v1", "swagger.json"))
	missing := filepath.Join(plain, "accepted.yaml")
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("the allow list exists")
	}
	code, r, _ := runCLI(t, context.Background(), "apidiff", "--spec", spec, "--base-spec", spec, "--allow-list", missing)
	if code != 2 || !strings.Contains(r.Message, "(--allow-list)") {
		t.Fatalf("exit %d: %s", code, r.Message)
	}
	code, r, _ = runCLI(t, context.Background(), "smoke", "--cmd", "./orders", "--url", "ftp://127.0.0.1/healthz")
	if code != 2 || !strings.Contains(r.Message, "smoke: --url ftp://127.0.0.1/healthz: want http(s)://") {
		t.Fatalf("exit %d: %s", code, r.Message)
	}
}

// TestBareParamsErrorsNameTheDocumentsKeys: a bare params document (no step) is spelled by its own dotted keys.
func TestBareParamsErrorsNameTheDocumentsKeys(t *testing.T) {
	p := writeParams(t, map[string]any{"checks": []string{"smoke"}, "dir": t.TempDir(), "smoke": map[string]any{"command": "./orders", "url": "ftp://127.0.0.1/healthz"}})
	code, r, _ := runCLI(t, context.Background(), "run", "--params", p)
	if code != 2 || !strings.Contains(r.Message, "smoke.url: 'ftp://127.0.0.1/healthz'") {
		t.Fatalf("exit %d: %s", code, r.Message)
	}
}
