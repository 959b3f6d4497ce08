package bundle_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/bundle"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// FuzzVerifyDigest feeds arbitrary bytes as a bundle: never a panic, never a pass, and only the documented classes.
func FuzzVerifyDigest(f *testing.F) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	digest := sha256.Sum256([]byte("fuzz"))
	good, err := bundle.SignDigest(k, digest[:])
	if err != nil {
		f.Fatal(err)
	}
	f.Add(good)
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.4+json"}`))
	f.Add([]byte(`{"mediaType":"application/vnd.dev.sigstore.bundle.v0.3+json","dsseEnvelope":{}}`))
	f.Add([]byte(`not json`))
	other := sha256.Sum256([]byte("other"))
	f.Fuzz(func(t *testing.T, raw []byte) {
		_, err := bundle.VerifyDigest(raw, other[:], []crypto.PublicKey{k.Public()}, "fuzz")
		if err == nil {
			t.Fatalf("a bundle verified for a digest nobody signed: %q", raw)
		}
		if c := result.ClassOf(err); c != result.ClassTamper && c != result.ClassInput {
			t.Fatalf("class %s: %v", c, err)
		}
		_ = bundle.Is(raw)
	})
}
