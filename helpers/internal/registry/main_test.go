package registry_test

import (
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/breaker/breakertest"
)

// TestMain keeps the breaker state of every default client in a temp dir, never in ~/.cache/release-gates.
func TestMain(m *testing.M) { breakertest.Main(m) }
