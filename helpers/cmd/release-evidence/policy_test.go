package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/policyexport/crdcheck"
	"github.com/release-gates/release-gates/helpers/internal/release/releasetest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func TestPolicyExportWritesEachFormatValidAgainstTheEnginesCRDs(t *testing.T) {
	kit, err := releasetest.NewKit(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	chain, err := os.ReadFile(kit.CertChainPEM)
	if err != nil {
		t.Fatal(err)
	}
	blocks := strings.SplitAfter(strings.TrimSpace(string(chain)), "-----END CERTIFICATE-----")
	leaf, root := strings.TrimSpace(blocks[0]), strings.TrimSpace(blocks[1])
	caFile := filepath.Join(kit.TrustStore, "x509", "ca", "release-gates", "ca.pem")
	dir, err := crdcheck.Dir(".")
	if err != nil {
		t.Fatalf("the admission engines' CRDs are needed: %v", err)
	}
	base := []string{"policy", "export", "--image-glob", "registry.example/orders*", "--cosign-key", kit.CosignPub, "--release-pub", kit.ReleasePub,
		"--notation-cert-chain", kit.CertChainPEM, "--expect-repo", releasetest.Repo, "--expect-branch", "main", "--expect-builder", releasetest.Builder,
		"--environment", "prod", "--min-approvals", "2"}
	cases := []struct {
		name     string
		args     []string
		wantCode int
		want     []string // in stdout (exit 0) or the message
		crd      string
		version  string
		docs     int
	}{
		{name: "kyverno is an ImageValidatingPolicy pinning the signer's leaf", args: append(base, "--format", "kyverno"),
			want: []string{"kind: ImageValidatingPolicy", "double(size(u)) >= 2.0"}, crd: "policies.kyverno.io_imagevalidatingpolicies.yaml", version: "v1", docs: 1},
		{name: "kyverno-clusterpolicy is the legacy ClusterPolicy", args: append(base, "--format", "kyverno-clusterpolicy"),
			want: []string{"kind: ClusterPolicy", "type: Notary"}, crd: "kyverno.io_clusterpolicies.yaml", version: "v1", docs: 1},
		{name: "policy-controller with a VSA is three ClusterImagePolicies", args: append(base, "--format", "policy-controller", "--vsa-key", kit.AuditPub),
			want: []string{"name: release-gates-vsa", "verification_summary/v1"}, crd: "policy.sigstore.dev_clusterimagepolicies.yaml", version: "v1beta1", docs: 3},
		{name: "a VSA-only ImageValidatingPolicy needs only the verifier key", args: []string{"policy", "export", "--format", "kyverno", "--image-glob", "registry.example/orders*", "--vsa-key", kit.AuditPub, "--vsa-only"},
			want: []string{"attestations.vsa", "'PASSED'"}, crd: "policies.kyverno.io_imagevalidatingpolicies.yaml", version: "v1", docs: 1},
		{name: "kyverno without the signer's chain is bad input", args: []string{"policy", "export", "--format", "kyverno", "--image-glob", "registry.example/orders*", "--cosign-key", kit.CosignPub, "--release-pub", kit.ReleasePub,
			"--expect-repo", releasetest.Repo, "--expect-branch", "main", "--expect-builder", releasetest.Builder}, wantCode: result.ExitInput, want: []string{"--notation-cert-chain"}},
		{name: "a CA certificate in place of the signer's chain is bad input", args: append(append([]string{}, base[:8]...), append([]string{"--notation-cert-chain", caFile}, append(base[10:], "--format", "kyverno")...)...),
			wantCode: result.ExitInput, want: []string{"starts with a CA certificate"}},
		{name: "zero approvals is bad input", args: append(append([]string{}, base...), "--format", "kyverno", "--min-approvals", "0"), wantCode: result.ExitInput, want: []string{"--min-approvals 0"}},
		{name: "an unknown format is bad input", args: append(base, "--format", "opa"), wantCode: result.ExitInput, want: []string{"unknown --format"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			code, r, stdout, stderr := run(t, 2, c.args...)
			if code != c.wantCode {
				t.Fatalf("exit %d, want %d: %s\n%s", code, c.wantCode, r.Message, stderr)
			}
			got := stdout
			if code != 0 {
				got = r.Message
				if stdout != "" {
					t.Fatalf("a refused export printed a policy")
				}
			}
			for _, w := range c.want {
				if !strings.Contains(got, w) {
					t.Fatalf("%q lacks %q", got, w)
				}
			}
			if code != 0 {
				return
			}
			s, err := crdcheck.Load(filepath.Join(dir, c.crd), c.version)
			if err != nil {
				t.Fatal(err)
			}
			if n, err := s.ValidateYAML([]byte(stdout)); err != nil || n != c.docs {
				t.Fatalf("%d documents valid, want %d: %v", n, c.docs, err)
			}
			if strings.Contains(c.name, "kyverno") && !strings.Contains(c.name, "VSA-only") {
				if !strings.Contains(stdout, indentFree(leaf)) || strings.Contains(stdout, indentFree(root)) {
					t.Fatalf("the notary attestor must trust the signer's leaf and not its root CA")
				}
			}
		})
	}
}

// indentFree is a PEM's base64 body on one line, to find it in YAML whatever the indentation.
func indentFree(pemText string) string {
	lines := strings.Split(pemText, "\n")
	return strings.TrimSpace(lines[1])
}
