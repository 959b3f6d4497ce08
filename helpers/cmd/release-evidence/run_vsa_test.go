package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/release/releasetest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func TestRunIssuesTheVSAOfAVerifiedReleaseWithTheStepsVerifierKey(t *testing.T) {
	f := setup(t)
	rel := f.build(t, releasetest.Spec{})
	dir := t.TempDir()
	if _, err := keys.GenerateFile(filepath.Join(dir, "verifier"), []byte("vsa-pass")); err != nil {
		t.Fatal(err)
	}
	t.Setenv("RG_VSA_KEY", filepath.Join(dir, "verifier.key"))
	t.Setenv("RG_VSA_PASSWORD", "vsa-pass")
	doc := func(p map[string]any) string {
		base := map[string]any{"plainHttp": true, "cosignKeys": []string{f.kit.CosignPub}, "trustPolicy": f.kit.TrustPolicy, "trustStore": f.kit.TrustStore,
			"releaseKeys": []string{f.kit.ReleasePub}, "expectRepo": releasetest.Repo, "expectBranch": releasetest.Branch, "environment": "prod", "minApprovals": 2,
			"relayPublicKeys":     []string{f.kit.RelayPub},
			"vsaKeyCredentialsId": "vsa-key", "vsaPasswordCredentialsId": "vsa-password"}
		for k, v := range p {
			base[k] = v
		}
		b, _ := json.Marshal(map[string]any{"step": "verifyRelease", "params": base, "context": map[string]any{"jobUrl": releasetest.Builder},
			"secrets": map[string]any{"vsaKey": "RG_VSA_KEY", "vsaPassword": "RG_VSA_PASSWORD"}})
		return writeFile(t, t.TempDir(), "verifyRelease.params.json", string(b))
	}
	code, r, stdout, stderr := run(t, 1, "run", "--params", doc(map[string]any{"image": rel.Digest}))
	if code != 0 || stdout != rel.Digest+"\n" {
		t.Fatalf("exit %d: %s\n%s", code, r.Message, stderr)
	}
	v, _ := r.Returns["vsa"].(map[string]any)
	ref, _ := v["ref"].(string)
	digest, _ := v["digest"].(string)
	if !strings.Contains(ref, ".att") || !strings.Contains(digest, "@sha256:") || v["policy_digest"] == nil {
		t.Fatalf("returns vsa %v", r.Returns["vsa"])
	}
	code, r, _, _ = run(t, 1, "verify-vsa", "--plain-http", "--image", rel.Digest, "--vsa-pub", filepath.Join(dir, "verifier.pub"))
	if code != 0 {
		t.Fatalf("verify-vsa of the issued VSA: exit %d: %s", code, r.Message)
	}
	// A release that fails verification gets no VSA.
	bad := f.build(t, releasetest.Spec{NoApproval: true})
	code, r, _, _ = run(t, 1, "run", "--params", doc(map[string]any{"image": bad.Digest}))
	if code != result.ExitRejected || r.Returns["vsa"] != nil {
		t.Fatalf("a rejected release: exit %d, vsa %v", code, r.Returns["vsa"])
	}
	if code, _, _, _ = run(t, 1, "verify-vsa", "--plain-http", "--image", bad.Digest, "--vsa-pub", filepath.Join(dir, "verifier.pub")); code != result.ExitRejected {
		t.Fatalf("verify-vsa admitted a release verifyRelease rejected: exit %d", code)
	}
}
