// Package gate runs the goBuildGate checks (module graph, API compatibility, health smoke test) and reports them as results and JUnit.
package gate
