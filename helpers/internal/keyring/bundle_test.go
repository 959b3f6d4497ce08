package keyring

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func TestTheTrustBundlePinsEachKeysSubjectAndKeysYamlRecordsItsCertificate(t *testing.T) {
	t.Setenv(keys.PasswordEnv, testPassword)
	p := fixture(t, time.Hour, 365*24*time.Hour, "")
	f, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.Rotate(context.Background(), RotateOptions{Environment: "prod", NewID: "k2", Backend: "file", CA: newCA(t),
		Subject: "C=DE,ST=Berlin,L=Berlin,O=acme,OU=release,CN=k2 signer", Validity: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out.Bundle.TrustPolicy)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		TrustPolicies []struct {
			TrustedIdentities []string `json:"trustedIdentities"`
		} `json:"trustPolicies"`
	}
	if err := json.Unmarshal(b, &doc); err != nil || len(doc.TrustPolicies) != 1 {
		t.Fatalf("trust policy %s: %v", b, err)
	}
	ids := doc.TrustPolicies[0].TrustedIdentities
	if len(ids) != 1 || ids[0] != "x509.subject: CN=k2 signer,OU=release,O=acme,L=Berlin,ST=Berlin,C=DE" {
		t.Fatalf("trusted identities %q: want the whole subject of k2's certificate pinned", ids)
	}
	re, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	k2, _ := re.Key("k2")
	chain, err := keys.ReadCertChain(re.Abs(k2.CertChain))
	if err != nil {
		t.Fatal(err)
	}
	if len(k2.CertFingerprints) != 1 || k2.CertFingerprints[0] != CertFingerprint(chain[0]) || !strings.HasPrefix(k2.CertFingerprints[0], "sha256:") {
		t.Fatalf("keys.yaml records fingerprints %q for k2, want its leaf's %s", k2.CertFingerprints, CertFingerprint(chain[0]))
	}
	if fps := re.Fingerprints(k2); len(fps) != 1 {
		t.Fatalf("Fingerprints = %q", fps)
	}
}

func TestASubjectNotationCannotPinIsAConfigErrorNeverAWildcard(t *testing.T) {
	t.Setenv(keys.PasswordEnv, testPassword)
	p := fixture(t, time.Hour, 365*24*time.Hour, "")
	f, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	_, err = f.Rotate(context.Background(), RotateOptions{Environment: "prod", NewID: "k2", Backend: "file", CA: newCA(t), Subject: "O=acme,CN=k2"})
	if result.ClassOf(err).ExitCode() != 2 || !strings.Contains(err.Error(), "lacks C, ST or O") {
		t.Fatalf("class %q: %v", result.ClassOf(err), err)
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(p), "keys", "k2.key")); !os.IsNotExist(err) {
		t.Fatalf("a refused rotation made a key: %v", err)
	}
	t.Run("a key already in keys.yaml whose subject cannot be pinned is left out of notation trust, with a warning", func(t *testing.T) {
		ca := newCA(t)
		k1, _ := f.Key("k1")
		pub, err := f.PublicKey(k1)
		if err != nil {
			t.Fatal(err)
		}
		leaf, err := ca.IssueCodeSigning(pub, "O=acme,CN=k1", 24*time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		chain := filepath.Join(filepath.Dir(p), "k1.chain.pem")
		os.WriteFile(chain, keys.EncodeCerts(leaf, ca.Cert), 0o644)
		k1.CertChain = "k1.chain.pem"
		b, err := f.WriteBundle()
		if err != nil || len(b.Warnings) != 1 || !strings.Contains(b.Warnings[0], "never trusts") || b.TrustPolicy != "" || len(b.Identities) != 0 {
			t.Fatalf("bundle %+v, %v", b, err)
		}
		if _, err := os.Stat(filepath.Join(f.BundleDir(), "notation", "trustpolicy.json")); !os.IsNotExist(err) {
			t.Fatalf("a trust policy was written with no identity to pin: %v", err)
		}
	})
}
