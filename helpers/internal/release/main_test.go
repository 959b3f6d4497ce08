package release_test

import (
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/breaker/breakertest"
)

// TestMain keeps the registry breakers' state in a temp dir, never in the agent's shared one.
func TestMain(m *testing.M) { breakertest.Main(m) }
