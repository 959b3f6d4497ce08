package scripts_test

import (
	"os/exec"
	"regexp"
	"strings"
	"testing"
)

// TestMakeCheckNeedsNoRootAndNoPeerBuilds reads what `make check` would run (make -n) and refuses anything that installs
// packages, builds the peer CLIs, or runs the full suite.
func TestMakeCheckNeedsNoRootAndNoPeerBuilds(t *testing.T) {
	make := need(t, "/usr/bin/make", "make")
	out, err := exec.Command(make, "-n", "-C", "../..", "check").CombinedOutput()
	if err != nil {
		t.Fatalf("make -n check: %v\n%s", err, out)
	}
	s := string(out)
	for _, want := range []string{"install-deps.sh --check check", "gofmt -l", "go vet ./...", "go test -short ./...", "RG_GROOVY_MOCK_ONLY=1 test/groovy/run.sh"} {
		if !strings.Contains(s, want) {
			t.Errorf("make check does not run %q:\n%s", want, s)
		}
	}
	for _, bad := range []string{"tools.sh", "apt-get", "-race", "RG_REQUIRE_TOOLS", "make release", "buildah"} {
		if strings.Contains(s, bad) {
			t.Errorf("make check runs %q, which needs root, peers or the full suite:\n%s", bad, s)
		}
	}
	// install-deps.sh only ever checks here; its install path needs root. (Messages may name it.)
	cmds := regexp.MustCompile(`echo "[^"]*"`).ReplaceAllString(s, "")
	for _, m := range regexp.MustCompile(`install-deps\.sh( +--?\w+)*`).FindAllString(cmds, -1) {
		if !strings.Contains(m, "--check") {
			t.Errorf("make check calls %q, install-deps' install path", m)
		}
	}
}
