package scripts_test

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestScriptsStopOnAMissingNeed: make demo, make images and make release check their install-deps.sh group and stop
// with exit 2 naming the missing package, before any stage runs; none of them takes another path instead.
func TestScriptsStopOnAMissingNeed(t *testing.T) {
	need(t, "/usr/bin/dpkg-query", "dpkg")
	head, err := exec.Command("git", "rev-parse", "HEAD").Output()
	if err != nil {
		t.Skipf("not a git checkout: %v", err)
	}
	tests := []struct {
		name, group  string
		cmd          []string
		env          []string
		want, notRun string
	}{
		{"demo", "demo", []string{"bash", "../demo/demo.sh"}, []string{"RG_BIN=" + t.TempDir()},
			"demo: the demo's Debian packages are not all installed: run make deps-demo", "=== stage"},
		{"images", "images", []string{"bash", "../../scripts/images.sh", "preflight"}, nil,
			"images: the images' Debian packages are not all installed: run test/scripts/install-deps.sh images", "images: preflight: "},
		{"release", "release", []string{"bash", "../../scripts/release.sh"},
			[]string{"VERSION=v0.0.0-test", "REVISION=" + strings.TrimSpace(string(head)), "RELEASE_KEY=file:///no/such/release.key",
				"DIST=" + filepath.Join(t.TempDir(), "dist")},
			"release: the release's Debian packages are missing and could not be installed", "release: building"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if tt.name == "images" && os.Geteuid() != 0 {
				t.Skip("scripts/images.sh refuses non-root before its package check")
			}
			cmd := exec.Command(tt.cmd[0], tt.cmd[1:]...)
			cmd.Env = append(append(os.Environ(), tt.env...), "RG_DEPS_NEEDS="+tt.group+" rg-no-such-package-xyz /no/such/file why")
			out, err := cmd.CombinedOutput()
			code := -1
			if ee, ok := err.(*exec.ExitError); ok {
				code = ee.ExitCode()
			}
			s := string(out)
			if code != 2 || !strings.Contains(s, "MISSING: package rg-no-such-package-xyz is not installed") || !strings.Contains(s, tt.want) {
				t.Errorf("exit %d, want 2 naming the missing package and %q:\n%s", code, tt.want, s)
			}
			if strings.Contains(s, tt.notRun) {
				t.Errorf("it went on after the missing package (%q):\n%s", tt.notRun, s)
			}
		})
	}
}
