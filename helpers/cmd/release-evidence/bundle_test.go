package main

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/bundle"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/peertest"
	"github.com/release-gates/release-gates/helpers/internal/provenance"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/release/releasetest"
	"github.com/release-gates/release-gates/helpers/internal/vsa"
)

// cosignPeer runs a stock cosign offline: an empty trusted root stands in for TUF's, which a v0.3 bundle needs.
func cosignPeer(t *testing.T, tool string, env []string, args ...string) (string, error) {
	t.Helper()
	root := filepath.Join(t.TempDir(), "trusted_root.json")
	os.WriteFile(root, []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`), 0o644)
	if args[0] == "verify" || args[0] == "verify-attestation" {
		args = append([]string{args[0], "--trusted-root", root, "--insecure-ignore-tlog=true", "--allow-http-registry"}, args[1:]...)
	}
	cmd := exec.Command(peertest.Tool(t, tool), args...)
	cmd.Env = append(os.Environ(), append([]string{"TUF_ROOT=" + t.TempDir()}, env...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func resolveTarget(t *testing.T, rc *registry.Client, digest string) registry.Target {
	t.Helper()
	ref, err := rc.Parse(digest)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := rc.Resolve(context.Background(), ref, ref.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// TestAReleaseInBundleFormatIsVerifiedEverywhere: an image signed the cosign v3 way gets its provenance, approval and
// VSA as bundles too, so stock cosign v2 and v3 (which read only bundles once an image has any) verify all of it.
func TestAReleaseInBundleFormatIsVerifiedEverywhere(t *testing.T) {
	f := setup(t)
	rel := f.build(t, releasetest.Spec{NoProvenance: true, NoApproval: true})
	if _, err := bundle.SignImage(context.Background(), f.rc, resolveTarget(t, f.rc, rel.Digest), f.kit.SignKey); err != nil {
		t.Fatal(err)
	}
	if err := f.kit.WriteKeyFiles(); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	keyArgs := []string{"--plain-http", "--release-key", f.kit.ReleaseKeyFile, "--release-password-file", f.pass}
	if code, r, _, stderr := run(t, 2, append([]string{"attest", "provenance", "--image", rel.Digest, "--out-dir", dir, "--builder-id", releasetest.Builder + "9/",
		"--repo", releasetest.Repo, "--branch", releasetest.Branch, "--commit", strings.Repeat("c", 40)}, keyArgs...)...); code != 0 {
		t.Fatalf("attest provenance: exit %d %s %s", code, r.Message, stderr)
	}
	if code, r, _, _ := run(t, 2, append(append([]string{"attest", "approval", "--image", rel.Digest, "--environment", "prod", "--rule", "prod-two",
		"--min-approvals", "2"}, f.recordArgs(t, rel, "alice", "bob")...), keyArgs...)...); code != 0 {
		t.Fatalf("attest approval: exit %d %s", code, r.Message)
	}
	vk := filepath.Join(dir, "verifier")
	if _, err := keys.GenerateFile(vk, []byte("vsa-pass")); err != nil {
		t.Fatal(err)
	}
	pass := writeFile(t, dir, "vsa.pass", "vsa-pass")
	if code, r, _, stderr := run(t, 1, append([]string{"verify", "--image", rel.Digest, "--vsa-key", vk + ".key", "--vsa-password-file", pass}, f.evidenceArgs("prod")...)...); code != 0 {
		t.Fatalf("verify: exit %d %s\n%s", code, r.Message, stderr)
	}
	for _, tool := range []string{"cosign", "cosign3"} {
		checks := [][]string{
			{"verify", "--key", f.kit.CosignPub, rel.Digest},
			{"verify-attestation", "--key", f.kit.ReleasePub, "--type", provenance.SLSAPredicateType, rel.Digest},
			{"verify-attestation", "--key", f.kit.ReleasePub, "--type", provenance.ApprovalPredicateType, rel.Digest},
			{"verify-attestation", "--key", vk + ".pub", "--type", vsa.PredicateType, rel.Digest},
		}
		for _, c := range checks {
			if out, err := cosignPeer(t, tool, nil, c...); err != nil {
				t.Fatalf("%s %v: %v\n%s", tool, c, err, out)
			}
		}
	}
}

// TestAReleaseMadeWithStockCosignV3Verifies: cosign v3's default output (bundle v0.3 referrers) for the image
// signature, the provenance and the approval passes release-evidence verify, and a VSA is issued for it.
func TestAReleaseMadeWithStockCosignV3Verifies(t *testing.T) {
	peertest.Tool(t, "cosign3")
	f := setup(t)
	rel := f.build(t, releasetest.Spec{NoCosign: true, NoProvenance: true, NoApproval: true})
	dir := t.TempDir()
	const pw = "v3-pass"
	write := func(name string, k crypto.Signer) string {
		enc, err := keys.EncryptPrivateKey(k, []byte(pw))
		if err != nil {
			t.Fatal(err)
		}
		return writeFile(t, dir, name, string(enc))
	}
	signKey, releaseKey := write("sign.key", f.kit.SignKey), write("release.key", f.kit.ReleaseKey)
	subj, _ := provenance.SubjectOf("orders", rel.Digest[strings.LastIndex(rel.Digest, "@")+1:])
	prov, err := provenance.Provenance([]provenance.Subject{subj}, provenance.Build{BuilderID: releasetest.Builder + "5/", Repository: releasetest.Repo,
		Branch: releasetest.Branch, Commit: strings.Repeat("c", 40), TraceID: "rg-v3", StartedOn: time.Now().Add(-time.Minute), FinishedOn: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
	appr, err := provenance.ApprovalStatement([]provenance.Subject{subj}, provenance.Approval{Environment: "prod", TraceID: "rg-v3",
		Approvers: []provenance.Approver{{User: "alice", At: time.Now()}, {User: "bob", At: time.Now()}}, Rule: provenance.Rule{Name: "prod-two", MinApprovals: 2}})
	if err != nil {
		t.Fatal(err)
	}
	spec := rel.Spec
	spec.Approvers = []string{"alice", "bob"}
	if appr.Predicate.DecisionRecord, err = f.kit.Record(spec, rel.Digest[strings.LastIndex(rel.Digest, "@")+1:], time.Now()); err != nil {
		t.Fatal(err)
	}
	env := []string{"COSIGN_PASSWORD=" + pw}
	offline := []string{"--use-signing-config=false", "--tlog-upload=false", "--allow-http-registry", "-y"}
	if out, err := cosignPeer(t, "cosign3", env, append(append([]string{"sign", "--key", signKey}, offline...), rel.Digest)...); err != nil {
		t.Fatalf("cosign3 sign: %v\n%s", err, out)
	}
	for _, a := range []struct {
		typ  string
		pred any
	}{{provenance.SLSAPredicateType, prov.Predicate}, {provenance.ApprovalPredicateType, appr.Predicate}} {
		b, _ := json.Marshal(a.pred)
		pf := writeFile(t, dir, "pred.json", string(b))
		if out, err := cosignPeer(t, "cosign3", env, append(append([]string{"attest", "--key", releaseKey, "--type", a.typ, "--predicate", pf}, offline...), rel.Digest)...); err != nil {
			t.Fatalf("cosign3 attest %s: %v\n%s", a.typ, err, out)
		}
	}
	vk := filepath.Join(dir, "verifier")
	if _, err := keys.GenerateFile(vk, []byte("vsa-pass")); err != nil {
		t.Fatal(err)
	}
	pass := writeFile(t, dir, "vsa.pass", "vsa-pass")
	code, r, stdout, stderr := run(t, 1, append([]string{"verify", "--image", rel.Digest, "--vsa-key", vk + ".key", "--vsa-password-file", pass}, f.evidenceArgs("prod")...)...)
	if code != 0 || stdout != rel.Digest+"\n" {
		t.Fatalf("verify of a cosign v3 release: exit %d %s\n%s", code, r.Message, stderr)
	}
	if out, err := cosignPeer(t, "cosign3", nil, "verify-attestation", "--key", vk+".pub", "--type", vsa.PredicateType, rel.Digest); err != nil {
		t.Fatalf("cosign3 verify-attestation of the VSA: %v\n%s", err, out)
	}
	t.Run("and refuses it when the release key is another", func(t *testing.T) {
		other := writeFile(t, dir, "other.pub", string(mustPEM(t)))
		args := append([]string{"verify", "--image", rel.Digest}, f.evidenceArgs("prod")...)
		for i := range args {
			if args[i] == "--release-key" {
				args[i+1] = other
			}
		}
		if code, r, _, _ := run(t, 1, args...); code != 1 {
			t.Fatalf("exit %d %s", code, r.Message)
		}
	})
}

func mustPEM(t *testing.T) []byte {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	b, err := keys.MarshalPublicPEM(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	return b
}
