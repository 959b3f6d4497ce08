package scripts_test

import (
	"bufio"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestNothingRunsPython: no Debian package in install-deps' table provides a python with its standard library (and a
// python3 on PATH may be pyenv's or anyone's), so no script, Makefile recipe, Groovy or Go file may run one.
func TestNothingRunsPython(t *testing.T) {
	root := filepath.Join("..", "..")
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			if n := d.Name(); n == ".git" || n == "testdata" || n == "bin" || n == "dist" {
				return filepath.SkipDir
			}
			return nil
		}
		ext := filepath.Ext(p)
		if d.Name() != "Makefile" && ext != ".sh" && ext != ".groovy" && (ext != ".go" || d.Name() == "nopython_test.go") {
			return nil
		}
		f, err := os.Open(p)
		if err != nil {
			return err
		}
		defer f.Close()
		sc := bufio.NewScanner(f)
		sc.Buffer(nil, 1<<20)
		for n := 1; sc.Scan(); n++ {
			line := strings.TrimSpace(sc.Text())
			if strings.HasPrefix(line, "#") || strings.HasPrefix(line, "//") || strings.HasPrefix(line, "*") {
				continue
			}
			if strings.Contains(line, "python") {
				rel, _ := filepath.Rel(root, p)
				t.Errorf("%s:%d runs python: %s", rel, n, line)
			}
		}
		return sc.Err()
	})
	if err != nil {
		t.Fatal(err)
	}
}
