package main

import (
	"context"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunGatesReleaseGatesOwnModuleAndRejectsAnUntidyCopy runs `run` (modverify) through the runner's params
// document on this repository's module, then on an archived copy with a needed go.sum line removed and an unused require.
func TestRunGatesReleaseGatesOwnModuleAndRejectsAnUntidyCopy(t *testing.T) {
	if testing.Short() {
		t.Skip("loads the whole module graph of release-gates")
	}
	goEnv(t)
	t.Setenv("GOPROXY", offlineProxy(t))
	root, err := filepath.Abs(filepath.Join("..", "..", ".."))
	if err != nil {
		t.Fatal(err)
	}
	gateRun := func(dir string) (int, string, string) {
		out := t.TempDir()
		doc := map[string]any{"step": "goBuildGate", "context": map[string]any{"traceId": "rg-self"}, "secrets": map[string]any{},
			"params": map[string]any{"dir": dir, "checks": []string{"modverify"}, "junit": false, "resultFile": filepath.Join(out, "gate.json")}}
		code, r, stderr := runCLI(t, context.Background(), "run", "--params", writeParams(t, doc))
		if mv := findItem(t, r, "modverify"); !strings.Contains(fmt.Sprint(mv.Details["items"]), "name:go mod tidy -e -diff status:"+[]string{"passed", "rejected"}[min(code, 1)]) {
			t.Fatalf("exit %d but the modverify items are %v", code, mv.Details["items"])
		}
		return code, r.Message, stderr
	}
	if code, msg, stderr := gateRun(root); code != 0 {
		t.Fatalf("release-gates itself: exit %d: %s\n%s", code, msg, stderr)
	}

	copyDir := t.TempDir()
	archive := exec.Command("sh", "-c", `git -C "$1" archive HEAD | tar -x -C "$2"`, "sh", root, copyDir)
	if b, err := archive.CombinedOutput(); err != nil {
		t.Fatalf("git archive: %v: %s", err, b)
	}
	const needed = "github.com/cenkalti/backoff/v4 v4.3.0"
	editFile(t, filepath.Join(copyDir, "go.sum"), func(s string) string {
		var keep []string
		for _, l := range strings.Split(s, "\n") {
			if !strings.HasPrefix(l, needed+" h1:") {
				keep = append(keep, l)
			}
		}
		if len(keep) == len(strings.Split(s, "\n")) {
			t.Fatalf("go.sum has no line %q to remove", needed)
		}
		return strings.Join(keep, "\n")
	})
	editFile(t, filepath.Join(copyDir, "go.mod"), func(s string) string { return s + "\nrequire github.com/davecgh/go-spew v1.1.1\n" })
	if _, err := os.Stat(filepath.Join(copyDir, "helpers", "cmd", "go-build-gate", "main.go")); err != nil {
		t.Fatalf("archive incomplete: %v", err)
	}
	code, msg, stderr := gateRun(copyDir)
	if code != 1 {
		t.Fatalf("untidy copy: exit %d, want 1: %s\n%s", code, msg, stderr)
	}
	for _, want := range []string{"not tidy", "go.sum: +" + needed, "go.mod: -require github.com/davecgh/go-spew v1.1.1"} {
		if !strings.Contains(msg, want) {
			t.Fatalf("untidy copy: message %q lacks %q", msg, want)
		}
	}
}
