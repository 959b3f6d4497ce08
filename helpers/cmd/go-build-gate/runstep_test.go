package main

import (
	"context"
	"path/filepath"
	"strings"
	"testing"
)

// TestRunTakesTheStepsDocumentAndFillsTheRunnerFields drives `run` with the runner's params document, as goBuildGate writes it.
func TestRunTakesTheStepsDocumentAndFillsTheRunnerFields(t *testing.T) {
	goEnv(t)
	bin := exampleService(t)
	docs, _ := filepath.Abs(filepath.Join(fixture, "docs"))
	port := freePort(t)
	out := t.TempDir()
	doc := map[string]any{"step": "goBuildGate", "context": map[string]any{"traceId": "rg-1"}, "secrets": map[string]any{},
		"params": map[string]any{"dir": copyModule(t), "spec": filepath.Join(docs, "v2-breaking", "swagger.json"), "baseSpec": filepath.Join(docs, "v1", "swagger.json"),
			"smokeCommand": bin, "smokeEnv": map[string]any{"PORT": port}, "healthUrl": "http://127.0.0.1:" + port + "/healthz", "deadline": "20s",
			"expectBody": map[string]any{"status": "ok"}, "junit": false, "resultFile": filepath.Join(out, "gate.json")}}
	code, r, stderr := runCLI(t, context.Background(), "run", "--params", writeParams(t, doc))
	if code != 1 || !strings.Contains(r.Message, "1 of 3 checks failed: apidiff") {
		t.Fatalf("exit %d: %s\n%s", code, r.Message, stderr)
	}
	junit := filepath.Join(out, "gate.junit.xml")
	if cases := readJUnit(t, junit); cases["apidiff"] != "failure" || len(r.JUnit) != 0 || len(r.Archive) != 1 || r.Archive[0] != junit {
		t.Fatalf("junit %v (published %v), archive %v", cases, r.JUnit, r.Archive)
	}
	if len(r.Summary) != 4 || !strings.HasPrefix(r.Summary[0], "goBuildGate: rejected (trace ") || !strings.HasPrefix(r.Summary[2], "goBuildGate:   apidiff rejected: ") {
		t.Fatalf("summary %q", r.Summary)
	}
	if r.Returns["status"] != "rejected" || r.Returns["exit_code"] != float64(1) || len(r.Returns["items"].([]any)) != 3 {
		t.Fatalf("returns %v", r.Returns)
	}
	bad := map[string]any{"step": "goBuildGate", "params": map[string]any{"checks": []string{"modverify"}, "failOn": "error", "junit": "yes"}}
	code, r, _ = runCLI(t, context.Background(), "run", "--params", writeParams(t, bad))
	if code != 2 || !strings.Contains(r.Message, "parameter 'junit' must be a Boolean") {
		t.Fatalf("exit %d: %s", code, r.Message)
	}
}
