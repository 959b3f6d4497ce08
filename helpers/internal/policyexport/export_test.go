package policyexport

import (
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

var update = flag.Bool("update", false, "rewrite the golden files")

const testPub = `-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE8nXRh950IZbRj8Ra/N9sbqOPZrfM
5/KAQN0/KjHcorm/J5yctVd7iEcnessRQjU917hmKO6JWVGHpDguIyakZA==
-----END PUBLIC KEY-----
`

const testCert = `-----BEGIN CERTIFICATE-----
MIIBdTCCARugAwIBAgIBATAKBggqhkjOPQQDAjAWMRQwEgYDVQQDEwtyZWxlYXNl
LWdhdGVzMB4XDTI2MDEwMTAwMDAwMFoXDTM2MDEwMTAwMDAwMFowFjEUMBIGA1UE
-----END CERTIFICATE-----
`

func bundle() Bundle {
	return Bundle{Name: "release-gates-orders", Images: []string{"registry.example/orders*"}, CosignKeys: []string{testPub},
		ReleaseKeys: []string{testPub}, NotationCerts: []string{testCert}, Repository: "https://git.example/orders.git",
		Branch: "main", BuilderPrefix: "https://jenkins.example/job/orders/", Environment: "prod"}
}

func schema(t *testing.T, name string) *Schema {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("testdata", name))
	if err != nil {
		t.Fatal(err)
	}
	s, err := ParseSchema(b)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestExportMatchesTheGoldenFilesAndThePublishedSchemas(t *testing.T) {
	cases := []struct {
		format, golden, schema, kind string
	}{
		{FormatKyverno, "kyverno.golden.yaml", "kyverno-clusterpolicy-v1.schema.json", "ClusterPolicy"},
		{FormatPolicyController, "policy-controller.golden.yaml", "policy-controller-clusterimagepolicy-v1beta1.schema.json", "ClusterImagePolicy"},
	}
	for _, c := range cases {
		t.Run(c.format, func(t *testing.T) {
			out, err := Export(bundle(), c.format)
			if err != nil {
				t.Fatal(err)
			}
			golden := filepath.Join("testdata", c.golden)
			if *update {
				os.WriteFile(golden, out, 0o644)
			}
			want, _ := os.ReadFile(golden)
			if string(want) != string(out) {
				t.Fatalf("output differs from %s (run with -update after checking):\n%s", golden, out)
			}
			if err := ValidateYAML(schema(t, c.schema), out, c.kind); err != nil {
				t.Fatalf("schema: %v", err)
			}
		})
	}
}

// paths lists every key path of the YAML documents in b, with list indexes dropped.
func paths(t *testing.T, b []byte) map[string]bool {
	t.Helper()
	out := map[string]bool{}
	var walk func(v any, p string)
	walk = func(v any, p string) {
		switch x := v.(type) {
		case map[string]any:
			for k, y := range x {
				out[p+"."+k] = true
				walk(y, p+"."+k)
			}
		case []any:
			for _, y := range x {
				walk(y, p+"[]")
			}
		}
	}
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			break
		}
		walk(doc, "")
	}
	return out
}

func TestExportUsesTheFieldsTheDocumentedExamplesUse(t *testing.T) {
	cases := []struct {
		format, example string
		shared          []string
	}{
		{FormatKyverno, "kyverno-example-cosign-key.yaml", []string{
			".spec.rules[].verifyImages[].attestors[].entries[].keys.publicKeys",
			".spec.rules[].verifyImages[].attestors[].entries[].keys.rekor.ignoreTlog",
			".spec.rules[].verifyImages[].attestors[].entries[].keys.ctlog.ignoreSCT",
			".spec.rules[].verifyImages[].attestors[].count",
			".spec.rules[].verifyImages[].imageReferences",
			".spec.rules[].match.any[].resources.kinds",
		}},
		{FormatKyverno, "kyverno-example-notary.yaml", []string{
			".spec.rules[].verifyImages[].type",
			".spec.rules[].verifyImages[].attestors[].entries[].certificates.cert",
		}},
		{FormatPolicyController, "policy-controller-example-key-attestation.yaml", []string{
			".spec.images[].glob", ".spec.authorities[].key.data", ".spec.authorities[].attestations[].predicateType",
			".spec.authorities[].attestations[].policy.type", ".spec.authorities[].attestations[].policy.data",
		}},
	}
	for _, c := range cases {
		t.Run(c.example, func(t *testing.T) {
			ex, err := os.ReadFile(filepath.Join("testdata", c.example))
			if err != nil {
				t.Fatal(err)
			}
			out, err := Export(bundle(), c.format)
			if err != nil {
				t.Fatal(err)
			}
			have, doc := paths(t, out), paths(t, ex)
			for _, p := range c.shared {
				if !doc[p] || !have[p] {
					t.Errorf("path %s: in example %v, in ours %v", p, doc[p], have[p])
				}
			}
		})
	}
}

func TestTheValidatorAcceptsTheDocumentedExamplesAndCatchesBadFields(t *testing.T) {
	ky := schema(t, "kyverno-clusterpolicy-v1.schema.json")
	ex, _ := os.ReadFile(filepath.Join("testdata", "kyverno-example-cosign-key.yaml"))
	if err := ValidateYAML(ky, ex, "ClusterPolicy"); err != nil {
		t.Fatalf("documented example rejected: %v", err)
	}
	pc := schema(t, "policy-controller-clusterimagepolicy-v1beta1.schema.json")
	ex, _ = os.ReadFile(filepath.Join("testdata", "policy-controller-example-key-attestation.yaml"))
	if err := ValidateYAML(pc, ex, "ClusterImagePolicy"); err != nil {
		t.Fatalf("documented example rejected: %v", err)
	}
	out, _ := Export(bundle(), FormatKyverno)
	for name, bad := range map[string]string{
		"an unknown field":    strings.Replace(string(out), "mutateDigest:", "mutateDigests:", 1),
		"a value off enum":    strings.Replace(string(out), "validationFailureAction: Enforce", "validationFailureAction: Block", 1),
		"a wrongly typed one": strings.Replace(string(out), "webhookTimeoutSeconds: 30", "webhookTimeoutSeconds: soon", 1),
	} {
		t.Run(name, func(t *testing.T) {
			if err := ValidateYAML(ky, []byte(bad), "ClusterPolicy"); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestExportRefusesAnIncompleteBundle(t *testing.T) {
	cases := map[string]func(*Bundle){
		"a bad name":               func(b *Bundle) { b.Name = "Release_Gates" },
		"no images":                func(b *Bundle) { b.Images = nil },
		"no cosign key":            func(b *Bundle) { b.CosignKeys = nil },
		"no release key":           func(b *Bundle) { b.ReleaseKeys = nil },
		"no branch":                func(b *Bundle) { b.Branch = "" },
		"a quote in the repo":      func(b *Bundle) { b.Repository = `x" || true` },
		"kyverno without notation": func(b *Bundle) { b.NotationCerts = nil },
	}
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			b := bundle()
			cases[n](&b)
			if _, err := Export(b, FormatKyverno); result.ClassOf(err) != result.ClassInput {
				t.Fatalf("err = %v", err)
			}
		})
	}
	if _, err := Export(bundle(), "opa"); result.ClassOf(err) != result.ClassInput {
		t.Fatalf("unknown format: %v", err)
	}
}
