package atomicfile_test

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/atomicfile"
	"github.com/release-gates/release-gates/helpers/internal/testing/synctrace"
)

func TestWriteSyncsTheFileBeforeTheRenameAndTheDirectoryAfter(t *testing.T) {
	calls := synctrace.Run(t, func(dir string) {
		if err := atomicfile.WriteFile(filepath.Join(dir, "result.json"), []byte(`{"status":"passed"}`), 0o644); err != nil {
			panic(err)
		}
	})
	var got []string
	for _, c := range calls {
		got = append(got, c.String())
	}
	trace := strings.Join(got, "\n")
	t.Logf("traced:\n%s", trace)
	syncTmp, rename, syncDir := -1, -1, -1
	for i, c := range calls {
		switch {
		case c.Syscall == "rename" && filepath.Base(c.To) == "result.json":
			rename = i
			for j := range calls[:i] {
				if calls[j] == (synctrace.Call{Syscall: "fsync", Path: c.Path}) {
					syncTmp = j
				}
			}
		case rename >= 0 && c == (synctrace.Call{Syscall: "fsync", Path: filepath.Dir(calls[rename].To)}):
			syncDir = i
		}
	}
	if rename < 0 || syncTmp < 0 || syncDir < 0 {
		t.Fatalf("want fsync of the temp file, the rename, then fsync of the directory; got:\n%s", trace)
	}
}

func TestWriteReplacesContentAndLeavesNoTempFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "sub", "f.json")
	for _, content := range []string{"one", "two"} {
		if err := atomicfile.WriteFile(path, []byte(content), 0o600); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(path)
		if err != nil || string(b) != content {
			t.Fatalf("read %q, %v; want %q", b, err, content)
		}
	}
	ents, _ := os.ReadDir(filepath.Dir(path))
	if len(ents) != 1 {
		t.Fatalf("directory holds %d entries, want only f.json", len(ents))
	}
}
