package main

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/gobin/gobintest"
	"github.com/release-gates/release-gates/helpers/internal/keys"
)

// TestErrorsSpeakTheCallersWords: the same mistakes name Jenkinsfile keys through `run` (the step) and flags through
// the blob verbs (the CLI).
func TestErrorsSpeakTheCallersWords(t *testing.T) {
	dir := t.TempDir()
	if _, err := keys.GenerateFile(filepath.Join(dir, "cosign"), []byte("pw-words")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RG_SIGNING_KEY", filepath.Join(dir, "cosign.key"))
	t.Setenv("COSIGN_PASSWORD", "pw-words")
	dirty, err := gobintest.Build(dir, "linux", "amd64", true)
	if err != nil {
		t.Fatal(err)
	}
	a, b := filepath.Join(dir, "a", "x.bin"), filepath.Join(dir, "b", "x.bin")
	for _, f := range []string{a, b} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte(f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	sigs := filepath.Join(dir, "sigs")
	flag := regexp.MustCompile(`(^|[\s(,'"])--[a-z]`)
	step := func(params string) string {
		t.Helper()
		code, r := runStepCLI(t, `{"step":"signArtifacts","params":{"keyCredentialsId":"cosign-key",`+params+`},"context":{},"secrets":{"key":"RG_SIGNING_KEY"}}`)
		if code == 0 || flag.MatchString(r.Message) {
			t.Fatalf("exit %d, or a flag in the step's message: %s", code, r.Message)
		}
		return r.Message
	}
	if m := step(`"files":["` + dirty + `"]`); !strings.Contains(m, "sign it anyway with allowDirty: true") {
		t.Errorf("step, dirty binary: %s", m)
	}
	if m := step(`"files":["` + a + `","` + b + `"],"outDir":"` + sigs + `"`); !strings.Contains(m, "drop outDir: '"+sigs+"'") {
		t.Errorf("step, outDir collision: %s", m)
	}
	if code, r, _ := blobRunCLI(t, "blob", "sign", "--key", filepath.Join(dir, "cosign.key"), dirty); code != 1 || !strings.Contains(r.Message, "sign it anyway with --allow-dirty") {
		t.Errorf("CLI, dirty binary: exit %d: %s", code, r.Message)
	}
	if code, r, _ := blobRunCLI(t, "blob", "sign", "--key", filepath.Join(dir, "cosign.key"), "--out-dir", sigs, a, b); code != 2 || !strings.Contains(r.Message, "drop --out-dir "+sigs) {
		t.Errorf("CLI, --out-dir collision: exit %d: %s", code, r.Message)
	}
}
