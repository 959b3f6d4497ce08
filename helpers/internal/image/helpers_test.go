package image_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"io"
	"log"
	"math/big"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/breaker/breakertest"
	"github.com/release-gates/release-gates/helpers/internal/image"
	"github.com/release-gates/release-gates/helpers/internal/registry"
)

// pki is a test CA with a code-signing leaf, as notation requires.
type pki struct {
	CA      *x509.Certificate
	CAKey   *ecdsa.PrivateKey
	LeafKey *ecdsa.PrivateKey
	Leaf    *x509.Certificate
}

func newPKI(t testing.TB) pki {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	leafKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	return pki{CAKey: caKey, LeafKey: leafKey, CA: nil}.issue(t, leafKey.Public())
}

// issue creates the CA (once) and a leaf for pub.
func (p pki) issue(t testing.TB, pub crypto.PublicKey) pki {
	t.Helper()
	now := time.Now()
	if p.CA == nil {
		caTmpl := &x509.Certificate{
			SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "release-gates test CA", Organization: []string{"release-gates"}},
			NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour),
			IsCA: true, BasicConstraintsValid: true, KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
		}
		der, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, p.CAKey.Public(), p.CAKey)
		if err != nil {
			t.Fatal(err)
		}
		p.CA, _ = x509.ParseCertificate(der)
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(now.UnixNano()), Subject: pkix.Name{CommonName: "release-gates signer", Organization: []string{"release-gates"}, Country: []string{"US"}, Province: []string{"WA"}, Locality: []string{"Seattle"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(23 * time.Hour),
		KeyUsage: x509.KeyUsageDigitalSignature, ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, BasicConstraintsValid: true,
	}
	der, err := x509.CreateCertificate(rand.Reader, leafTmpl, p.CA, pub, p.CAKey)
	if err != nil {
		t.Fatal(err)
	}
	p.Leaf, _ = x509.ParseCertificate(der)
	return p
}

func (p pki) key() image.Key {
	return image.Key{Signer: p.LeafKey, CertChain: []*x509.Certificate{p.Leaf, p.CA}, ID: "test-key"}
}

// writeTrust lays out a trust store (x509/ca/test/ca.pem) and a trust policy for scope; returns (policy, store).
func (p pki) writeTrust(t testing.TB, scope string) (string, string) {
	t.Helper()
	return p.writeTrustIn(t, t.TempDir(), scope)
}

func (p pki) writeTrustIn(t testing.TB, dir, scope string) (string, string) {
	t.Helper()
	store := filepath.Join(dir, "store")
	if err := os.MkdirAll(filepath.Join(store, "x509", "ca", "test"), 0o755); err != nil {
		t.Fatal(err)
	}
	writePEM(t, filepath.Join(store, "x509", "ca", "test", "ca.pem"), "CERTIFICATE", p.CA.Raw)
	policy := filepath.Join(dir, "trustpolicy.json")
	doc := `{"version":"1.0","trustPolicies":[{"name":"test","registryScopes":["` + scope + `"],"signatureVerification":{"level":"strict","override":{"revocation":"skip"}},"trustStores":["ca:test"],"trustedIdentities":["*"]}]}`
	if err := os.WriteFile(policy, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return policy, store
}

func writePEM(t testing.TB, path, typ string, der []byte) {
	t.Helper()
	if err := os.WriteFile(path, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
}

// opaqueSigner hides the concrete key type, as a PKCS#11 signer does.
type opaqueSigner struct{ s crypto.Signer }

func (o opaqueSigner) Public() crypto.PublicKey { return o.s.Public() }
func (o opaqueSigner) Sign(r io.Reader, d []byte, opts crypto.SignerOpts) ([]byte, error) {
	return o.s.Sign(r, d, opts)
}

// startRegistry runs go-containerregistry's in-process registry and returns its host and a client.
func startRegistry(t testing.TB, referrers bool) (string, *registry.Client) {
	t.Helper()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)), ggcrregistry.WithReferrersSupport(referrers)))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://"), registry.New(registry.Options{PlainHTTP: true, Backoff: time.Millisecond})
}

// isolateState points breaker state at a temp dir: a breaker opened by a registry that went down must never leak
// into another test, or into ~/.cache on the machine running the tests.
func isolateState(t *testing.T) {
	t.Helper()
	t.Setenv(breaker.DirEnv, t.TempDir())
}

// TestMain keeps the breaker state of every default client (the Example too) out of ~/.cache/release-gates.
func TestMain(m *testing.M) { breakertest.Main(m) }
