package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/release/releasetest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func TestARevokedKeyLeftInCosignKeyIsAConfigProblemNotBadEvidence(t *testing.T) {
	f := setup(t)
	rel := f.build(t, releasetest.Spec{})
	stale, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pem, err := keys.MarshalPublicPEM(stale.Public())
	if err != nil {
		t.Fatal(err)
	}
	stalePub := writeFile(t, f.kit.Dir, "stale.pub", string(pem))
	kr := writeFile(t, f.kit.Dir, "keys-stale.yaml", "version: 1\nenvironments:\n  prod: {}\nkeys:\n"+
		"  - id: old-2024\n    backend: keys/old-2024.key\n    publicKey: stale.pub\n    state: revoked\n    reason: leaked\n"+
		"    notBefore: 2024-01-01T00:00:00Z\n    notAfter: 2030-01-01T00:00:00Z\n    rotation: {maxAge: 90d}\n")
	args := append([]string{"verify", "--image", rel.Digest, "--keyring", kr, "--cosign-key", stalePub}, f.evidenceArgs("prod")...)
	code, r, stdout, _ := run(t, 1, args...)
	if code != result.ExitInput || r.FailureClass != result.ClassConfig || stdout != "" ||
		!strings.Contains(r.Message, "distrusted keys were passed as trusted") || !strings.Contains(r.Message, "old-2024") {
		t.Fatalf("exit %d class %s: %s", code, r.FailureClass, r.Message)
	}
}
