package peertest

import (
	"os"
	"os/exec"
	"testing"
)

// RequireEnv is the variable that turns a missing peer CLI from a skip into a failure.
const RequireEnv = "RG_REQUIRE_TOOLS"

// Tool returns the path of name on PATH; when it is missing the test fails if RG_REQUIRE_TOOLS=1, else it is skipped.
// Under -short (make check) it always skips: peer CLIs are built by tools.sh, which the fast loop never runs.
func Tool(t testing.TB, name string) string {
	t.Helper()
	if testing.Short() {
		t.Skipf("needs the peer CLI %s; skipped under -short", name)
	}
	p, err := exec.LookPath(name)
	if err == nil {
		return p
	}
	if os.Getenv(RequireEnv) == "1" {
		t.Fatalf("%s not on PATH and %s=1: run test/scripts/tools.sh %s and add its bin dir to PATH", name, RequireEnv, name)
	}
	t.Skipf("%s not on PATH (set %s=1 to make this a failure)", name, RequireEnv)
	return ""
}
