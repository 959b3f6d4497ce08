package resiliencetest

import (
	"context"
	"crypto"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/image"
	"github.com/release-gates/release-gates/helpers/internal/keyring"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// bundleVerify checks tg against the trust bundle keys.yaml wrote: cosign public keys and the notation policy.
func bundleVerify(t *testing.T, e *env, f *keyring.File, tg registryTarget) (cosignErr, notationErr error) {
	t.Helper()
	b, err := f.WriteBundle()
	if err != nil {
		t.Fatal(err)
	}
	var pubs []crypto.PublicKey
	for _, p := range b.CosignKeys {
		raw, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		pub, err := keys.ParsePublicPEM(raw, p)
		if err != nil {
			t.Fatal(err)
		}
		pubs = append(pubs, pub)
	}
	_, cosignErr = image.VerifyCosign(context.Background(), e.direct, tg, pubs, false)
	v, err := image.LoadVerifier(b.TrustPolicy, b.TrustStore)
	if err != nil {
		t.Fatal(err)
	}
	notationErr = image.VerifyNotation(context.Background(), e.direct, tg, v)
	return cosignErr, notationErr
}

func signWith(t *testing.T, e *env, f *keyring.File, env string, tg registryTarget) *keyring.Key {
	t.Helper()
	s, err := f.SigningKey(env, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.Load(context.Background(), s.Ref, keys.LoadOptions{CertChainFile: s.CertChain})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if _, err := image.SignCosign(context.Background(), e.client, tg, k.Signer, false); err != nil {
		t.Fatal(err)
	}
	if _, err := image.SignNotation(context.Background(), e.client, tg, image.Key{Signer: k.Signer, CertChain: k.CertChain, ID: s.Key.ID}, image.MediaTypeJWS); err != nil {
		t.Fatal(err)
	}
	return s.Key
}

func TestRotationEndToEndOldSignaturesStillVerifyNewOnesUseTheNewKeyAndRevocationRejects(t *testing.T) {
	e := newEnv(t)
	dir := t.TempDir()
	t.Setenv(keys.PasswordEnv, "rotation-e2e")
	t.Setenv(keys.PINEnv, token.PIN)
	path := filepath.Join(dir, "keys.yaml")
	if err := os.WriteFile(path, []byte("version: 1\nenvironments: {}\nkeys: []\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := keyring.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	ca, err := keys.NewCA("CN=release-gates e2e,O=example", 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Rotate(context.Background(), keyring.RotateOptions{Environment: "prod", NewID: "file-1", Backend: "file", CA: ca, Subject: "C=DE,ST=Berlin,O=example,CN=file-1"}); err != nil {
		t.Fatal(err)
	}
	oldImg := directTarget(e, e.target(t, e.push(t, "rot-old")))
	if k := signWith(t, e, f, "prod", oldImg); k.ID != "file-1" {
		t.Fatalf("signed with %s", k.ID)
	}

	deleteHSMKeyAtEnd(t, token.Label, []byte{0x52}) // Rotate generates it
	out, err := f.Rotate(context.Background(), keyring.RotateOptions{Environment: "prod", NewID: "hsm-2", Backend: "pkcs11",
		PKCS11URI: token.URI("rotation-hsm-2", []byte{0x52}), CA: ca, Subject: "C=DE,ST=Berlin,O=example,CN=hsm-2"})
	if err != nil {
		t.Fatal(err)
	}
	if out.Deprecated != "file-1" {
		t.Fatalf("rotation deprecated %q", out.Deprecated)
	}
	f, err = keyring.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	newImg := directTarget(e, e.target(t, e.push(t, "rot-new")))
	if k := signWith(t, e, f, "prod", newImg); k.ID != "hsm-2" {
		t.Fatalf("after rotation signed with %s", k.ID)
	}

	for name, tg := range map[string]registryTarget{"the old signature": oldImg, "the new signature": newImg} {
		if c, n := bundleVerify(t, e, f, tg); c != nil || n != nil {
			t.Fatalf("%s does not verify with the bundle after rotation: cosign %v, notation %v", name, c, n)
		}
	}
	oldKey, _ := f.Key("file-1")
	oldPub, _ := f.PublicKey(oldKey)
	if _, err := image.VerifyCosign(context.Background(), e.direct, newImg, []crypto.PublicKey{oldPub}, false); result.ClassOf(err) != result.ClassTamper {
		t.Fatalf("the new image must not carry a signature by the old key: %v", err)
	}

	if _, _, err := f.Revoke("file-1", "test compromise", time.Now()); err != nil {
		t.Fatal(err)
	}
	f, err = keyring.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	c, n := bundleVerify(t, e, f, oldImg)
	if result.ClassOf(c).ExitCode() != 1 || result.ClassOf(n).ExitCode() != 1 {
		t.Fatalf("after revocation the old signature must be rejected (exit 1): cosign %q %v, notation %q %v", result.ClassOf(c), c, result.ClassOf(n), n)
	}
	if c, n := bundleVerify(t, e, f, newImg); c != nil || n != nil {
		t.Fatalf("revoking the old key must not touch the new signature: %v %v", c, n)
	}
	if err := f.Accepts("file-1"); result.ClassOf(err) != result.ClassPolicy {
		t.Fatalf("keyring still accepts the revoked key: %v", err)
	}
}
