package keyring

import (
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
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
	anyIdentity := false
	roots := map[string]*x509.Certificate{}
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
		root := chain[len(chain)-1]
		sum := sha256.Sum256(root.Raw)
		roots[hex.EncodeToString(sum[:8])] = root
		if subj := chain[0].Subject; len(subj.Country) > 0 && len(subj.Province) > 0 && len(subj.Organization) > 0 {
			b.Identities = append(b.Identities, "x509.subject: "+subj.String())
		} else {
			anyIdentity = true // notation needs C, ST and O to name an identity
		}
	}
	if anyIdentity && len(roots) > 0 {
		b.Identities = []string{"*"}
		for _, k := range f.Keys { // with "*", only a root of its own keeps a retired key's signatures out
			if k.State.Verifies() || k.CertChain == "" {
				continue
			}
			if chain, err := keys.ReadCertChain(f.Abs(k.CertChain)); err == nil {
				sum := sha256.Sum256(chain[len(chain)-1].Raw)
				if roots[hex.EncodeToString(sum[:8])] != nil {
					b.Warnings = append(b.Warnings, "key "+k.ID+" is "+string(k.State)+" but shares its CA with a trusted key whose subject lacks C, ST or O: notation still accepts its signatures; re-issue the trusted keys' certificates with C, ST and O")
				}
			}
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
