package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/gate"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

var fixture = filepath.Join("..", "..", "..", "test", "fixtures", "example-service")

// runCLI drives the real CLI and returns its exit code, the result file and stderr.
func runCLI(t *testing.T, ctx context.Context, args ...string) (int, result.Result, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "r.json")
	var out, errb bytes.Buffer
	code := app.Run(ctx, newApp(), append(append([]string{"go-build-gate"}, args...), "--result-file", path), &out, &errb)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("result file not written (exit %d, stderr %s): %v", code, errb.String(), err)
	}
	var r result.Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatalf("result file is not JSON: %v", err)
	}
	if r.ExitCode != code {
		t.Fatalf("result says exit %d, process exit %d", r.ExitCode, code)
	}
	if code != 0 && (r.Message == "" || strings.Contains(r.Message, "\n")) {
		t.Fatalf("failure message must be one non-empty line: %q", r.Message)
	}
	return code, r, errb.String()
}

// goEnv isolates the go command from the caller's settings.
func goEnv(t *testing.T) {
	t.Setenv("GOTOOLCHAIN", "local")
	t.Setenv("GOFLAGS", "")
	t.Setenv("GOSUMDB", "")
	t.Setenv("GONOSUMDB", "")
	t.Setenv("GOPRIVATE", "")
	t.Setenv("GOPROXY", "")
}

// copyModule copies the example service module into a temp dir.
func copyModule(t *testing.T) string {
	t.Helper()
	dst := t.TempDir()
	for _, f := range []string{"go.mod", "go.sum", "main.go"} {
		b, err := os.ReadFile(filepath.Join(fixture, f))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, f), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func TestModverifyJudgesTheModuleAndTheGoSettings(t *testing.T) {
	cases := []struct {
		name     string
		env      map[string]string
		mutate   func(t *testing.T, dir string)
		wantCode int
		wantMsg  string
		wantItem string // an item that must carry a failure
	}{
		{name: "the example service passes", wantCode: 0},
		{name: "a missing go.mod is bad input", mutate: func(t *testing.T, d string) { os.Remove(filepath.Join(d, "go.mod")) }, wantCode: 2, wantMsg: "no go.mod in"},
		{name: "GOSUMDB=off is rejected", env: map[string]string{"GOSUMDB": "off"}, wantCode: 1, wantMsg: "GOSUMDB=off", wantItem: "GOSUMDB"},
		{name: "a catch-all GONOSUMDB is rejected", env: map[string]string{"GONOSUMDB": "*"}, wantCode: 1, wantItem: "GOSUMDB"},
		{name: "GONOSUMDB scoped to private modules passes", env: map[string]string{"GONOSUMDB": "example.com/private"}, wantCode: 0},
		{name: "GOFLAGS=-mod=mod is rejected", env: map[string]string{"GOFLAGS": "-mod=mod"}, wantCode: 1, wantMsg: "-mod=mod", wantItem: "GOFLAGS"},
		{name: "GOFLAGS=-mod=vendor is rejected", env: map[string]string{"GOFLAGS": "-mod=vendor"}, wantCode: 1, wantItem: "GOFLAGS"},
		{name: "GOPROXY=off is rejected", env: map[string]string{"GOPROXY": "off"}, wantCode: 1, wantItem: "GOPROXY"},
		{name: "GOPROXY=direct passes with a warning", env: map[string]string{"GOPROXY": "direct"}, wantCode: 0},
		{name: "a missing go.sum is rejected", mutate: func(t *testing.T, d string) { os.Remove(filepath.Join(d, "go.sum")) }, wantCode: 1, wantItem: "go.sum"},
		{name: "an untidy go.sum is rejected with the diff", mutate: func(t *testing.T, d string) {
			line := "golang.org/x/text v0.3.0 h1:g61tztE5qeGQ89tm6NTjjM9VPIm088od1l6aSorWRWg=\n"
			if err := os.WriteFile(filepath.Join(d, "go.sum"), []byte(line), 0o644); err != nil {
				t.Fatal(err)
			}
		}, wantCode: 1, wantMsg: "go.sum: -golang.org/x/text v0.3.0", wantItem: "go mod tidy -e -diff"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			goEnv(t)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			dir := copyModule(t)
			if tc.mutate != nil {
				tc.mutate(t, dir)
			}
			code, r, stderr := runCLI(t, context.Background(), "modverify", "--dir", dir)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d: %s\n%s", code, tc.wantCode, r.Message, stderr)
			}
			if !strings.Contains(r.Message, tc.wantMsg) {
				t.Fatalf("message %q lacks %q", r.Message, tc.wantMsg)
			}
			if code == 2 {
				return
			}
			env, ok := r.Data["go_env"].(map[string]any)
			if !ok || env["GOVERSION"] == "" || env["GOPROXY"] == nil {
				t.Fatalf("go env not recorded: %v", r.Data)
			}
			if tc.wantItem != "" {
				it := findItem(t, r, tc.wantItem)
				if it.Status != result.StatusRejected {
					t.Fatalf("item %s status %s, want rejected", tc.wantItem, it.Status)
				}
				if tc.wantItem == "go mod tidy -e -diff" && !strings.Contains(fmt.Sprint(it.Details["diff"]), "golang.org/x/text") {
					t.Fatalf("tidy diff not recorded: %v", it.Details)
				}
			}
		})
	}
}

// copyDir copies the regular files of src (not recursively) into a temp dir.
func copyDir(t *testing.T, src string) string {
	t.Helper()
	dst := t.TempDir()
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dst, e.Name()), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dst
}

func editFile(t *testing.T, path string, edit func(string) string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(edit(string(b))), 0o644); err != nil {
		t.Fatal(err)
	}
}

// offlineProxy serves the local module cache as GOPROXY, so tidy's lookups are answered without the network.
func offlineProxy(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOMODCACHE: %v", err)
	}
	return "file://" + filepath.Join(strings.TrimSpace(string(out)), "cache", "download")
}

func TestModverifyTellsNotTidyFromTidyCannotFinish(t *testing.T) {
	tidymod := filepath.Join("testdata", "tidymod")
	testImport := func(pkg string) func(t *testing.T, d string) {
		return func(t *testing.T, d string) {
			src := "package main\n\nimport (\n\t\"testing\"\n\n\t_ \"" + pkg + "\"\n)\n\nfunc TestNothing(t *testing.T) {}\n"
			if err := os.WriteFile(filepath.Join(d, "main_test.go"), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
		}
	}
	cases := []struct {
		name     string
		mutate   func(t *testing.T, dir string)
		env      map[string]string
		wantCode int
		wantMsg  []string
		notMsg   string
		wantWarn string // a warning item must carry this; "" means no warning item
	}{
		{name: "a tidy module passes without a warning", wantCode: 0},
		{name: "a missing go.sum line is rejected naming it", mutate: func(t *testing.T, d string) {
			editFile(t, filepath.Join(d, "go.sum"), func(s string) string {
				return strings.Join(strings.Split(s, "\n")[1:], "\n")
			})
		}, wantCode: 1, wantMsg: []string{"not tidy", "go.sum: +github.com/cenkalti/backoff/v4 v4.3.0"}},
		{name: "an unused require is rejected naming it", mutate: func(t *testing.T, d string) {
			editFile(t, filepath.Join(d, "go.mod"), func(s string) string { return s + "\nrequire github.com/sony/gobreaker/v2 v2.4.0\n" })
			editFile(t, filepath.Join(d, "go.sum"), func(s string) string {
				return s + "github.com/sony/gobreaker/v2 v2.4.0/go.mod h1:pTyFJgcZ3h2tdQVLZZruK2C0eoFL1fb/G83wK1ZQl+s=\n"
			})
		}, wantCode: 1, wantMsg: []string{"not tidy", "go.mod: -require github.com/sony/gobreaker/v2 v2.4.0", "go.sum: -github.com/sony/gobreaker/v2 v2.4.0/go.mod"}},
		{name: "a broken test-only import passes with a warning naming it", mutate: testImport("github.com/cenkalti/backoff/v4/missing"),
			wantCode: 0, wantWarn: "does not contain package github.com/cenkalti/backoff/v4/missing"},
		{name: "a broken import and a missing go.sum line is rejected and warned", mutate: func(t *testing.T, d string) {
			testImport("github.com/cenkalti/backoff/v4/missing")(t, d)
			editFile(t, filepath.Join(d, "go.sum"), func(s string) string { return strings.Join(strings.Split(s, "\n")[1:], "\n") })
		}, wantCode: 1, wantMsg: []string{"go.sum: +github.com/cenkalti/backoff/v4 v4.3.0"}, wantWarn: "does not contain package"},
		{name: "a go.mod tidy cannot parse fails with its last meaningful line", mutate: func(t *testing.T, d string) {
			editFile(t, filepath.Join(d, "go.mod"), func(s string) string { return s + "bogus\n" })
		}, wantCode: 1, wantMsg: []string{"tidiness unknown", "unknown directive: bogus"}, notMsg: "not tidy"},
		{name: "an unreachable proxy is unavailable, not a false diff", mutate: func(t *testing.T, d string) {
			t.Setenv("GOMODCACHE", t.TempDir())
			t.Setenv("GOFLAGS", "-modcacherw")
		}, env: map[string]string{"GOPROXY": "http://127.0.0.1:1"}, wantCode: 3, wantMsg: []string{"unreachable", "connection refused"}, notMsg: "not tidy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			goEnv(t)
			t.Setenv("GOPROXY", offlineProxy(t))
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			dir := copyDir(t, tidymod)
			if tc.mutate != nil {
				tc.mutate(t, dir)
			}
			code, r, stderr := runCLI(t, context.Background(), "modverify", "--dir", dir)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d: %s\n%s", code, tc.wantCode, r.Message, stderr)
			}
			for _, m := range tc.wantMsg {
				if !strings.Contains(r.Message, m) {
					t.Fatalf("message %q lacks %q", r.Message, m)
				}
			}
			if tc.notMsg != "" && strings.Contains(r.Message, tc.notMsg) {
				t.Fatalf("message %q must not say %q", r.Message, tc.notMsg)
			}
			if strings.Contains(r.Message, "go: downloading") || strings.Contains(r.Message, "go: finding") {
				t.Fatalf("message shows download noise: %q", r.Message)
			}
			tidy := findItem(t, r, "go mod tidy -e -diff")
			if want := []string{result.StatusPassed, result.StatusRejected, "", result.StatusUnavailable}[tc.wantCode]; tidy.Status != want {
				t.Fatalf("tidy item status %s, want %s: %+v", tidy.Status, want, tidy)
			}
			if tc.wantCode == 1 && strings.Contains(r.Message, "not tidy") && !strings.Contains(fmt.Sprint(tidy.Details["diff"]), "+++ tidy/") {
				t.Fatalf("tidy diff not recorded: %v", tidy.Details)
			}
			var warn *result.Item
			for i, it := range r.Items {
				if it.Kind == "warning" {
					warn = &r.Items[i]
				}
			}
			switch {
			case tc.wantWarn == "" && warn != nil:
				t.Fatalf("unexpected warning item %+v", *warn)
			case tc.wantWarn != "" && warn == nil:
				t.Fatalf("no warning item in %+v", r.Items)
			case tc.wantWarn != "":
				if warn.Status != result.StatusPassed || !strings.Contains(warn.Message, tc.wantWarn) || !strings.Contains(fmt.Sprint(warn.Details["errors"]), "tested by") {
					t.Fatalf("warning item %+v lacks %q or the import chain", *warn, tc.wantWarn)
				}
			}
		})
	}
}

// TestModverifyPassesOnReleaseGatesItself runs the gate on this repository's own module.
func TestModverifyPassesOnReleaseGatesItself(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the whole module graph of release-gates")
	}
	goEnv(t)
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	code, r, stderr := runCLI(t, context.Background(), "modverify", "--dir", root)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, r.Message, stderr)
	}
	if tidy := findItem(t, r, "go mod tidy -e -diff"); tidy.Status != result.StatusPassed {
		t.Fatalf("tidy item %+v", tidy)
	}
	for _, it := range r.Items {
		if it.Kind == "warning" && (strings.Contains(it.Message, "go: downloading") || !strings.Contains(fmt.Sprint(it.Details["errors"]), "imports")) {
			t.Fatalf("warning without its cause: %+v", it)
		}
	}
}

func findItem(t *testing.T, r result.Result, name string) result.Item {
	t.Helper()
	for _, it := range r.Items {
		if it.Name == name {
			return it
		}
	}
	t.Fatalf("no item %q in %+v", name, r.Items)
	return result.Item{}
}

func changeIDs(r result.Result, status string) []string {
	var ids []string
	for _, it := range r.Items {
		if it.Kind == "api-change" && it.Status == status {
			ids = append(ids, fmt.Sprint(it.Details["id"]))
		}
	}
	return ids
}

func TestApidiffRejectsBreakingChangesAndExplainsBadInput(t *testing.T) {
	docs := filepath.Join(fixture, "docs")
	v1, compat, breaking := filepath.Join(docs, "v1", "swagger.json"), filepath.Join(docs, "v2-compatible", "swagger.json"), filepath.Join(docs, "v2-breaking", "swagger.json")
	tmp := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(tmp, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	allowAll := write("allow.yaml", `
- id: api-path-removed-without-deprecation
  path: /orders/{id}
  method: GET
  reason: "orders by id moved to the v3 service (ticket OPS-12)"
- {id: request-parameter-became-required, path: /orders, reason: "all clients send limit"}
- {id: response-property-type-changed, path: /orders, reason: "quantity is a decimal string now"}
`)
	allowOne := write("allow-one.json", `[{"id": "api-path-removed-without-deprecation", "path": "/orders/{id}", "reason": "moved"}]`)
	noReason := write("allow-noreason.yaml", "- {id: api-path-removed-without-deprecation, path: \"/orders/{id}\"}\n")
	garbage := write("garbage.json", "{not json: [")
	notSpec := write("notspec.yaml", "hello: world\n")
	swagger3 := write("swagger3.json", `{"swagger": "3.0", "paths": {}}`)

	breakingIDs := "api-path-removed-without-deprecation,request-parameter-became-required,response-property-type-changed,response-property-type-changed"
	cases := []struct {
		name     string
		args     []string
		wantCode int
		wantMsg  string
		failing  string // sorted, comma-joined ids of failing changes
		accepted int
	}{
		{name: "the compatible v2 passes", args: []string{"--spec", compat, "--base-spec", v1}, wantCode: 0},
		{name: "the swag YAML of v1 has no changes against its JSON", args: []string{"--spec", filepath.Join(docs, "swagger.yaml"), "--base-spec", v1}, wantCode: 0},
		{name: "the breaking v2 fails listing the changes", args: []string{"--spec", breaking, "--base-spec", v1}, wantCode: 1, wantMsg: "4 breaking change(s)", failing: breakingIDs},
		{name: "fail-on INFO fails the compatible v2", args: []string{"--spec", compat, "--base-spec", v1, "--fail-on", "INFO"}, wantCode: 1, failing: "endpoint-added,new-optional-request-parameter,response-optional-property-added,response-optional-property-added,response-optional-property-added"},
		{name: "an allow-list accepts every listed change with its reason", args: []string{"--spec", breaking, "--base-spec", v1, "--allow-list", allowAll}, wantCode: 0, accepted: 4},
		{name: "an allow-list entry accepts only its change", args: []string{"--spec", breaking, "--base-spec", v1, "--allow-list", allowOne}, wantCode: 1, accepted: 1, failing: "request-parameter-became-required,response-property-type-changed,response-property-type-changed"},
		{name: "an allow-list entry without a reason is bad input", args: []string{"--spec", breaking, "--base-spec", v1, "--allow-list", noReason}, wantCode: 2, wantMsg: "lacks reason"},
		{name: "a missing allow-list is bad input", args: []string{"--spec", breaking, "--base-spec", v1, "--allow-list", filepath.Join(tmp, "nope.yaml")}, wantCode: 2, wantMsg: "nope.yaml"},
		{name: "a missing head spec is bad input naming the file", args: []string{"--spec", filepath.Join(tmp, "missing.json"), "--base-spec", v1}, wantCode: 2, wantMsg: "head spec " + filepath.Join(tmp, "missing.json") + ": no such file"},
		{name: "an unreadable head spec is bad input naming the file", args: []string{"--spec", tmp, "--base-spec", v1}, wantCode: 2, wantMsg: "head spec " + tmp},
		{name: "a head spec that is not JSON or YAML is bad input", args: []string{"--spec", garbage, "--base-spec", v1}, wantCode: 2, wantMsg: "garbage.json: invalid spec"},
		{name: "a YAML document that is not a spec is bad input", args: []string{"--spec", notSpec, "--base-spec", v1}, wantCode: 2, wantMsg: "notspec.yaml: invalid spec"},
		{name: "an unsupported swagger version is bad input", args: []string{"--spec", swagger3, "--base-spec", v1}, wantCode: 2, wantMsg: "unsupported swagger version"},
		{name: "a missing base spec is bad input naming the file", args: []string{"--spec", compat, "--base-spec", filepath.Join(tmp, "base.json")}, wantCode: 2, wantMsg: "base spec " + filepath.Join(tmp, "base.json")},
		{name: "an unknown fail-on level is bad input", args: []string{"--spec", compat, "--base-spec", v1, "--fail-on", "LOUD"}, wantCode: 2, wantMsg: "want ERR, WARN or INFO"},
		{name: "a base file and a base ref together are bad input", args: []string{"--spec", compat, "--base-spec", v1, "--base-ref", "v1"}, wantCode: 2, wantMsg: "not both"},
		{name: "an unknown flag is bad input", args: []string{"--spec", compat, "--nope"}, wantCode: 2, wantMsg: "flag provided but not defined"},
		{name: "a missing --spec is bad input", args: []string{"--base-spec", v1}, wantCode: 2, wantMsg: "spec"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, r, stderr := runCLI(t, context.Background(), append([]string{"apidiff"}, tc.args...)...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d: %s\n%s", code, tc.wantCode, r.Message, stderr)
			}
			if !strings.Contains(r.Message, tc.wantMsg) {
				t.Fatalf("message %q lacks %q", r.Message, tc.wantMsg)
			}
			if got := strings.Join(sorted(changeIDs(r, result.StatusRejected)), ","); got != tc.failing {
				t.Fatalf("failing changes %q, want %q", got, tc.failing)
			}
			accepted := 0
			for _, it := range r.Items {
				if it.Details["accepted"] == true {
					accepted++
					if it.Details["reason"] == "" || it.Status != result.StatusPassed {
						t.Fatalf("accepted change without reason or not passed: %+v", it)
					}
				}
			}
			if accepted != tc.accepted {
				t.Fatalf("accepted %d changes, want %d", accepted, tc.accepted)
			}
		})
	}
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	for i := range out {
		for j := i + 1; j < len(out); j++ {
			if out[j] < out[i] {
				out[i], out[j] = out[j], out[i]
			}
		}
	}
	return out
}

// gitRepo makes a repo whose tag v1.0.0 holds the v1 spec at docs/swagger.json, with head's spec in the work tree.
func gitRepo(t *testing.T, head string) string {
	t.Helper()
	dir := t.TempDir()
	gitRun := func(args ...string) {
		cmd := exec.Command("git", args...)
		cmd.Dir = dir
		cmd.Env = append(os.Environ(), "GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com", "GIT_CONFIG_GLOBAL=/dev/null")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("git %v: %v: %s", args, err, out)
		}
	}
	cp := func(src string) {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.MkdirAll(filepath.Join(dir, "docs"), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, "docs", "swagger.json"), b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	gitRun("init", "-q", "-b", "main")
	cp(filepath.Join(fixture, "docs", "v1", "swagger.json"))
	gitRun("add", ".")
	gitRun("commit", "-qm", "v1")
	gitRun("tag", "v1.0.0")
	gitRun("tag", "other-1")
	cp(head)
	gitRun("commit", "-qam", "head")
	return dir
}

func TestApidiffFindsTheBaseInGit(t *testing.T) {
	docs := filepath.Join(fixture, "docs")
	compat := gitRepo(t, filepath.Join(docs, "v2-compatible", "swagger.json"))
	breaking := gitRepo(t, filepath.Join(docs, "v2-breaking", "swagger.json"))
	notGit := t.TempDir()
	cases := []struct {
		name     string
		dir      string
		args     []string
		wantCode int
		wantMsg  string
		wantRef  string
	}{
		{name: "the newest v* tag is the default base and compatible passes", dir: compat, wantCode: 0, wantRef: "v1.0.0"},
		{name: "the newest v* tag is the default base and breaking fails", dir: breaking, wantCode: 1, wantMsg: "api-path-removed-without-deprecation", wantRef: "v1.0.0"},
		{name: "an explicit base ref is used", dir: breaking, args: []string{"--base-ref", "v1.0.0"}, wantCode: 1, wantRef: "v1.0.0"},
		{name: "the head commit as base has no breaking changes", dir: breaking, args: []string{"--base-ref", "HEAD"}, wantCode: 0, wantRef: "HEAD"},
		{name: "a base ref not in git is bad input", dir: breaking, args: []string{"--base-ref", "v9.9.9"}, wantCode: 2, wantMsg: `base ref "v9.9.9" not found`},
		{name: "a base path not in the ref is bad input", dir: breaking, args: []string{"--base-ref", "v1.0.0", "--base-path", "api/swagger.json"}, wantCode: 2, wantMsg: "base spec api/swagger.json not found at v1.0.0"},
		{name: "no tag matching the pattern is bad input", dir: breaking, args: []string{"--tag-pattern", "release-*"}, wantCode: 2, wantMsg: `no tag matching "release-*"`},
		{name: "a directory outside git is bad input", dir: notGit, wantCode: 2, wantMsg: "not in a git repository"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			spec := filepath.Join(tc.dir, "docs", "swagger.json")
			if tc.dir == notGit {
				spec = filepath.Join(docs, "v1", "swagger.json")
			}
			args := append([]string{"apidiff", "--dir", tc.dir, "--spec", spec}, tc.args...)
			code, r, stderr := runCLI(t, context.Background(), args...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d: %s\n%s", code, tc.wantCode, r.Message, stderr)
			}
			if !strings.Contains(r.Message, tc.wantMsg) {
				t.Fatalf("message %q lacks %q", r.Message, tc.wantMsg)
			}
			if tc.wantRef != "" {
				base, _ := r.Data["base"].(map[string]any)
				if base["ref"] != tc.wantRef || base["path"] != "docs/swagger.json" {
					t.Fatalf("base recorded as %v, want ref %s", base, tc.wantRef)
				}
			}
		})
	}
}

var (
	buildOnce  sync.Once
	serviceBin string
	buildErr   error
)

// exampleService builds the example service once per test binary.
func exampleService(t *testing.T) string {
	t.Helper()
	buildOnce.Do(func() {
		dir, err := os.MkdirTemp("", "gate-orders-")
		if err != nil {
			buildErr = err
			return
		}
		serviceBin = filepath.Join(dir, "orders")
		abs, _ := filepath.Abs(fixture)
		cmd := exec.Command("go", "build", "-o", serviceBin, ".")
		cmd.Dir = abs
		cmd.Env = append(os.Environ(), "GOTOOLCHAIN=local", "GOFLAGS=-mod=readonly")
		if out, err := cmd.CombinedOutput(); err != nil {
			buildErr = fmt.Errorf("building the example service: %v: %s", err, out)
		}
	})
	if buildErr != nil {
		t.Fatal(buildErr)
	}
	return serviceBin
}

func freePort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return fmt.Sprint(ln.Addr().(*net.TCPAddr).Port)
}

// assertGroupGone fails when any live process of the smoke test's process group remains.
func assertGroupGone(t *testing.T, r result.Result) {
	t.Helper()
	pid, ok := r.Data["pid"].(float64)
	if !ok || pid <= 0 {
		t.Fatalf("no pid recorded: %v", r.Data)
	}
	if left := gate.GroupMembers(int(pid)); len(left) > 0 {
		t.Fatalf("process group %d still has live processes %v", int(pid), left)
	}
}

func TestSmokeStartsTheServiceAndAlwaysStopsItsProcessGroup(t *testing.T) {
	bin := exampleService(t)
	taken, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer taken.Close()
	takenPort := fmt.Sprint(taken.Addr().(*net.TCPAddr).Port)

	cases := []struct {
		name     string
		args     func(port string) []string
		wantCode int
		wantMsg  string
		wantTail string
		started  bool
	}{
		{name: "a healthy service passes", started: true, args: func(p string) []string {
			return []string{"--cmd", bin, "--env", "PORT=" + p, "--url", "http://127.0.0.1:" + p + "/healthz", "--expect-body", `{"status":"ok"}`}
		}},
		{name: "a body without the expected fields is rejected", started: true, wantCode: 1, wantMsg: "does not contain", args: func(p string) []string {
			return []string{"--cmd", bin, "--env", "PORT=" + p, "--url", "http://127.0.0.1:" + p + "/healthz", "--expect-body", `{"status":"green"}`, "--deadline", "5s"}
		}},
		{name: "a health URL refusing connections is rejected at the deadline", started: true, wantCode: 1, wantMsg: "connection refused", wantTail: "listening on", args: func(p string) []string {
			other := freePort(t)
			for other == p { // a port just released can be handed out again at once
				other = freePort(t)
			}
			return []string{"--cmd", bin, "--env", "PORT=" + other, "--url", "http://127.0.0.1:" + p + "/healthz", "--deadline", "4s"}
		}},
		{name: "a 404 health path is rejected", started: true, wantCode: 1, wantMsg: "HTTP 404", args: func(p string) []string {
			return []string{"--cmd", bin, "--env", "PORT=" + p, "--url", "http://127.0.0.1:" + p + "/nope", "--deadline", "5s"}
		}},
		{name: "a service that exits at once is rejected with its output", started: true, wantCode: 1, wantMsg: "exited (exit status 3)", wantTail: "boom: no database", args: func(p string) []string {
			return []string{"--cmd", "/bin/sh", "--arg", "-c", "--arg", "echo starting, with a comma; echo boom: no database >&2; exit 3", "--url", "http://127.0.0.1:" + p + "/healthz"}
		}},
		{name: "a service and its children that ignore SIGTERM are killed", started: true, wantCode: 1, args: func(p string) []string {
			return []string{"--cmd", "/bin/sh", "--arg", "-c", "--arg", "trap '' TERM; sleep 300 & sleep 300", "--url", "http://127.0.0.1:" + p + "/healthz", "--deadline", "700ms", "--grace", "300ms"}
		}},
		{name: "a port already taken is bad input naming the port", wantCode: 2, wantMsg: "port " + takenPort + " on 127.0.0.1 is already in use", args: func(string) []string {
			return []string{"--cmd", bin, "--url", "http://127.0.0.1:" + takenPort + "/healthz"}
		}},
		{name: "a missing binary is bad input", wantCode: 2, wantMsg: "cannot start", args: func(p string) []string {
			return []string{"--cmd", filepath.Join(t.TempDir(), "nope"), "--url", "http://127.0.0.1:" + p + "/healthz"}
		}},
		{name: "a malformed env entry is bad input", wantCode: 2, wantMsg: "want KEY=VALUE", args: func(p string) []string {
			return []string{"--cmd", bin, "--env", "NOEQUALS", "--url", "http://127.0.0.1:" + p + "/healthz"}
		}},
		{name: "a non-JSON expect-body is bad input", wantCode: 2, wantMsg: "expectBody is not JSON", args: func(p string) []string {
			return []string{"--cmd", bin, "--expect-body", "{", "--url", "http://127.0.0.1:" + p + "/healthz"}
		}},
		{name: "an unknown flag is bad input", wantCode: 2, wantMsg: "flag provided but not defined", args: func(p string) []string {
			return []string{"--cmd", bin, "--port", p}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, r, stderr := runCLI(t, context.Background(), append([]string{"smoke"}, tc.args(freePort(t))...)...)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d: %s\n%s", code, tc.wantCode, r.Message, stderr)
			}
			if !strings.Contains(r.Message, tc.wantMsg) {
				t.Fatalf("message %q lacks %q", r.Message, tc.wantMsg)
			}
			if tail := fmt.Sprint(r.Data["output_tail"]); !strings.Contains(tail, tc.wantTail) {
				t.Fatalf("output tail %q lacks %q", tail, tc.wantTail)
			}
			if tc.started {
				assertGroupGone(t, r)
			}
		})
	}
}

// procAlive reports whether pid is a running (non-zombie) process, from /proc.
func procAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && len(b) > i+2 && b[i+2] != 'Z' && b[i+2] != 'X'
}

func TestSmokeKillsWhatTheServiceDaemonizedIntoANewSession(t *testing.T) {
	bin := exampleService(t)
	script, err := filepath.Abs(filepath.Join("testdata", "daemonize.sh"))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name     string
		service  string // SERVICE for the script: the example service, or "" to exit after daemonizing
		extra    []string
		wantCode int
		wantMsg  string
	}{
		{name: "a healthy service that daemonized a grandchild passes and the grandchild is gone", service: bin, wantCode: 0},
		{name: "a service that daemonizes and exits is rejected and the grandchild is gone", wantCode: 1, wantMsg: "exited (exit status 3)"},
		{name: "a daemonizing service that never answers is rejected and the grandchild is gone", service: "/bin/sleep", extra: []string{"--arg", "300", "--deadline", "4s"}, wantCode: 1, wantMsg: "no healthy answer"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			pidFile := filepath.Join(t.TempDir(), "grandchild.pid")
			port := freePort(t)
			args := []string{"smoke", "--cmd", script, "--env", "PIDFILE=" + pidFile, "--env", "PORT=" + port,
				"--url", "http://127.0.0.1:" + port + "/healthz", "--grace", "300ms"}
			if tc.service != "" {
				args = append(args, "--env", "SERVICE="+tc.service)
			}
			code, r, stderr := runCLI(t, context.Background(), append(args, tc.extra...)...)
			b, err := os.ReadFile(pidFile)
			if err != nil {
				t.Fatalf("the service did not daemonize (exit %d: %s): %v\n%s", code, r.Message, err, stderr)
			}
			var pid int
			if _, err := fmt.Sscanf(string(b), "%d", &pid); err != nil || pid <= 0 {
				t.Fatalf("bad grandchild pid %q", b)
			}
			t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
			if code != tc.wantCode || !strings.Contains(r.Message, tc.wantMsg) {
				t.Fatalf("exit %d (%s), want %d with %q\n%s", code, r.Message, tc.wantCode, tc.wantMsg, stderr)
			}
			if procAlive(pid) {
				t.Fatalf("grandchild %d, daemonized into its own session, still runs after the gate returned", pid)
			}
			if _, err := os.Stat(fmt.Sprintf("/proc/%d", pid)); err == nil {
				t.Fatalf("grandchild %d is a zombie nobody reaped", pid)
			}
			assertGroupGone(t, r)
			warn := findItem(t, r, "escaped processes")
			if warn.Status != result.StatusPassed || !strings.Contains(warn.Message, fmt.Sprintf("%d (sleep)", pid)) {
				t.Fatalf("escaped grandchild not reported: %+v", warn)
			}
			orphans, _ := r.Data["orphans"].([]any)
			if len(orphans) != 1 || orphans[0].(map[string]any)["killed"] != true {
				t.Fatalf("want the one grandchild, SIGKILLed after ignoring SIGTERM: %v", r.Data["orphans"])
			}
		})
	}
}

func TestSmokeStopsTheProcessGroupWhenTheGateIsInterrupted(t *testing.T) {
	port := freePort(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	marker := filepath.Join(t.TempDir(), "started")
	go func() {
		for {
			if _, err := os.Stat(marker); err == nil {
				cancel()
				return
			}
			select {
			case <-ctx.Done():
				return
			case <-time.After(20 * time.Millisecond):
			}
		}
	}()
	code, r, stderr := runCLI(t, ctx, "smoke", "--cmd", "/bin/sh", "--arg", "-c",
		"--arg", "trap '' TERM; sleep 300 & touch "+marker+"; sleep 300",
		"--url", "http://127.0.0.1:"+port+"/healthz", "--deadline", "5m", "--grace", "300ms")
	if code != 3 || !strings.Contains(r.Message, "interrupted") {
		t.Fatalf("exit %d (%s), want 3 interrupted\n%s", code, r.Message, stderr)
	}
	assertGroupGone(t, r)
}

func writeParams(t *testing.T, p any) string {
	t.Helper()
	b, ok := p.(string)
	if !ok {
		j, err := json.Marshal(p)
		if err != nil {
			t.Fatal(err)
		}
		b = string(j)
	}
	path := filepath.Join(t.TempDir(), "params.json")
	if err := os.WriteFile(path, []byte(b), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestRunRunsTheSelectedChecksAndWritesJUnit(t *testing.T) {
	goEnv(t)
	bin := exampleService(t)
	params := func(spec string, port string) map[string]any {
		dir := copyModule(t)
		docs, _ := filepath.Abs(filepath.Join(fixture, "docs"))
		return map[string]any{
			"dir":    dir,
			"checks": []string{"modverify", "apidiff", "smoke"},
			"apidiff": map[string]any{"spec": filepath.Join(docs, spec, "swagger.json"), "baseSpec": filepath.Join(docs, "v1", "swagger.json"),
				"baseRef": "", "basePath": "", "tagPattern": "v*", "failOn": "ERR", "allowList": ""},
			"smoke": map[string]any{"command": bin, "args": []string{}, "env": map[string]string{"PORT": port}, "workdir": "",
				"url": "http://127.0.0.1:" + port + "/healthz", "tryTimeout": "3s", "deadline": "20s", "expectBody": map[string]any{"status": "ok"}},
		}
	}
	withSmoke := func(p map[string]any, k string, v any) map[string]any {
		p["smoke"].(map[string]any)[k] = v
		return p
	}
	cases := []struct {
		name      string
		params    any
		wantCode  int
		wantMsg   string
		wantCases map[string]string // testcase -> "", "failure" or "error"
	}{
		{name: "the compatible v2 passes every check", params: params("v2-compatible", freePort(t)), wantCode: 0,
			wantCases: map[string]string{"modverify": "", "apidiff": "", "smoke": ""}},
		{name: "the breaking v2 fails only the apidiff check", params: params("v2-breaking", freePort(t)), wantCode: 1, wantMsg: "1 of 3 checks failed: apidiff",
			wantCases: map[string]string{"modverify": "", "apidiff": "failure", "smoke": ""}},
		{name: "bad input in one check beats a rejection in another", params: withSmoke(params("v2-breaking", freePort(t)), "command", "/nonexistent/orders"), wantCode: 2,
			wantCases: map[string]string{"modverify": "", "apidiff": "failure", "smoke": "error"}},
		{name: "an unknown params field is bad input", params: `{"dir": ".", "checks": ["apidiff"], "apidiff": {"spec": "x", "failon": "ERR"}}`, wantCode: 2, wantMsg: `unknown field "failon"`,
			wantCases: map[string]string{"params": "error"}},
		{name: "an unknown check is bad input", params: `{"checks": ["lint"]}`, wantCode: 2, wantMsg: `unknown check "lint"`, wantCases: map[string]string{"params": "error"}},
		{name: "an empty check list is bad input", params: `{"checks": []}`, wantCode: 2, wantMsg: "checks is empty", wantCases: map[string]string{"params": "error"}},
		{name: "a bad duration is bad input", params: withSmoke(params("v2-compatible", freePort(t)), "deadline", "soon"), wantCode: 2, wantMsg: "smoke.deadline", wantCases: map[string]string{"params": "error"}},
		{name: "params that are not JSON are bad input", params: `checks: [smoke]`, wantCode: 2, wantMsg: "params:", wantCases: map[string]string{"params": "error"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			junit := filepath.Join(t.TempDir(), "junit.xml")
			code, r, stderr := runCLI(t, context.Background(), "run", "--params", writeParams(t, tc.params), "--junit", junit)
			if code != tc.wantCode {
				t.Fatalf("exit %d, want %d: %s\n%s", code, tc.wantCode, r.Message, stderr)
			}
			if !strings.Contains(r.Message, tc.wantMsg) {
				t.Fatalf("message %q lacks %q", r.Message, tc.wantMsg)
			}
			cases := readJUnit(t, junit)
			if len(cases) != len(tc.wantCases) {
				t.Fatalf("junit testcases %v, want %v", cases, tc.wantCases)
			}
			for name, want := range tc.wantCases {
				if got, ok := cases[name]; !ok || got != want {
					t.Fatalf("junit testcase %s = %q, want %q (all: %v)", name, got, want, cases)
				}
			}
			if _, isParams := tc.wantCases["params"]; !isParams && len(r.Items) != len(tc.wantCases) {
				t.Fatalf("want one result item per check, got %d", len(r.Items))
			}
		})
	}
}

func TestRunResolvesARelativeDirForTheServiceCommand(t *testing.T) {
	goEnv(t)
	bin := exampleService(t)
	ws := t.TempDir()
	svc := filepath.Join(ws, "svc")
	if err := os.MkdirAll(svc, 0o755); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(bin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(svc, "orders"), b, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Chdir(ws)
	port := freePort(t)
	params := fmt.Sprintf(`{"dir": "svc", "checks": ["smoke"], "smoke": {"command": "./orders", "env": {"PORT": %q},
		"url": "http://127.0.0.1:%s/healthz", "deadline": "20s", "expectBody": {}}}`, port, port)
	code, r, stderr := runCLI(t, context.Background(), "run", "--params", writeParams(t, params))
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, r.Message, stderr)
	}
}
