package steps

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"

	"github.com/release-gates/release-gates/helpers/internal/atomicfile"
	"github.com/release-gates/release-gates/helpers/internal/attest"
	"github.com/release-gates/release-gates/helpers/internal/gate"
	"github.com/release-gates/release-gates/helpers/internal/params"
	"github.com/release-gates/release-gates/helpers/internal/relay"
	"github.com/release-gates/release-gates/helpers/internal/release"
	"github.com/release-gates/release-gates/helpers/internal/signing"
)

// All returns every step whose parameters Go declares, by name order of the vars.
func All() []params.Step {
	return []params.Step{attest.Step, gate.Step, signing.Step, relay.Step, release.Step}
}

// Files returns the generated files of every step, by path relative to the repository root.
func Files() map[string][]byte {
	out := map[string][]byte{}
	for _, s := range All() {
		out[filepath.Join("resources", "steps", s.Name+".json")] = s.SchemaJSON()
		out[filepath.Join("vars", s.Name+".txt")] = s.HelpText()
	}
	return out
}

// Write regenerates every step's files under root.
func Write(root string) error {
	for rel, b := range Files() {
		p := filepath.Join(root, rel)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return err
		}
		if err := atomicfile.WriteFile(p, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// Stale returns the generated files under root that differ from what Go generates now.
func Stale(root string) []string {
	var out []string
	for rel, b := range Files() {
		got, err := os.ReadFile(filepath.Join(root, rel))
		if err != nil || !bytes.Equal(got, b) {
			out = append(out, rel)
		}
	}
	return out
}

// Check returns an error naming every stale generated file.
func Check(root string) error {
	if s := Stale(root); len(s) > 0 {
		return fmt.Errorf("generated step files are stale: %v: run make generate", s)
	}
	return nil
}
