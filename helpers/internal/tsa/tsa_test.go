package tsa_test

import (
	"context"
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
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/release-gates/release-gates/helpers/internal/breaker/breakertest"
	"github.com/release-gates/release-gates/helpers/internal/image"
	"github.com/release-gates/release-gates/helpers/internal/ledger"
	"github.com/release-gates/release-gates/helpers/internal/peertest"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/release"
	"github.com/release-gates/release-gates/helpers/internal/release/releasetest"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/tsa"
	"github.com/release-gates/release-gates/helpers/internal/tsa/tsatest"
)

func TestMain(m *testing.M) { breakertest.Main(m) }

// shortLivedSigner is a notation CA and a code-signing leaf that expires after life.
type shortLivedSigner struct {
	ca       *x509.Certificate
	leaf     *x509.Certificate
	key      *ecdsa.PrivateKey
	notAfter time.Time
}

func newSigner(t *testing.T, life time.Duration) shortLivedSigner {
	t.Helper()
	caKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	now := time.Now()
	caTmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "release-gates test CA", Organization: []string{"release-gates"}},
		NotBefore: now.Add(-time.Hour), NotAfter: now.Add(24 * time.Hour), IsCA: true, BasicConstraintsValid: true,
		KeyUsage: x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature}
	caDER, _ := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, caKey.Public(), caKey)
	ca, _ := x509.ParseCertificate(caDER)
	s := shortLivedSigner{ca: ca, key: key, notAfter: now.Add(life)}
	leafTmpl := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: pkix.Name{CommonName: "release signer", Organization: []string{"release-gates"}, Country: []string{"US"}},
		NotBefore: now.Add(-time.Minute), NotAfter: s.notAfter, KeyUsage: x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning}, BasicConstraintsValid: true}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, ca, key.Public(), caKey)
	if err != nil {
		t.Fatal(err)
	}
	s.leaf, _ = x509.ParseCertificate(leafDER)
	return s
}

func (s shortLivedSigner) key_(a *tsa.Authority) image.Key {
	k := image.Key{Signer: s.key, CertChain: []*x509.Certificate{s.leaf, s.ca}, ID: "short-lived"}
	if a != nil {
		k.Timestamper, k.TSARootCAs = a.Timestamper, a.Roots
	}
	return k
}

// trust writes a notation trust store (x509/ca/signer, x509/tsa/tsa) and a strict trust policy that trusts both and
// requires a timestamp once the signing certificate has expired (verifyTimestamp afterCertExpiry).
func (s shortLivedSigner) trust(t *testing.T, tsaRoot string) (string, string) {
	t.Helper()
	dir := t.TempDir()
	store := filepath.Join(dir, "store")
	for _, d := range []string{"x509/ca/signer", "x509/tsa/tsa"} {
		os.MkdirAll(filepath.Join(store, d), 0o755)
	}
	os.WriteFile(filepath.Join(store, "x509/ca/signer/ca.pem"), pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ca.Raw}), 0o644)
	b, _ := os.ReadFile(tsaRoot)
	os.WriteFile(filepath.Join(store, "x509/tsa/tsa/root.pem"), b, 0o644)
	policy := filepath.Join(dir, "trustpolicy.json")
	doc := `{"version":"1.0","trustPolicies":[{"name":"release","registryScopes":["*"],"signatureVerification":{"level":"strict","override":{"revocation":"skip"},"verifyTimestamp":"afterCertExpiry"},"trustStores":["ca:signer","tsa:tsa"],"trustedIdentities":["*"]}]}`
	os.WriteFile(policy, []byte(doc), 0o644)
	return policy, store
}

func waitExpired(t *testing.T, notAfter time.Time) {
	t.Helper()
	if d := time.Until(notAfter) + 1100*time.Millisecond; d > 0 {
		time.Sleep(d)
	}
	if !time.Now().After(notAfter) {
		t.Fatal("the leaf has not expired")
	}
}

func TestOpenRefusesABadURLOrMissingRoots(t *testing.T) {
	ts := tsatest.Start(t)
	for name, c := range map[string][2]string{
		"no scheme":    {"tsa.example/tsr", ts.RootFile},
		"no roots":     {ts.URL, ""},
		"missing root": {ts.URL, filepath.Join(t.TempDir(), "none.pem")},
	} {
		if _, err := tsa.Open(c[0], c[1]); result.ClassOf(err) != result.ClassInput {
			t.Fatalf("%s: err = %v, want input", name, err)
		}
	}
	if _, err := tsa.Open(ts.URL, ts.RootFile); err != nil {
		t.Fatal(err)
	}
}

func TestATimestampedReleaseStillVerifiesAfterItsLeafExpiresAndRollbackPicksIt(t *testing.T) {
	t.Run("sigstore timestamp-server", func(t *testing.T) {
		expiredLeaf(t, tsatest.Sigstore(t, peertest.Tool(t, "timestamp-server")))
	})
	t.Run("TSA built on digitorus/timestamp", func(t *testing.T) { expiredLeaf(t, tsatest.Start(t)) })
}

func expiredLeaf(t *testing.T, ts *tsatest.TSA) {
	t.Parallel()
	ctx := context.Background()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	rc := registry.New(registry.Options{PlainHTTP: true, Backoff: time.Millisecond})
	kit, err := releasetest.NewKit(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	// cosign signatures, provenance and approval from the kit; the notation signatures are ours, by a short-lived leaf
	older, err := kit.Build(ctx, rc, host, "orders", releasetest.Spec{NoNotation: true})
	if err != nil {
		t.Fatal(err)
	}
	newer, err := kit.Build(ctx, rc, host, "orders", releasetest.Spec{NoNotation: true})
	if err != nil {
		t.Fatal(err)
	}
	auth, err := tsa.Open(ts.URL, ts.RootFile)
	if err != nil {
		t.Fatal(err)
	}
	// The leaf lives 10 s: signing both releases (one through the TSA) and verifying both must fit before it expires,
	// on a loaded machine under -race, with x509 truncating notAfter to the second and the TSA's 1 s accuracy.
	s := newSigner(t, 10*time.Second)
	sign := func(digest string, a *tsa.Authority) {
		t.Helper()
		if err := image.SignAll(ctx, rc, []string{digest}, s.key_(a), image.SignOptions{Formats: []image.Format{image.Notation}, Workers: 1}, func(image.Outcome) {}); err != nil {
			t.Fatalf("signing %s: %v", digest, err)
		}
	}
	sign(older.Digest, &auth) // timestamped
	sign(newer.Digest, nil)   // not timestamped
	policy, store := s.trust(t, ts.RootFile)
	v, err := image.LoadVerifier(policy, store)
	if err != nil {
		t.Fatal(err)
	}
	verifyNotation := func(digest string) error {
		return image.VerifyAll(ctx, rc, []string{digest}, image.VerifyOptions{Formats: []image.Format{image.Notation}, Notation: v, Workers: 1}, func(image.Outcome) {})
	}
	for _, d := range []string{older.Digest, newer.Digest} {
		if err := verifyNotation(d); err != nil {
			t.Fatalf("%s before expiry: %v", d, err)
		}
	}
	waitExpired(t, s.notAfter)

	t.Run("with a timestamp it verifies", func(t *testing.T) {
		if err := verifyNotation(older.Digest); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("without a timestamp it is rejected", func(t *testing.T) {
		err := verifyNotation(newer.Digest)
		if result.ClassOf(err).ExitCode() != 1 || !strings.Contains(err.Error(), "no timestamp") {
			t.Fatalf("err = %v, want exit 1 for the missing timestamp", err)
		}
	})
	t.Run("stock notation verify agrees", func(t *testing.T) {
		home := t.TempDir()
		notation := func(args ...string) (string, error) {
			cmd := exec.Command(peertest.Tool(t, "notation"), args...)
			cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"))
			out, err := cmd.CombinedOutput()
			return string(out), err
		}
		caPEM := filepath.Join(home, "ca.pem")
		os.WriteFile(caPEM, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: s.ca.Raw}), 0o644)
		for _, a := range [][]string{{"cert", "add", "--type", "ca", "--store", "signer", caPEM}, {"cert", "add", "--type", "tsa", "--store", "tsa", ts.RootFile},
			{"policy", "import", "--force", policy}} {
			if out, err := notation(a...); err != nil {
				t.Fatalf("notation %v: %v\n%s", a, err, out)
			}
		}
		if out, err := notation("verify", "--insecure-registry", older.Digest); err != nil {
			t.Fatalf("notation verify of the timestamped release: %v\n%s", err, out)
		}
		if out, err := notation("verify", "--insecure-registry", newer.Digest); err == nil {
			t.Fatalf("notation verify accepted an expired leaf without a timestamp:\n%s", out)
		}
	})
	t.Run("rollback skips the newer release and picks the timestamped one", func(t *testing.T) {
		index := filepath.Join(t.TempDir(), "releases.jsonl")
		for _, r := range []releasetest.Release{older, newer} {
			if _, err := ledger.Append(index, kit.AuditKey, ledger.Body{Kind: ledger.KindRelease, Status: "verified", Environment: releasetest.Env,
				Subject: r.Digest, TraceID: r.Spec.TraceID, Source: "test"}); err != nil {
				t.Fatal(err)
			}
		}
		cosignPub, releasePub := kit.SignKey.Public(), kit.ReleaseKey.Public()
		out, tried, err := release.FindRollback(ctx, rc, release.RollbackOptions{Index: index, IndexKeys: []crypto.PublicKey{kit.AuditKey.Public()},
			Verify: release.Options{CosignKeys: []crypto.PublicKey{cosignPub}, Notation: v, ReleaseKeys: []crypto.PublicKey{releasePub},
				Expect: release.Expect{Repository: releasetest.Repo, Branch: releasetest.Branch, BuilderPrefix: releasetest.Builder, Environment: releasetest.Env}}}, nil)
		if err != nil {
			t.Fatalf("rollback: %v (tried %+v)", err, tried)
		}
		if out.Digest != older.Digest || len(tried) != 2 || tried[0].Digest != newer.Digest || tried[0].Err == nil {
			t.Fatalf("chose %s after %+v, want %s after skipping %s", out.Digest, tried, older.Digest, newer.Digest)
		}
	})
}
