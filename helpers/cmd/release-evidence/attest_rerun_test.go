package main

import (
	"context"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"

	"github.com/release-gates/release-gates/helpers/internal/release/releasetest"
)

// attestations counts the layers of digestRef's sha256-<hex>.att image by predicate type.
func attestations(t *testing.T, f fixture, digestRef string) map[string]int {
	t.Helper()
	d, err := name.NewDigest(digestRef, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	atts, err := ociremote.SignedUnknown(d, ociremote.WithRemoteOptions(f.rc.RemoteOptions(context.Background())...)).Attestations()
	if err != nil {
		t.Fatal(err)
	}
	list, err := atts.Get()
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]int{}
	for _, a := range list {
		ann, err := a.Annotations()
		if err != nil {
			t.Fatal(err)
		}
		out[ann["predicateType"]]++
	}
	return out
}

func TestAttestingTheSameBuildAgainAddsNoAttestation(t *testing.T) {
	f := setup(t)
	rel := f.build(t, releasetest.Spec{NoProvenance: true, NoApproval: true})
	if err := f.kit.WriteKeyFiles(); err != nil {
		t.Fatal(err)
	}
	keyArgs := []string{"--plain-http", "--release-key", f.kit.ReleaseKeyFile, "--release-password-file", f.pass}
	prov := append([]string{"attest", "provenance", "--image", rel.Digest, "--builder-id", releasetest.Builder + "42/", "--repo", releasetest.Repo,
		"--branch", "main", "--commit", strings.Repeat("c", 40)}, keyArgs...)
	// attestRelease run again in the same build attests the same relay-signed record
	approval := func(approvers ...string) []string {
		return append(append([]string{"attest", "approval", "--image", rel.Digest, "--environment", "prod", "--rule", "prod-two",
			"--min-approvals", "2"}, f.recordArgs(t, rel, approvers...)...), keyArgs...)
	}
	appr := approval("alice", "bob")
	for run_ := 0; run_ < 2; run_++ { // attestRelease, then attestRelease again in the same build (same trace id)
		for _, args := range [][]string{prov, appr} {
			if code, r, _, stderr := run(t, 2, args...); code != 0 {
				t.Fatalf("run %d, %s: exit %d %s %s", run_, args[1], code, r.Message, stderr)
			}
		}
	}
	got := attestations(t, f, rel.Digest)
	if got["https://slsa.dev/provenance/v1"] != 1 || got["https://release-gates.dev/approval/v1"] != 1 || len(got) != 2 {
		t.Fatalf("attestations after two runs: %v, want one provenance and one approval", got)
	}
	// a new approver is a new claim, and is added
	if code, r, _, _ := run(t, 2, approval("alice", "bob", "carol")...); code != 0 {
		t.Fatalf("attest approval with carol: exit %d %s", code, r.Message)
	}
	if got := attestations(t, f, rel.Digest); got["https://release-gates.dev/approval/v1"] != 2 {
		t.Fatalf("attestations after a third approver: %v, want two approvals", got)
	}
}
