package registry_test

import (
	"os"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
)

// TestMain keeps the breaker state of every default client in a temp dir, never in ~/.cache/release-gates.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "registry-state-")
	if err != nil {
		panic(err)
	}
	os.Setenv(breaker.DirEnv, dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}
