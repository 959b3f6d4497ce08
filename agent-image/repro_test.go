package agentimage

import (
	"crypto/sha256"
	"encoding/hex"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// releaseLDFlags is the Makefile's LDFLAGS with fixed values, as `make release VERSION=... REVISION=...` expands it.
func releaseLDFlags(m makefile) string {
	r := strings.NewReplacer("${MODULE}", m.module, "${VERSION}", "v0.0.0-repro", "${REVISION}", strings.Repeat("ab", 20))
	return r.Replace(strings.Join(m.ldflags, " "))
}

// buildHelper builds ./helpers/cmd/<helper> inside moduleDir with the release flags and returns the binary's sha256.
func buildHelper(t *testing.T, moduleDir, helper, ldflags string) string {
	t.Helper()
	out := filepath.Join(t.TempDir(), helper)
	cmd := exec.Command("go", "build", "-trimpath", "-buildvcs=false", "-tags", "urfave_cli_no_docs", "-ldflags", ldflags, "-o", out, "./helpers/cmd/"+helper)
	cmd.Dir = moduleDir
	cmd.Env = append(os.Environ(), "CGO_ENABLED=1", "GOTOOLCHAIN=local", "GOFLAGS=-mod=readonly")
	if b, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("go build ./helpers/cmd/%s in %s: %v\n%s", helper, moduleDir, err, b)
	}
	f, err := os.Open(out)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(h.Sum(nil))
}

// copyModule copies go.mod, go.sum and helpers/ from root to dir/release-gates. The builds use such a snapshot, not
// the live checkout, so edits made meanwhile in a shared working tree cannot change one build and not the other.
func copyModule(t *testing.T, root, dir string) string {
	t.Helper()
	dst := filepath.Join(dir, "release-gates")
	for _, f := range []string{"go.mod", "go.sum"} {
		copyFile(t, filepath.Join(root, f), filepath.Join(dst, f))
	}
	err := filepath.WalkDir(filepath.Join(root, "helpers"), func(p string, e fs.DirEntry, err error) error {
		if err != nil || e.IsDir() {
			return err
		}
		rel, _ := filepath.Rel(root, p)
		copyFile(t, p, filepath.Join(dst, rel))
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return dst
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(dst), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestADifferentVersionChangesTheBinary shows the Makefile's LDFLAGS reach the binary: another version, other bytes. The
// reproducibility proof itself is make release's (two builds per platform from two paths, ReleaseDownloadRealTest).
func TestADifferentVersionChangesTheBinary(t *testing.T) {
	if testing.Short() {
		t.Skip("builds a helper twice; skipped under -short")
	}
	m := readMakefile(t)
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	h := "sign-artifacts"
	if _, err := os.Stat(filepath.Join(root, "helpers", "cmd", h, "main.go")); err != nil {
		t.Fatalf("helpers/cmd/%s/main.go is missing: %v", h, err)
	}
	src := copyModule(t, root, t.TempDir())
	a := buildHelper(t, src, h, releaseLDFlags(m))
	b := buildHelper(t, src, h, strings.Replace(releaseLDFlags(m), "v0.0.0-repro", "v0.0.1-repro", 1))
	if a == b {
		t.Errorf("%s built with two versions has one sha256 %s: the ldflags do not reach version.Version", h, a)
	}
}
