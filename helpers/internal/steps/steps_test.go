package steps

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// repoRoot is the module root, three levels above this package.
func repoRoot(t *testing.T) string {
	t.Helper()
	root, err := filepath.Abs("../../..")
	if err != nil {
		t.Fatal(err)
	}
	return root
}

// TestGenerated checks that resources/steps/*.json and vars/*.txt equal what the Params structs generate;
// RG_GENERATE=1 (make generate) rewrites them instead.
func TestGenerated(t *testing.T) {
	root := repoRoot(t)
	if os.Getenv("RG_GENERATE") == "1" {
		if err := Write(root); err != nil {
			t.Fatal(err)
		}
	}
	if err := Check(root); err != nil {
		t.Fatal(err)
	}
}

func TestCheckSeesAnEditedFile(t *testing.T) {
	dir := t.TempDir()
	if err := Write(dir); err != nil {
		t.Fatal(err)
	}
	if err := Check(dir); err != nil {
		t.Fatalf("fresh files: %v", err)
	}
	p := filepath.Join(dir, "resources", "steps", "goBuildGate.json")
	if err := os.WriteFile(p, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := Stale(dir); len(got) != 1 || got[0] != filepath.Join("resources", "steps", "goBuildGate.json") {
		t.Fatalf("Stale = %v, want the edited schema", got)
	}
}

func TestEveryStepHasAHelperParamsAndDocumentedFields(t *testing.T) {
	for _, s := range All() {
		sc := s.Schema()
		if sc.Helper == "" || len(sc.Params) == 0 {
			t.Errorf("%s: helper %q, %d params", s.Name, sc.Helper, len(sc.Params))
		}
		seen := map[string]bool{}
		for _, f := range sc.Params {
			if f.Doc == "" {
				t.Errorf("%s: parameter %s has no doc", s.Name, f.Name)
			}
			if seen[f.Name] {
				t.Errorf("%s: parameter %s declared twice", s.Name, f.Name)
			}
			seen[f.Name] = true
		}
		for _, f := range sc.Params {
			if f.RequiredUnless != "" && !seen[f.RequiredUnless] {
				t.Errorf("%s: parameter %s is required unless %s, which is not a parameter", s.Name, f.Name, f.RequiredUnless)
			}
		}
		for _, c := range sc.Credentials {
			if !seen[c.Param] {
				t.Errorf("%s: credential row names %s, which is not a parameter", s.Name, c.Param)
			}
		}
		if !seen["resultFile"] {
			t.Errorf("%s: no resultFile parameter (the runner reads the result there)", s.Name)
		}
	}
}

func TestEveryHelpPageNamesExitFour(t *testing.T) {
	for _, s := range All() {
		txt := string(s.HelpText())
		if !strings.Contains(txt, "\n  "+s.Name+": helper bug, please report (helper "+s.Helper+", trace <id>)") {
			t.Errorf("vars/%s.txt does not name exit 4 (helper bug, please report):\n%s", s.Name, txt)
		}
		if !strings.Contains(txt, "(exit 4)") {
			t.Errorf("vars/%s.txt does not name exit code 4", s.Name)
		}
	}
}
