// Package scripts_test checks that install-deps.sh finds each dependency through its Debian package, never by accident.
package scripts_test

import (
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

func runCheck(t *testing.T, env []string, groups ...string) (string, int) {
	t.Helper()
	cmd := exec.Command("./install-deps.sh", append([]string{"--check"}, groups...)...)
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	code := 0
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running install-deps.sh: %v", err)
	}
	return string(out), code
}

// checked lists the groups make deps installs (the Makefile's deps target: make test's own and .ci/run's make images)
// or that are subsets of them, which make test therefore checks; notChecked says why each other group is left out.
var (
	checked    = []string{"test", "lint", "images", "demo", "check", "release"}
	notChecked = map[string]string{
		// make bench installs it itself (install-deps.sh bench) and make test never does: checking it here would fail a
		// fresh machine's make test over a package only the benchmarks need.
		"bench": "installed by make bench only",
	}
)

// tableGroups returns the groups install-deps.sh's table names, in order.
func tableGroups(t *testing.T) []string {
	t.Helper()
	src, err := os.ReadFile("install-deps.sh")
	if err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(string(src), "NEEDS=$(cat <<'EOF'\n")
	table, _, ok2 := strings.Cut(table, "\nEOF\n")
	if !ok || !ok2 {
		t.Fatal("install-deps.sh: no NEEDS table (NEEDS=$(cat <<'EOF' ... EOF)")
	}
	var groups []string
	for _, line := range strings.Split(table, "\n") {
		if f := strings.Fields(line); len(f) > 0 && !slices.Contains(groups, f[0]) {
			groups = append(groups, f[0])
		}
	}
	return groups
}

// TestEveryGroupIsCheckedOrSaysWhyNot: a group added to the table must be checked below or given a reason to be left out.
func TestEveryGroupIsCheckedOrSaysWhyNot(t *testing.T) {
	groups := tableGroups(t)
	if len(groups) < 5 {
		t.Fatalf("install-deps.sh's table names only groups %v", groups)
	}
	for _, g := range groups {
		if _, out := notChecked[g]; slices.Contains(checked, g) == out {
			t.Errorf("group %q: want it in exactly one of checked %v and notChecked %v", g, checked, notChecked)
		}
	}
	for _, g := range append(slices.Clone(checked), slices.Collect(maps.Keys(notChecked))...) {
		if !slices.Contains(groups, g) {
			t.Errorf("group %q is not in install-deps.sh's table (groups %v)", g, groups)
		}
	}
	mk, err := os.ReadFile("../../Makefile")
	if err != nil {
		t.Fatal(err)
	}
	_, deps, _ := strings.Cut(string(mk), "\ndeps:\n")
	deps, _, _ = strings.Cut(deps, "\n")
	for _, g := range []string{"test", "lint", "images"} {
		if !slices.Contains(strings.Fields(deps), g) {
			t.Errorf("the Makefile's deps target (%q) does not install group %q, which make test or .ci/run uses", deps, g)
		}
	}
}

// TestEveryNeedIsMetThroughItsPackage fails when make test would rely on something installed by hand.
func TestEveryNeedIsMetThroughItsPackage(t *testing.T) {
	if os.Getenv("RG_REQUIRE_TOOLS") != "1" {
		t.Skip("RG_REQUIRE_TOOLS=1 (make test) runs this after make deps")
	}
	for _, group := range checked {
		out, code := runCheck(t, nil, group)
		if code != 0 || strings.Contains(out, "MISSING") {
			t.Errorf("install-deps.sh --check %s: exit %d\n%s", group, code, out)
		}
		if n := strings.Count(out, "ok: package "); n < 5 {
			t.Errorf("install-deps.sh --check %s listed %d needs met; want every need listed:\n%s", group, n, out)
		}
	}
}

func TestCheckRefusesWhatNoPackageProvides(t *testing.T) {
	tests := []struct {
		name, needs, root, want string
	}{
		// A java on PATH from another JDK: Debian's groovy still runs $ROOT/usr/lib/jvm/default-java/bin/java.
		{"a command on PATH is not the file the launcher runs", "test default-jre-headless /usr/lib/jvm/default-java/bin/java groovy", t.TempDir(), "does not exist"},
		{"a file without its package was installed by hand", "test rg-no-such-package-xyz /usr/bin/env why", "", "installed by hand?"},
		{"a package not installed", "test rg-no-such-package-xyz /no/such/file why", "", "is not installed"},
		{"a file another package owns", "test dpkg /usr/bin/git why", "", "is not owned by package dpkg"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			need(t, "/usr/bin/dpkg-query", "dpkg")
			env := []string{"RG_DEPS_NEEDS=" + tt.needs, "RG_DEPS_ROOT=" + tt.root}
			if tt.root != "" {
				// A java on PATH (as a machine with another JDK has) must not count.
				bin := filepath.Join(t.TempDir(), "java")
				if err := os.WriteFile(bin, []byte("#!/bin/sh\n"), 0o755); err != nil {
					t.Fatal(err)
				}
				env = append(env, "PATH="+filepath.Dir(bin)+":"+os.Getenv("PATH"))
			}
			out, code := runCheck(t, env, "test")
			if code != 1 || !strings.Contains(out, "MISSING") || !strings.Contains(out, tt.want) {
				t.Errorf("exit %d, want 1 with MISSING ... %q:\n%s", code, tt.want, out)
			}
		})
	}
	t.Run("unknown group is bad input", func(t *testing.T) {
		if _, code := runCheck(t, nil, "tset"); code != 2 {
			t.Errorf("exit %d, want 2", code)
		}
	})
}

// TestInstallWithoutRootOrSudoSaysSo: a user without sudo gets one actionable line, not "sudo: command not found".
func TestInstallWithoutRootOrSudoSaysSo(t *testing.T) {
	need(t, "/usr/bin/dpkg-query", "dpkg")
	// PATH holds only what install-deps.sh runs, with an id that says uid 1000 and no sudo.
	bin := t.TempDir()
	for _, c := range []string{"bash", "cat", "cut", "dirname", "dpkg-query", "grep"} {
		p, err := exec.LookPath(c)
		if err != nil {
			t.Skipf("no %s", c)
		}
		if err := os.Symlink(p, filepath.Join(bin, c)); err != nil {
			t.Fatal(err)
		}
	}
	id := "#!/bin/sh\ncase $1 in -u) echo 1000 ;; -un) echo builder ;; *) echo 'uid=1000(builder)' ;; esac\n"
	if err := os.WriteFile(filepath.Join(bin, "id"), []byte(id), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command("/bin/bash", "./install-deps.sh", "test")
	cmd.Env = append(os.Environ(), "PATH="+bin, "RG_DEPS_NEEDS=test rg-no-such-package-xyz /no/such/file why")
	out, err := cmd.CombinedOutput()
	code := -1
	if ee, ok := err.(*exec.ExitError); ok {
		code = ee.ExitCode()
	}
	want := "install-deps: missing rg-no-such-package-xyz; installing needs root, and this is user builder without sudo: run test/scripts/install-deps.sh test as root (or install sudo)"
	if code != 2 || !strings.Contains(string(out), want) || strings.Contains(string(out), "not found") {
		t.Errorf("exit %d, want 2 with %q:\n%s", code, want, out)
	}
}

// need returns file, which package pkg provides; without it the test fails under RG_REQUIRE_TOOLS=1 (make test) and is
// skipped otherwise (make check, a machine that is not Debian), never decided by a command found on PATH.
func need(t *testing.T, file, pkg string) string {
	t.Helper()
	if _, err := os.Stat(file); err != nil {
		if os.Getenv("RG_REQUIRE_TOOLS") == "1" {
			t.Fatalf("%s is missing (Debian package %s) and RG_REQUIRE_TOOLS=1: run test/scripts/install-deps.sh", file, pkg)
		}
		t.Skipf("%s is missing (Debian package %s); RG_REQUIRE_TOOLS=1 makes this a failure", file, pkg)
	}
	return file
}
