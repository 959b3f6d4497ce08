// Package breakertest keeps a test binary's circuit-breaker state in a temp dir, never in the agent's shared one.
package breakertest

import (
	"os"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
)

// Main points $RELEASE_GATES_STATE_DIR at a fresh temp dir, runs the tests, removes the dir and exits; call it from TestMain.
func Main(m *testing.M) {
	dir, err := os.MkdirTemp("", "breaker-state-")
	if err != nil {
		panic(err)
	}
	os.Setenv(breaker.DirEnv, dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
