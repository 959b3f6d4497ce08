package gobintest

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
)

// Build compiles a hello-world module in a fresh git repo under dir for goos/goarch with -buildvcs=true
// (GOFLAGS=-buildvcs=false is set machine-wide); dirty leaves an uncommitted change so vcs.modified=true.
func Build(dir, goos, goarch string, dirty bool) (string, error) {
	src := filepath.Join(dir, fmt.Sprintf("src-%s-%s-%v", goos, goarch, dirty))
	if err := os.MkdirAll(src, 0o755); err != nil {
		return "", err
	}
	files := map[string]string{
		"go.mod":  "module example.com/hello\n\ngo 1.21\n",
		"main.go": "package main\n\nfunc main() { println(\"hello\") }\n",
	}
	for n, c := range files {
		if err := os.WriteFile(filepath.Join(src, n), []byte(c), 0o644); err != nil {
			return "", err
		}
	}
	run := func(env []string, name string, args ...string) error {
		cmd := exec.Command(name, args...)
		cmd.Dir = src
		cmd.Env = append(os.Environ(), env...)
		if out, err := cmd.CombinedOutput(); err != nil {
			return fmt.Errorf("%s %v: %v: %s", name, args, err, out)
		}
		return nil
	}
	git := []string{"GIT_AUTHOR_NAME=t", "GIT_AUTHOR_EMAIL=t@example.com", "GIT_COMMITTER_NAME=t", "GIT_COMMITTER_EMAIL=t@example.com"}
	for _, args := range [][]string{{"init", "-q"}, {"add", "."}, {"commit", "-q", "-m", "init"}} {
		if err := run(git, "git", args...); err != nil {
			return "", err
		}
	}
	if dirty {
		if err := os.WriteFile(filepath.Join(src, "main.go"), []byte(files["main.go"]+"// edited\n"), 0o644); err != nil {
			return "", err
		}
	}
	out := filepath.Join(dir, fmt.Sprintf("hello-%s-%s", goos, goarch))
	if dirty {
		out += "-dirty"
	}
	env := []string{"GOOS=" + goos, "GOARCH=" + goarch, "CGO_ENABLED=0", "GOFLAGS=-buildvcs=true", "GOTOOLCHAIN=local", "GOWORK=off"}
	if err := run(env, "go", "build", "-o", out, "."); err != nil {
		return "", err
	}
	return out, nil
}
