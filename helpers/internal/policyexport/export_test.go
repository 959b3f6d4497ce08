package policyexport

import (
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"cuelang.org/go/cue/cuecontext"
	"gopkg.in/yaml.v3"

	"github.com/release-gates/release-gates/helpers/internal/policyexport/crdcheck"
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
		ReleaseKeys: []string{testPub}, NotationSigners: []string{testCert}, Repository: "https://git.example/orders.git",
		Branch: "main", BuilderPrefix: "https://jenkins.example/job/orders/", Environment: "prod", MinApprovals: 2}
}

func withVSA(b Bundle) Bundle { b.VSAKeys = []string{testPub}; return b }

func vsaOnly(b Bundle) Bundle {
	b = withVSA(b)
	b.VSAOnly = true
	return b
}

// crd is the published CRD and served version each format is checked against (read from ../shared/admission).
var crd = map[string]struct{ file, version string }{
	FormatKyverno:              {"policies.kyverno.io_imagevalidatingpolicies.yaml", "v1"},
	FormatKyvernoClusterPolicy: {"kyverno.io_clusterpolicies.yaml", "v1"},
	FormatPolicyController:     {"policy.sigstore.dev_clusterimagepolicies.yaml", "v1beta1"},
}

func schema(t *testing.T, format string) *crdcheck.Schema {
	t.Helper()
	dir, err := crdcheck.Dir(".")
	if err != nil {
		t.Fatalf("the admission engines' CRDs are needed to check the exported policies: %v", err)
	}
	c := crd[format]
	s, err := crdcheck.Load(filepath.Join(dir, c.file), c.version)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestExportMatchesTheGoldenFilesAndThePublishedCRDSchemas(t *testing.T) {
	variants := []struct {
		suffix string
		bundle Bundle
		docs   map[string]int // documents per format
	}{
		{"", bundle(), map[string]int{FormatKyverno: 1, FormatKyvernoClusterPolicy: 1, FormatPolicyController: 2}},
		{"-vsa", withVSA(bundle()), map[string]int{FormatKyverno: 1, FormatKyvernoClusterPolicy: 1, FormatPolicyController: 3}},
		{"-vsa-only", vsaOnly(bundle()), map[string]int{FormatKyverno: 1, FormatKyvernoClusterPolicy: 1, FormatPolicyController: 1}},
	}
	for _, v := range variants {
		for _, format := range []string{FormatKyverno, FormatKyvernoClusterPolicy, FormatPolicyController} {
			t.Run(format+v.suffix, func(t *testing.T) {
				out, err := Export(v.bundle, format)
				if err != nil {
					t.Fatal(err)
				}
				golden := filepath.Join("testdata", format+v.suffix+".golden.yaml")
				if *update {
					if err := os.WriteFile(golden, out, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				want, _ := os.ReadFile(golden)
				if string(want) != string(out) {
					t.Fatalf("output differs from %s (run with -update after checking):\n%s", golden, out)
				}
				n, err := schema(t, format).ValidateYAML(out)
				if err != nil {
					t.Fatalf("against the published CRD: %v", err)
				}
				if n != v.docs[format] {
					t.Fatalf("%d documents checked, want %d", n, v.docs[format])
				}
			})
		}
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
		{FormatKyvernoClusterPolicy, "kyverno-example-cosign-key.yaml", []string{
			".spec.rules[].verifyImages[].attestors[].entries[].keys.publicKeys",
			".spec.rules[].verifyImages[].attestors[].entries[].keys.rekor.ignoreTlog",
			".spec.rules[].verifyImages[].attestors[].entries[].keys.ctlog.ignoreSCT",
			".spec.rules[].verifyImages[].attestors[].count",
			".spec.rules[].verifyImages[].imageReferences",
			".spec.rules[].match.any[].resources.kinds",
		}},
		{FormatKyvernoClusterPolicy, "kyverno-example-notary.yaml", []string{
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

func TestTheCRDCheckAcceptsTheDocumentedExampleAndCatchesBadFields(t *testing.T) {
	ex, err := os.ReadFile(filepath.Join("testdata", "kyverno-example-cosign-key.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := schema(t, FormatKyvernoClusterPolicy).ValidateYAML(ex); err != nil {
		t.Fatalf("documented example rejected: %v", err)
	}
	ivp, _ := Export(bundle(), FormatKyverno)
	cp, _ := Export(bundle(), FormatKyvernoClusterPolicy)
	pc, _ := Export(bundle(), FormatPolicyController)
	cases := []struct {
		name, format string
		doc          []byte
		from, to     string
		want         string
	}{
		{"an unknown IVP field", FormatKyverno, ivp, "mutateDigest:", "mutateDigests:", "mutateDigests"},
		{"an IVP value off its enum", FormatKyverno, ivp, "failurePolicy: Fail", "failurePolicy: Sometimes", "failurePolicy"},
		{"a wrongly typed IVP value", FormatKyverno, ivp, "timeoutSeconds: 30", "timeoutSeconds: soon", "timeoutSeconds"},
		{"an IVP attestor without a name", FormatKyverno, ivp, "- name: notary", "- nom: notary", "name"},
		{"an IVP of another apiVersion", FormatKyverno, ivp, "policies.kyverno.io/v1", "policies.kyverno.io/v9", "want policies.kyverno.io/v1"},
		{"an unknown ClusterPolicy field", FormatKyvernoClusterPolicy, cp, "mutateDigest:", "mutateDigests:", "mutateDigests"},
		{"a ClusterPolicy value off its enum", FormatKyvernoClusterPolicy, cp, "validationFailureAction: Enforce", "validationFailureAction: Block", "validationFailureAction"},
		{"a wrongly typed ClusterPolicy value", FormatKyvernoClusterPolicy, cp, "webhookTimeoutSeconds: 30", "webhookTimeoutSeconds: soon", "webhookTimeoutSeconds"},
		{"an unknown ClusterImagePolicy field", FormatPolicyController, pc, "hashAlgorithm:", "hashAlgorythm:", "hashAlgorythm"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			bad := strings.Replace(string(c.doc), c.from, c.to, 1)
			if bad == string(c.doc) {
				t.Fatalf("%q not in the export", c.from)
			}
			_, err := schema(t, c.format).ValidateYAML([]byte(bad))
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want one naming %q", err, c.want)
			}
		})
	}
}

func TestCRDDirSaysWhereTheCRDsAreExpected(t *testing.T) {
	t.Setenv(crdcheck.EnvDir, filepath.Join(t.TempDir(), "missing"))
	if _, err := crdcheck.Dir("."); err == nil || !strings.Contains(err.Error(), crdcheck.EnvDir) {
		t.Fatalf("err = %v", err)
	}
	t.Setenv(crdcheck.EnvDir, "")
	if _, err := crdcheck.Dir(t.TempDir()); err == nil || !strings.Contains(err.Error(), "shared/admission") {
		t.Fatalf("err = %v", err)
	}
}

func TestExportRefusesAnIncompleteBundle(t *testing.T) {
	cases := map[string]struct {
		format string
		edit   func(*Bundle)
	}{
		"a bad name":                 {FormatKyverno, func(b *Bundle) { b.Name = "Release_Gates" }},
		"no images":                  {FormatKyverno, func(b *Bundle) { b.Images = nil }},
		"no cosign key":              {FormatPolicyController, func(b *Bundle) { b.CosignKeys = nil }},
		"no release key":             {FormatKyverno, func(b *Bundle) { b.ReleaseKeys = nil }},
		"no branch":                  {FormatKyverno, func(b *Bundle) { b.Branch = "" }},
		"a quote in the repo":        {FormatKyverno, func(b *Bundle) { b.Repository = `x' || true` }},
		"a quote in an image glob":   {FormatKyverno, func(b *Bundle) { b.Images = []string{"x'*"} }},
		"kyverno without a signer":   {FormatKyverno, func(b *Bundle) { b.NotationSigners = nil }},
		"legacy without a signer":    {FormatKyvernoClusterPolicy, func(b *Bundle) { b.NotationSigners = nil }},
		"vsa-only without a vsa key": {FormatKyverno, func(b *Bundle) { b.VSAOnly = true }},
		"an unknown format":          {"opa", func(*Bundle) {}},
	}
	names := make([]string, 0, len(cases))
	for n := range cases {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		t.Run(n, func(t *testing.T) {
			b := bundle()
			cases[n].edit(&b)
			if _, err := Export(b, cases[n].format); result.ClassOf(err) != result.ClassInput {
				t.Fatalf("err = %v", err)
			}
		})
	}
	b := vsaOnly(bundle())
	b.CosignKeys, b.ReleaseKeys, b.NotationSigners, b.Repository = nil, nil, nil, ""
	if _, err := Export(b, FormatKyverno); err != nil {
		t.Fatalf("a VSA-only policy needs only the verifier key: %v", err)
	}
}

// cueEval evaluates a CUE policy against an attestation exactly as policy-controller does through cosign v2.6.5
// pkg/policy (evaluateCue): compile both, fail on a policy error, unify, Validate() without options.
func cueEval(policy string, statement any) error {
	att, err := json.Marshal(statement)
	if err != nil {
		return err
	}
	ctx := cuecontext.New()
	p := ctx.CompileString(policy)
	if p.Err() != nil {
		return p.Err()
	}
	a := ctx.CompileBytes(att)
	if a.Err() != nil {
		return a.Err()
	}
	return p.Unify(a).Validate()
}

type obj = map[string]any

func statement(predicateType string, predicate obj) obj {
	return obj{"_type": "https://in-toto.io/Statement/v1", "predicateType": predicateType, "predicate": predicate,
		"subject": []any{obj{"name": "registry.example/orders", "digest": obj{"sha256": strings.Repeat("ab", 32)}}}}
}

func provenance() obj {
	return obj{
		"buildDefinition": obj{
			"buildType":            "https://release-gates.dev/jenkins-go-build/v1",
			"externalParameters":   obj{"repository": "https://git.example/orders.git", "branch": "main"},
			"resolvedDependencies": []any{obj{"uri": "git+https://git.example/orders.git@refs/heads/main", "digest": obj{"gitCommit": strings.Repeat("c", 40)}}},
		},
		"runDetails": obj{"builder": obj{"id": "https://jenkins.example/job/orders/7/"}, "metadata": obj{"invocationID": "rg-1"}},
	}
}

func approval() obj {
	return obj{"environment": "prod", "decision": "approved", "traceID": "rg-1",
		"approvers": []any{obj{"user": "alice", "at": "2026-01-01T00:00:00Z"}, obj{"user": "bob", "at": "2026-01-01T00:01:00Z"}},
		"rule":      obj{"name": "prod-four-eyes", "minApprovals": 2}}
}

func vsaPredicate() obj {
	return obj{"verifier": obj{"id": DefaultVSAVerifierID}, "timeVerified": "2026-01-01T00:00:00Z", "resourceUri": "registry.example/orders@sha256:" + strings.Repeat("ab", 32),
		"policy": obj{"uri": vsaPolicyURI, "digest": obj{"sha256": strings.Repeat("0", 64)}}, "verificationResult": "PASSED",
		"verifiedLevels": []any{"SLSA_BUILD_LEVEL_2"}, "slsaVersion": "1.0"}
}

// edit returns a deep copy of p with the value at the dot path set (nil deletes it).
func edit(p obj, path string, v any) obj {
	b, _ := json.Marshal(p)
	var c obj
	_ = json.Unmarshal(b, &c)
	cur := c
	segs := strings.Split(path, ".")
	for _, s := range segs[:len(segs)-1] {
		if l, ok := cur[s].([]any); ok {
			cur = l[0].(obj)
			continue
		}
		cur = cur[s].(obj)
	}
	if v == nil {
		delete(cur, segs[len(segs)-1])
	} else {
		cur[segs[len(segs)-1]] = v
	}
	return c
}

func TestThePolicyControllerCUERequiresEveryExpectedField(t *testing.T) {
	b := bundle()
	b.VSAVerifierID = DefaultVSAVerifierID
	cases := []struct {
		name, policy, predicateType string
		predicate                   obj
		want                        string // "" passes
	}{
		{"the provenance verifyRelease accepts passes", ProvenanceCUE(b), slsaType, provenance(), ""},
		{"a provenance without branch is refused", ProvenanceCUE(b), slsaType, edit(provenance(), "buildDefinition.externalParameters.branch", nil), "externalParameters.branch"},
		{"a provenance without repository is refused", ProvenanceCUE(b), slsaType, edit(provenance(), "buildDefinition.externalParameters.repository", nil), "externalParameters.repository"},
		{"a provenance without externalParameters is refused", ProvenanceCUE(b), slsaType, edit(provenance(), "buildDefinition.externalParameters", nil), "externalParameters"},
		{"a provenance without a commit is refused", ProvenanceCUE(b), slsaType, edit(provenance(), "buildDefinition.resolvedDependencies", nil), "gitCommit"},
		{"a provenance with a short commit is refused", ProvenanceCUE(b), slsaType, edit(provenance(), "buildDefinition.resolvedDependencies.digest.gitCommit", "abc1234"), "gitCommit"},
		{"a provenance without builder is refused", ProvenanceCUE(b), slsaType, edit(provenance(), "runDetails.builder", nil), "builder.id"},
		{"a provenance of another branch is refused", ProvenanceCUE(b), slsaType, edit(provenance(), "buildDefinition.externalParameters.branch", "dev"), "branch"},
		{"a provenance from another builder is refused", ProvenanceCUE(b), slsaType, edit(provenance(), "runDetails.builder.id", "https://evil.example/job/orders/1/"), "builder.id"},
		{"an empty predicate is refused", ProvenanceCUE(b), slsaType, obj{}, "mustBePresent"},
		{"the approval verifyRelease accepts passes", ApprovalCUE(b), approvalType, approval(), ""},
		{"an approval without environment is refused", ApprovalCUE(b), approvalType, edit(approval(), "environment", nil), "predicate.environment"},
		{"an approval without decision is refused", ApprovalCUE(b), approvalType, edit(approval(), "decision", nil), "predicate.decision"},
		{"an approval for another environment is refused", ApprovalCUE(b), approvalType, edit(approval(), "environment", "staging"), "environment"},
		{"a rejected decision is refused", ApprovalCUE(b), approvalType, edit(approval(), "decision", "rejected"), "decision"},
		{"one approver where two are required is refused", ApprovalCUE(b), approvalType, edit(approval(), "approvers", []any{obj{"user": "alice"}}), "MinItems"},
		{"the same approver twice is refused", ApprovalCUE(b), approvalType, edit(approval(), "approvers", []any{obj{"user": "alice"}, obj{"user": "alice"}}), "UniqueItems"},
		{"fewer approvers than the recorded rule asks is refused", ApprovalCUE(b), approvalType, edit(approval(), "rule.minApprovals", 3), "rule.minApprovals"},
		{"an approval without its rule is refused", ApprovalCUE(b), approvalType, edit(approval(), "rule", nil), "rule.minApprovals"},
		{"the VSA verifyRelease issues passes", VSACUE(b), VSAType, vsaPredicate(), ""},
		{"a FAILED VSA is refused", VSACUE(b), VSAType, edit(vsaPredicate(), "verificationResult", "FAILED"), "verificationResult"},
		{"a VSA without a result is refused", VSACUE(b), VSAType, edit(vsaPredicate(), "verificationResult", nil), "verificationResult"},
		{"a VSA by another verifier is refused", VSACUE(b), VSAType, edit(vsaPredicate(), "verifier.id", "https://other.example"), "verifier.id"},
		{"a statement of another type is refused", ProvenanceCUE(b), approvalType, provenance(), "predicateType"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := cueEval(c.policy, statement(c.predicateType, c.predicate))
			switch {
			case c.want == "" && err != nil:
				t.Fatalf("refused: %v\npolicy:\n%s", err, c.policy)
			case c.want != "" && err == nil:
				t.Fatalf("accepted, want a refusal naming %q\npolicy:\n%s", c.want, c.policy)
			case c.want != "" && !strings.Contains(err.Error(), c.want):
				t.Fatalf("refused with %v, want it to name %q", err, c.want)
			}
		})
	}
	// Why: a policy that states a field as a regular field fills it in itself, so an attestation lacking it passes.
	old := "predicateType: \"" + slsaType + "\"\npredicate: buildDefinition: externalParameters: {\n  repository: \"https://git.example/orders.git\"\n  branch: \"main\"\n}\n"
	if err := cueEval(old, statement(slsaType, edit(provenance(), "buildDefinition.externalParameters.branch", nil))); err != nil {
		t.Fatalf("the engine's CUE semantics changed (the old policy now refuses a missing field): %v", err)
	}
}
