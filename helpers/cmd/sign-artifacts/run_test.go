package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func runStepCLI(t *testing.T, doc string) (int, result.Result) {
	t.Helper()
	dir := t.TempDir()
	p := filepath.Join(dir, "signArtifacts.params.json")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	rf := filepath.Join(dir, "signArtifacts.json")
	var out, errb bytes.Buffer
	code := app.Run(context.Background(), newApp(), []string{"sign-artifacts", "run", "--params", p, "--result-file", rf}, &out, &errb)
	var r result.Result
	b, err := os.ReadFile(rf)
	if err != nil {
		t.Fatalf("no result file (exit %d, stderr %s): %v", code, errb.String(), err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return code, r
}

func TestRunSignsWithTheKeyFileTheDocumentNamesByItsEnvVar(t *testing.T) {
	dir := t.TempDir()
	if _, err := keys.GenerateFile(filepath.Join(dir, "cosign"), []byte("pw")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RG_SIGNING_KEY", filepath.Join(dir, "cosign.key"))
	t.Setenv("COSIGN_PASSWORD", "pw")
	f := filepath.Join(dir, "go.sum")
	if err := os.WriteFile(f, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	code, r := runStepCLI(t, `{"step":"signArtifacts","params":{"keyCredentialsId":"cosign-key","passwordCredentialsId":"pw","files":["`+f+`"]},
		"context":{},"secrets":{"key":"RG_SIGNING_KEY","password":"COSIGN_PASSWORD"}}`)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, r.Message)
	}
	if len(r.Items) != 1 || r.Items[0].Name != f || r.Returns["publicKey"] == nil || len(r.Summary) == 0 || len(r.Archive) < 3 {
		t.Fatalf("result %+v", r)
	}
	for _, s := range append(r.Summary, r.Message) {
		if strings.Contains(s, "pw\"") {
			t.Fatal("the password reached the result")
		}
	}
	code, r = runStepCLI(t, `{"step":"verifyRelease","params":{}}`)
	if code != 2 || !strings.Contains(r.Message, "takes the signArtifacts step's params, not verifyRelease's") {
		t.Fatalf("exit %d: %s", code, r.Message)
	}
	code, r = runStepCLI(t, `{"step":"signArtifacts","params":{"key":"k","files":["f"],"allowDirty":"yes"}}`)
	if code != 2 || !strings.Contains(r.Message, "parameter 'allowDirty' must be a Boolean") {
		t.Fatalf("exit %d: %s", code, r.Message)
	}
}
