package keyring

import (
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/release-gates/release-gates/helpers/internal/atomicfile"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Bundle is where the trust bundle was written: what verifiers need, derived from keys.yaml.
type Bundle struct {
	Dir         string   `json:"dir"`
	CosignKeys  []string `json:"cosign_keys"`            // cosign/<id>.pub for every active and deprecated key
	TrustStore  string   `json:"trust_store,omitempty"`  // notation/ : holds x509/ca/<name>/*.pem
	TrustPolicy string   `json:"trust_policy,omitempty"` // notation/trustpolicy.json
	Identities  []string `json:"identities,omitempty"`   // x509.subject entries trusted by the policy
	Warnings    []string `json:"warnings,omitempty"`
}

// BundleDir is the trust bundle directory named by keys.yaml (default "trust" next to it).
func (f *File) BundleDir() string {
	d := f.Trust.Dir
	if d == "" {
		d = "trust"
	}
	return f.Abs(d)
}

func (f *File) storeName() string {
	if f.Trust.StoreName != "" {
		return f.Trust.StoreName
	}
	return "release-gates"
}

// WriteBundle writes the cosign public keys, notation trust store and trust policy for the keys that verify
// (active and deprecated), each file atomically, then removes files of keys that no longer verify.
func (f *File) WriteBundle() (Bundle, error) {
	b := Bundle{Dir: f.BundleDir()}
	cosignDir := filepath.Join(b.Dir, "cosign")
	storeDir := filepath.Join(b.Dir, "notation", "x509", "ca", f.storeName())
	for _, d := range []string{cosignDir, storeDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return b, result.Errorf(result.ClassInput, "creating trust bundle dir %s: %v", d, err)
		}
	}
	keep := map[string]bool{}
	roots := map[string]*x509.Certificate{}
	pinned := map[string]bool{}
	var subjects []pkix.Name
	for _, k := range f.Keys {
		if !k.State.Verifies() {
			continue
		}
		pub, err := f.PublicKey(k)
		if err != nil {
			return b, err
		}
		pemBytes, err := keys.MarshalPublicPEM(pub)
		if err != nil {
			return b, err
		}
		p := filepath.Join(cosignDir, k.ID+".pub")
		if err := atomicfile.WriteFile(p, pemBytes, 0o644); err != nil {
			return b, result.Errorf(result.ClassInput, "writing %s: %v", p, err)
		}
		keep[p] = true
		b.CosignKeys = append(b.CosignKeys, p)
		if k.CertChain == "" {
			continue
		}
		chain, err := keys.ReadCertChain(f.Abs(k.CertChain))
		if err != nil {
			return b, result.Wrap(result.ClassConfig, err)
		}
		// Pin the leaf's whole subject, whatever fields it has; notation itself insists on C, ST and O in an
		// x509.subject identity, and trusting "*" instead would let every certificate under the root sign.
		subj := chain[0].Subject
		if !Pinnable(subj) {
			b.Warnings = append(b.Warnings, fmt.Sprintf("key %s: certificate subject %q lacks C, ST or O, so notation cannot pin it and the bundle does not "+
				"trust its notation signatures (it never trusts \"*\"): re-issue its certificate with C, ST and O (keys rotate does)", k.ID, subj.String()))
			continue
		}
		root := chain[len(chain)-1]
		sum := sha256.Sum256(root.Raw)
		roots[hex.EncodeToString(sum[:8])] = root
		id := "x509.subject: " + subj.String()
		if !pinned[id] {
			pinned[id] = true
			b.Identities = append(b.Identities, id)
			subjects = append(subjects, subj)
		}
	}
	if err := overlapping(subjects); err != nil {
		return b, result.Errorf(result.ClassConfig, "%s: %v", f.path, err)
	}
	for _, k := range f.Keys { // a retired key with the same subject as a trusted one still matches the policy
		if k.State.Verifies() || k.CertChain == "" {
			continue
		}
		if chain, err := keys.ReadCertChain(f.Abs(k.CertChain)); err == nil && pinned["x509.subject: "+chain[0].Subject.String()] {
			b.Warnings = append(b.Warnings, "key "+k.ID+" is "+string(k.State)+" but its certificate subject is pinned for a trusted key: "+
				"stock notation still accepts its signatures (release-evidence verify rejects them by fingerprint); give each key its own subject")
		}
	}
	for fp, c := range roots {
		p := filepath.Join(storeDir, "root-"+fp+".pem")
		if err := atomicfile.WriteFile(p, keys.EncodeCerts(c), 0o644); err != nil {
			return b, result.Errorf(result.ClassInput, "writing %s: %v", p, err)
		}
		keep[p] = true
	}
	policyPath := filepath.Join(b.Dir, "notation", "trustpolicy.json")
	if len(b.Identities) > 0 {
		doc := map[string]any{"version": "1.0", "trustPolicies": []any{map[string]any{
			"name":                  f.storeName(),
			"registryScopes":        []string{"*"},
			"signatureVerification": map[string]any{"level": "strict", "override": map[string]string{"revocation": "skip"}},
			"trustStores":           []string{"ca:" + f.storeName()},
			"trustedIdentities":     b.Identities,
		}}}
		js, _ := json.MarshalIndent(doc, "", "  ")
		if err := atomicfile.WriteFile(policyPath, append(js, '\n'), 0o644); err != nil {
			return b, result.Errorf(result.ClassInput, "writing %s: %v", policyPath, err)
		}
		keep[policyPath] = true
		b.TrustStore, b.TrustPolicy = filepath.Join(b.Dir, "notation"), policyPath
	}
	for _, d := range []string{cosignDir, storeDir} { // drop what no longer verifies
		ents, _ := os.ReadDir(d)
		for _, e := range ents {
			p := filepath.Join(d, e.Name())
			if !keep[p] && !e.IsDir() && (strings.HasSuffix(e.Name(), ".pub") || strings.HasSuffix(e.Name(), ".pem")) {
				_ = os.Remove(p)
			}
		}
	}
	if !keep[policyPath] {
		_ = os.Remove(policyPath)
	}
	return b, nil
}

// Pinnable reports whether notation can pin subj in a trust policy: it needs C, ST and O.
func Pinnable(subj pkix.Name) bool {
	return len(subj.Country) > 0 && len(subj.Province) > 0 && len(subj.Organization) > 0
}

// CertFingerprint is the "sha256:<hex>" fingerprint of a certificate, as keys.yaml records it.
func CertFingerprint(c *x509.Certificate) string {
	sum := sha256.Sum256(c.Raw)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// Fingerprints returns k's certificate fingerprints: those keys.yaml records plus its current chain's leaf.
func (f *File) Fingerprints(k *Key) []string {
	out := append([]string{}, k.CertFingerprints...)
	if k.CertChain != "" {
		if chain, err := keys.ReadCertChain(f.Abs(k.CertChain)); err == nil {
			fp := CertFingerprint(chain[0])
			if !slices.Contains(out, fp) {
				out = append(out, fp)
			}
		}
	}
	return out
}

// overlapping refuses subjects where one is a subset of another, which notation rejects in a trust policy.
func overlapping(subjects []pkix.Name) error {
	attrs := func(n pkix.Name) map[string]string {
		m := map[string]string{}
		for _, rdn := range n.ToRDNSequence() {
			for _, a := range rdn {
				m[a.Type.String()] = fmt.Sprint(a.Value)
			}
		}
		return m
	}
	for i, a := range subjects {
		for j, b := range subjects {
			if i == j {
				continue
			}
			ma, mb := attrs(a), attrs(b)
			subset := true
			for k, v := range ma {
				if mb[k] != v {
					subset = false
				}
			}
			if subset {
				return fmt.Errorf("trusted subjects %q and %q overlap (notation refuses that): give each key a distinct subject", a.String(), b.String())
			}
		}
	}
	return nil
}
