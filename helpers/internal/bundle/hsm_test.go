package bundle_test

import (
	"context"
	"crypto"
	"os"
	"path/filepath"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/bundle"
	"github.com/release-gates/release-gates/helpers/internal/hsm/softhsmtest"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/peertest"
)

// TestAnHSMKeySignsBundlesThatStockCosignV3Verifies signs a blob and an image bundle with a SoftHSM2 key (a
// crypto11 signer, not an in-memory key) and has stock cosign v3 verify both.
func TestAnHSMKeySignsBundlesThatStockCosignV3Verifies(t *testing.T) {
	tok := softhsmtest.Shared(t)
	t.Setenv(keys.PINEnv, tok.PIN)
	ref, err := keys.ParseRef(tok.URI("bundle-signer", []byte{0x5b}))
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.GeneratePKCS11(context.Background(), ref, keys.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	pubPEM, _ := k.PublicPEM()
	pub := filepath.Join(t.TempDir(), "hsm.pub")
	os.WriteFile(pub, pubPEM, 0o644)

	blobPath, digest := writeBlob(t, "signed on the token")
	raw, err := bundle.SignDigest(k.Signer, digest)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(blobPath+".bundle", raw, 0o644)
	if out, err := peer(t, "cosign3", "verify-blob", "--key", pub, "--bundle", blobPath+".bundle", "--insecure-ignore-tlog=true",
		"--trusted-root", peertest.EmptyTrustedRoot(t), blobPath); err != nil {
		t.Fatalf("cosign3 verify-blob: %v\n%s", err, out)
	}

	rc := client()
	srv := registries(t)["referrers API"]
	tg := target(t, rc, srv, "hsm/app")
	if _, err := bundle.SignImage(context.Background(), rc, tg, k.Signer); err != nil {
		t.Fatal(err)
	}
	if out, err := peer(t, "cosign3", append(verifyArgs(t, "cosign3", "verify", pub), tg.Digest.String())...); err != nil {
		t.Fatalf("cosign3 verify: %v\n%s", err, out)
	}
	if n, _, _, err := bundle.VerifyImageSignature(context.Background(), rc, tg, []crypto.PublicKey{k.Public()}); err != nil || n != 1 {
		t.Fatalf("n=%d err=%v", n, err)
	}
}
