package main

import (
	"context"
	"crypto"
	"os"
	"os/exec"
	"path/filepath"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/ledger"
	"github.com/release-gates/release-gates/helpers/internal/peertest"
	"github.com/release-gates/release-gates/helpers/internal/release/releasetest"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/vsa"
)

func TestAPassedVerifyIssuesAVSAThatVerifyVSAAndStockCosignAccept(t *testing.T) {
	f := setup(t)
	rel := f.build(t, releasetest.Spec{})
	other := f.build(t, releasetest.Spec{})
	dir := t.TempDir()
	vk, err := keys.GenerateFile(filepath.Join(dir, "verifier"), []byte("vsa-pass"))
	if err != nil {
		t.Fatal(err)
	}
	passFile := writeFile(t, dir, "vsa.pass", "vsa-pass\n")
	if _, err := keys.GenerateFile(filepath.Join(dir, "stranger"), []byte("x")); err != nil {
		t.Fatal(err)
	}
	ledgerPath := filepath.Join(dir, "audit.jsonl")

	args := append([]string{"verify", "--image", rel.Digest, "--ledger", ledgerPath, "--vsa-key", filepath.Join(dir, "verifier.key"),
		"--vsa-password-file", passFile}, f.evidenceArgs("prod")...)
	code, r, stdout, stderr := run(t, 1, args...)
	if code != 0 || stdout != rel.Digest+"\n" {
		t.Fatalf("verify: exit %d %q %s\n%s", code, stdout, r.Message, stderr)
	}
	var pd string
	for _, it := range r.Items {
		if it.Name == "vsa" {
			pd, _ = it.Details["policy_digest"].(string)
		}
	}
	if pd == "" || r.Data["vsa_policy_digest"] != pd {
		t.Fatalf("no vsa item with a policy digest in the result: %+v", r.Items)
	}

	t.Run("the VSA covers the signatures, provenance, approval and ledger head", func(t *testing.T) {
		got, err := vsa.Verify(context.Background(), f.rc, rel.Digest, []crypto.PublicKey{vk.Public()}, vsa.Expect{PolicyDigest: pd})
		if err != nil {
			t.Fatal(err)
		}
		rep, err := ledger.Verify(ledgerPath, ledger.VerifyOptions{Keys: []crypto.PublicKey{mustPub(t, f.auditPub)}})
		if err != nil {
			t.Fatal(err)
		}
		names := map[string]string{}
		for _, d := range got.Predicate.InputAttestations {
			names[d.Name] = d.Digest["sha256"]
		}
		for _, n := range []string{"cosign-signature", "notation-signature", "provenance", "approval", "ledger-head"} {
			if names[n] == "" {
				t.Fatalf("inputAttestations lack %s: %+v", n, got.Predicate.InputAttestations)
			}
		}
		if names["ledger-head"] != rep.Head || got.Predicate.ResourceURI != rel.Digest {
			t.Fatalf("ledger head %s (want %s), resourceUri %s", names["ledger-head"], rep.Head, got.Predicate.ResourceURI)
		}
	})
	t.Run("verify-vsa admits it on the VSA alone", func(t *testing.T) {
		code, r, stdout, _ := run(t, 1, "verify-vsa", "--plain-http", "--image", rel.Digest, "--vsa-pub", filepath.Join(dir, "verifier.pub"), "--vsa-policy-digest", pd)
		if code != 0 || stdout != rel.Digest+"\n" || r.Data["digest"] != rel.Digest {
			t.Fatalf("verify-vsa: exit %d %q %s", code, stdout, r.Message)
		}
	})
	t.Run("verify-vsa rejects an untrusted key, another digest and another policy with exit 1", func(t *testing.T) {
		cases := map[string][]string{
			"untrusted key":  {"--image", rel.Digest, "--vsa-pub", filepath.Join(dir, "stranger.pub")},
			"another digest": {"--image", other.Digest, "--vsa-pub", filepath.Join(dir, "verifier.pub")},
			"another policy": {"--image", rel.Digest, "--vsa-pub", filepath.Join(dir, "verifier.pub"), "--vsa-policy-digest", "00" + pd[2:]},
		}
		for name, a := range cases {
			code, r, stdout, _ := run(t, 1, append([]string{"verify-vsa", "--plain-http"}, a...)...)
			if code != result.ExitRejected || stdout != "" || r.Status == "passed" {
				t.Fatalf("%s: exit %d stdout %q %s", name, code, stdout, r.Message)
			}
		}
	})
	t.Run("stock cosign v2 and v3 verify-attestation accept it", func(t *testing.T) {
		for _, tool := range []string{"cosign", "cosign3"} {
			cmd := exec.Command(peertest.Tool(t, tool), "verify-attestation", "--type", vsa.PredicateType, "--key", filepath.Join(dir, "verifier.pub"),
				"--insecure-ignore-tlog=true", "--allow-http-registry", rel.Digest)
			cmd.Env = append(os.Environ(), "TUF_ROOT="+t.TempDir())
			if out, err := cmd.CombinedOutput(); err != nil {
				t.Fatalf("%s: %v\n%s", tool, err, out)
			}
		}
	})
}

func mustPub(t *testing.T, path string) crypto.PublicKey {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.ParsePublicPEM(b, path)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
