package policyexport

import (
	"fmt"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/cel-go/cel"
	"github.com/google/cel-go/common/types"
	"github.com/google/cel-go/common/types/ref"
	"gopkg.in/yaml.v3"
)

// kyvernoCEL evaluates an ImageValidatingPolicy's validations with cel-go the way Kyverno declares them
// (pkg/imageverification/imageverifierfunctions): images is a map of image lists, attestors and attestations map
// names to themselves, verifyImageSignatures and verifyAttestationSignatures count the attestors that verify and
// return an error for one that does not, extractPayload returns the verified in-toto statement.
type kyvernoCEL struct {
	imageSigs map[string]bool // image|attestor
	attSigs   map[string]bool // image|attestation|attestor
	payloads  map[string]any  // attestation -> statement
}

func (k kyvernoCEL) env(t *testing.T, p map[string]any) (*cel.Env, map[string]any) {
	t.Helper()
	spec := p["spec"].(map[string]any)
	attestors, attestations := map[string]string{}, map[string]string{}
	for _, a := range spec["attestors"].([]any) {
		n := a.(map[string]any)["name"].(string)
		attestors[n] = n
	}
	for _, a := range spec["attestations"].([]any) {
		n := a.(map[string]any)["name"].(string)
		attestations[n] = n
	}
	count := func(keyOf func(string) string, list ref.Val) ref.Val {
		names, err := list.ConvertToNative(typeOfStrings)
		if err != nil {
			return types.WrapErr(err)
		}
		n := 0
		for _, a := range names.([]string) {
			if _, ok := attestors[a]; !ok {
				return types.NewErr("attestor not found in policy: %s", a)
			}
			if !k.verified(keyOf(a)) {
				return types.NewErr("failed to verify %s", keyOf(a))
			}
			n++
		}
		return types.Int(n)
	}
	env, err := cel.NewEnv(
		cel.OptionalTypes(),
		cel.Variable("images", cel.MapType(cel.StringType, cel.ListType(cel.StringType))),
		cel.Variable("attestors", cel.MapType(cel.StringType, cel.StringType)),
		cel.Variable("attestations", cel.MapType(cel.StringType, cel.StringType)),
		cel.Function("verifyImageSignatures", cel.Overload("verify_image_signature_string_stringarray",
			[]*cel.Type{cel.StringType, cel.ListType(cel.StringType)}, cel.IntType,
			cel.BinaryBinding(func(img, list ref.Val) ref.Val {
				return count(func(a string) string { return fmt.Sprint(img.Value(), "|", a) }, list)
			}))),
		cel.Function("verifyAttestationSignatures", cel.Overload("verify_image_attestations_string_string_stringarray",
			[]*cel.Type{cel.StringType, cel.StringType, cel.ListType(cel.StringType)}, cel.IntType,
			cel.FunctionBinding(func(args ...ref.Val) ref.Val {
				return count(func(a string) string { return fmt.Sprint(args[0].Value(), "|", args[1].Value(), "|", a) }, args[2])
			}))),
		cel.Function("extractPayload", cel.Overload("payload_string_string",
			[]*cel.Type{cel.StringType, cel.StringType}, cel.DynType,
			cel.BinaryBinding(func(img, att ref.Val) ref.Val {
				s, ok := k.payloads[att.Value().(string)]
				if !ok {
					return types.NewErr("could not find attestation %v", att.Value())
				}
				return types.DefaultTypeAdapter.NativeToValue(s)
			}))),
	)
	if err != nil {
		t.Fatal(err)
	}
	return env, map[string]any{"attestors": attestors, "attestations": attestations}
}

var typeOfStrings = reflect.TypeOf([]string{})

func (k kyvernoCEL) verified(key string) bool { return k.imageSigs[key] || k.attSigs[key] }

// denials returns the messages of the validations that do not evaluate to true for the pod's images.
func (k kyvernoCEL) denials(t *testing.T, policyYAML []byte, images map[string][]string) []string {
	t.Helper()
	var p map[string]any
	if err := yaml.Unmarshal(policyYAML[strings.Index(string(policyYAML), "apiVersion"):], &p); err != nil {
		t.Fatal(err)
	}
	env, vars := k.env(t, p)
	vars["images"] = images
	var denied []string
	for _, v := range p["spec"].(map[string]any)["validations"].([]any) {
		val := v.(map[string]any)
		ast, iss := env.Compile(val["expression"].(string))
		if iss.Err() != nil {
			t.Fatalf("CEL does not compile: %v\n%s", iss.Err(), val["expression"])
		}
		if ast.OutputType() != cel.BoolType {
			t.Fatalf("validation yields %v, want bool: %s", ast.OutputType(), val["expression"])
		}
		prg, err := env.Program(ast)
		if err != nil {
			t.Fatal(err)
		}
		out, _, err := prg.Eval(vars)
		if err != nil || out != types.True {
			denied = append(denied, val["message"].(string))
		}
	}
	return denied
}

func TestTheImageValidatingPolicyAdmitsOnlyAFullySignedAttestedAndApprovedImage(t *testing.T) {
	const app, sidecar = "registry.example/orders@sha256:aa", "registry.example/orders-proxy@sha256:bb"
	pod := map[string][]string{"containers": {app}, "initContainers": {sidecar}}
	two := bundle()
	two.CosignKeys = []string{testPub, testPub}
	good := func(keys ...string) kyvernoCEL {
		k := kyvernoCEL{imageSigs: map[string]bool{}, attSigs: map[string]bool{}, payloads: map[string]any{
			"provenance": statement(slsaType, provenance()), "approval": statement(approvalType, approval()), "vsa": statement(VSAType, vsaPredicate()),
		}}
		for _, img := range []string{app, sidecar} {
			for _, a := range keys {
				k.imageSigs[img+"|"+a] = true
			}
			k.imageSigs[img+"|notary"] = true
			for _, att := range []string{"provenance", "approval"} {
				k.attSigs[img+"|"+att+"|release1"] = true
			}
			k.attSigs[img+"|vsa|verifier1"] = true
		}
		return k
	}
	with := func(k kyvernoCEL, f func(k *kyvernoCEL)) kyvernoCEL { f(&k); return k }
	cases := []struct {
		name   string
		bundle Bundle
		k      kyvernoCEL
		denied []string // message prefixes
	}{
		{"a fully evidenced pod is admitted", bundle(), good("cosign1"), nil},
		{"a pod signed by the second of two cosign keys is admitted (rotation)", two, good("cosign2"), nil},
		{"an init container without a cosign signature is denied", bundle(), with(good("cosign1"), func(k *kyvernoCEL) { delete(k.imageSigs, sidecar+"|cosign1") }), []string{"the image must carry a cosign signature"}},
		{"an image without the pinned notary signature is denied", bundle(), with(good("cosign1"), func(k *kyvernoCEL) { delete(k.imageSigs, app+"|notary") }), []string{"the image must carry a Notary Project signature"}},
		{"provenance without its release-key signature is denied", bundle(), with(good("cosign1"), func(k *kyvernoCEL) { delete(k.attSigs, app+"|provenance|release1") }), []string{"the image must carry SLSA v1 provenance"}},
		{"provenance without branch is denied", bundle(), with(good("cosign1"), func(k *kyvernoCEL) {
			k.payloads["provenance"] = statement(slsaType, edit(provenance(), "buildDefinition.externalParameters.branch", nil))
		}), []string{"the provenance must name"}},
		{"provenance from another repository is denied", bundle(), with(good("cosign1"), func(k *kyvernoCEL) {
			k.payloads["provenance"] = statement(slsaType, edit(provenance(), "buildDefinition.externalParameters.repository", "https://evil.example/x.git"))
		}), []string{"the provenance must name"}},
		{"provenance without a commit is denied", bundle(), with(good("cosign1"), func(k *kyvernoCEL) {
			k.payloads["provenance"] = statement(slsaType, edit(provenance(), "buildDefinition.resolvedDependencies.digest", nil))
		}), []string{"the provenance must name"}},
		{"provenance from another builder is denied", bundle(), with(good("cosign1"), func(k *kyvernoCEL) {
			k.payloads["provenance"] = statement(slsaType, edit(provenance(), "runDetails.builder.id", "https://jenkins.example/job/other/1/"))
		}), []string{"the provenance must name"}},
		{"an approval without environment is denied", bundle(), with(good("cosign1"), func(k *kyvernoCEL) {
			k.payloads["approval"] = statement(approvalType, edit(approval(), "environment", nil))
		}), []string{"the approval must be for prod"}},
		{"one approver where two are required is denied", bundle(), with(good("cosign1"), func(k *kyvernoCEL) {
			k.payloads["approval"] = statement(approvalType, edit(approval(), "approvers", []any{obj{"user": "alice"}}))
		}), []string{"the approval must be for prod"}},
		{"the same approver twice is denied", bundle(), with(good("cosign1"), func(k *kyvernoCEL) {
			k.payloads["approval"] = statement(approvalType, edit(approval(), "approvers", []any{obj{"user": "alice"}, obj{"user": "alice"}}))
		}), []string{"the approval must be for prod"}},
		{"fewer approvers than the recorded rule asks is denied", bundle(), with(good("cosign1"), func(k *kyvernoCEL) {
			k.payloads["approval"] = statement(approvalType, edit(approval(), "rule.minApprovals", 3))
		}), []string{"the approval must be for prod"}},
		{"an approval without its rule is denied", bundle(), with(good("cosign1"), func(k *kyvernoCEL) {
			k.payloads["approval"] = statement(approvalType, edit(approval(), "rule", nil))
		}), []string{"the approval must be for prod"}},
		{"with a VSA required, a fully evidenced pod with its VSA is admitted", withVSA(bundle()), good("cosign1"), nil},
		{"a VSA-only policy admits on the VSA alone", vsaOnly(bundle()), kyvernoCEL{payloads: map[string]any{"vsa": statement(VSAType, vsaPredicate())},
			attSigs: map[string]bool{app + "|vsa|verifier1": true, sidecar + "|vsa|verifier1": true}}, nil},
		{"a FAILED VSA is denied", vsaOnly(bundle()), kyvernoCEL{payloads: map[string]any{"vsa": statement(VSAType, edit(vsaPredicate(), "verificationResult", "FAILED"))},
			attSigs: map[string]bool{app + "|vsa|verifier1": true, sidecar + "|vsa|verifier1": true}}, []string{"the verification summary must be PASSED"}},
		{"a VSA by an untrusted key is denied", vsaOnly(bundle()), kyvernoCEL{payloads: map[string]any{"vsa": statement(VSAType, vsaPredicate())},
			attSigs: map[string]bool{app + "|vsa|verifier1": true}}, []string{"the image must carry a SLSA verification summary"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			y, err := Export(c.bundle, FormatKyverno)
			if err != nil {
				t.Fatal(err)
			}
			got := c.k.denials(t, y, pod)
			sort.Strings(got)
			if len(got) != len(c.denied) {
				t.Fatalf("denied by %q, want %q", got, c.denied)
			}
			for i := range got {
				if !strings.HasPrefix(got[i], c.denied[i]) {
					t.Fatalf("denied by %q, want %q", got, c.denied)
				}
			}
		})
	}
}
