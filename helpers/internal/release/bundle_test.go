package release_test

import (
	"context"
	"crypto/sha256"
	"os"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/bundle"
	"github.com/release-gates/release-gates/helpers/internal/release"
	"github.com/release-gates/release-gates/helpers/internal/release/releasetest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func TestVerifyAcceptsABlobSignedAsASigstoreBundle(t *testing.T) {
	e := setup(t)
	r := e.build(t, releasetest.Spec{})
	body, _ := os.ReadFile(r.Blob)
	sum := sha256.Sum256(body)
	raw, err := bundle.SignDigest(e.kit.SignKey, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	r.BlobSig = r.Blob + ".bundle"
	os.WriteFile(r.BlobSig, raw, 0o644)
	if _, err := release.Verify(context.Background(), e.rc, e.options(t, r), nil); err != nil {
		t.Fatalf("verify with a v0.3 blob bundle: %v", err)
	}
	os.WriteFile(r.Blob, append(body, '!'), 0o644)
	if _, err := release.Verify(context.Background(), e.rc, e.options(t, r), nil); result.ClassOf(err) != result.ClassTamper {
		t.Fatalf("a changed blob: err = %v, want tamper", err)
	}
}
