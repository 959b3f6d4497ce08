package release_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/keyring"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/release"
	"github.com/release-gates/release-gates/helpers/internal/release/releasetest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func TestANotationSignatureByARevokedKeysCertificateNoLongerCounts(t *testing.T) {
	e := setup(t)
	r := e.build(t, releasetest.Spec{})
	chain, err := keys.ReadCertChain(e.kit.CertChainPEM)
	if err != nil {
		t.Fatal(err)
	}
	o := e.options(t, r)
	// keys.yaml knows the notation certificate by fingerprint only (the cosign key is another, still trusted).
	o.RevokedKeys = []release.RevokedKey{{ID: "0123456789abcdef", Name: "old-notary", State: "revoked", Reason: "leaked",
		Fingerprints: []string{keyring.CertFingerprint(chain[0])}}}
	_, err = release.Verify(context.Background(), e.rc, o, nil)
	if result.ClassOf(err) != result.ClassPolicy || result.ClassOf(err).ExitCode() != 1 ||
		!strings.Contains(err.Error(), "belongs to key old-notary, revoked in keys.yaml") {
		t.Fatalf("class %q: %v", result.ClassOf(err), err)
	}
}

func TestARevokedKeyThatIsOnlyListedIsAConfigurationProblem(t *testing.T) {
	e := setup(t)
	r := e.build(t, releasetest.Spec{})
	stale, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	o := e.options(t, r)
	o.CosignKeys = append(o.CosignKeys, crypto.PublicKey(stale.Public()))
	o.RevokedIDs = []string{mustID(t, stale.Public())}
	_, err := release.Verify(context.Background(), e.rc, o, nil)
	if result.ClassOf(err) != result.ClassConfig || result.ClassOf(err).ExitCode() != 2 || !strings.Contains(err.Error(), "distrusted keys were passed as trusted") {
		t.Fatalf("class %q (exit %d): %v", result.ClassOf(err), result.ClassOf(err).ExitCode(), err)
	}
	t.Run("but evidence signed only by the revoked key is still rejected", func(t *testing.T) {
		o := e.options(t, r)
		o.CosignKeys = append(o.CosignKeys, crypto.PublicKey(stale.Public()))
		o.RevokedIDs = []string{mustID(t, e.kit.SignKey.Public())}
		_, err := release.Verify(context.Background(), e.rc, o, nil)
		if result.ClassOf(err).ExitCode() != 1 {
			t.Fatalf("class %q: %v", result.ClassOf(err), err)
		}
	})
}
