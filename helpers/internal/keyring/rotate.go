package keyring

import (
	"context"
	"crypto"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/atomicfile"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// RotateOptions describe the key that replaces an environment's current key.
type RotateOptions struct {
	Environment   string
	NewID         string
	Backend       string           // "file" or "pkcs11"
	KeyPrefix     string           // file backend: the new key is written as prefix.key/.pub (default keys/<id> next to keys.yaml)
	PKCS11URI     string           // pkcs11 backend: token, object=, id= and module-path= of the key to create
	Secrets       keys.LoadOptions // password file (file key) or PIN file (HSM); else COSIGN_PASSWORD / PKCS11_PIN
	CA            *keys.CA         // issues the new key's code-signing certificate; nil: a fresh CA for this key alone
	ImportChain   string           // an already issued PEM chain for the new key, leaf first
	NoCert        bool             // cosign-only key: no certificate chain
	Subject       string           // certificate subject; default CN=<new id>
	Validity      time.Duration    // key and certificate validity; default 365 days
	MaxAge        time.Duration    // rotation policy; default the previous key's, else 90 days
	MaxSignatures int64
	Now           time.Time
}

// RotateOutcome says what a rotation did.
type RotateOutcome struct {
	New        *Key
	Deprecated string // previous current key, now deprecated ("" when none, or when it is still current elsewhere)
	Bundle     Bundle
}

// Rotate makes a new key, certifies it, makes it current for the environment, deprecates the previous key,
// then writes the trust bundle and keys.yaml (both atomically, bundle first so verifiers never lag behind signers).
func (f *File) Rotate(ctx context.Context, o RotateOptions) (RotateOutcome, error) {
	var out RotateOutcome
	if o.Now.IsZero() {
		o.Now = time.Now().UTC()
	}
	o.Now = o.Now.UTC().Truncate(time.Second)
	if o.Validity <= 0 {
		o.Validity = 365 * 24 * time.Hour
	}
	if o.Environment == "" {
		return out, result.Errorf(result.ClassInput, "keys rotate needs --environment")
	}
	if !idPattern.MatchString(o.NewID) {
		return out, result.Errorf(result.ClassInput, "--new-id %q must be 1-64 letters, digits, '.', '_' or '-'", o.NewID)
	}
	if _, err := f.Key(o.NewID); err == nil {
		return out, result.Errorf(result.ClassInput, "key id %s is already in %s: choose a new --new-id", o.NewID, f.path)
	}
	if (o.CA != nil && o.ImportChain != "") || (o.NoCert && (o.CA != nil || o.ImportChain != "")) {
		return out, result.Errorf(result.ClassInput, "give one of a CA (--ca-cert/--ca-key), --import-cert-chain or --no-cert")
	}
	env := f.Environments[o.Environment]
	if env == nil {
		env = &Environment{}
	}
	if o.Subject != "" && !o.NoCert {
		if name, err := keys.ParseSubject(o.Subject); err != nil {
			return out, err
		} else if !Pinnable(name) {
			return out, result.Errorf(result.ClassInput, "--subject %q lacks C, ST or O: notation can pin only a subject with all three in the trust policy, "+
				"and the trust bundle never trusts \"*\"; add them, e.g. C=DE,ST=Berlin,O=example,CN=%s", o.Subject, o.NewID)
		}
	}
	var prev *Key
	if env.Current != "" {
		prev, _ = f.Key(env.Current)
	}
	if o.MaxAge <= 0 {
		o.MaxAge = 90 * 24 * time.Hour
		if prev != nil {
			o.MaxAge = time.Duration(prev.Rotation.MaxAge)
		}
	}
	keyDir := filepath.Join(filepath.Dir(f.path), "keys")
	if err := os.MkdirAll(keyDir, 0o755); err != nil {
		return out, result.Errorf(result.ClassInput, "creating %s: %v", keyDir, err)
	}
	nk := &Key{ID: o.NewID, State: Active, NotBefore: o.Now, NotAfter: o.Now.Add(o.Validity),
		Rotation: Rotation{MaxAge: Duration(o.MaxAge), MaxSignatures: o.MaxSignatures}}

	pub, err := f.generate(ctx, o, nk, keyDir)
	if err != nil {
		return out, err
	}
	pubPEM, err := keys.MarshalPublicPEM(pub)
	if err != nil {
		return out, err
	}
	pubPath := filepath.Join(keyDir, o.NewID+".pub")
	if err := atomicfile.WriteFile(pubPath, pubPEM, 0o644); err != nil {
		return out, result.Errorf(result.ClassInput, "writing %s: %v", pubPath, err)
	}
	nk.PublicKey = f.rel(pubPath)

	if o.CA == nil && o.ImportChain == "" && !o.NoCert {
		// As keys generate --type ca does: a CA per key, so revoking the key drops its root from the trust store.
		subject := o.Subject
		if subject == "" {
			subject = defaultSubject(pkix.Name{}, o.NewID)
		}
		if o.CA, err = keys.NewCA(subject, o.Validity); err != nil {
			return out, err
		}
	}
	chain, err := f.certify(o, pub)
	if err != nil {
		return out, err
	}
	if len(chain) > 0 && !Pinnable(chain[0].Subject) {
		return out, result.Errorf(result.ClassConfig, "certificate chain %s: the leaf's subject %q lacks C, ST or O: notation can pin only a subject with all three, "+
			"and the trust bundle never trusts \"*\"; re-issue it with C, ST and O", o.ImportChain, chain[0].Subject.String())
	}
	if len(chain) > 0 {
		if chain[0].NotAfter.Before(nk.NotAfter) {
			nk.NotAfter = chain[0].NotAfter.UTC().Truncate(time.Second)
		}
		chainPath := filepath.Join(keyDir, o.NewID+".chain.pem")
		if err := atomicfile.WriteFile(chainPath, keys.EncodeCerts(chain...), 0o644); err != nil {
			return out, result.Errorf(result.ClassInput, "writing %s: %v", chainPath, err)
		}
		nk.CertChain = f.rel(chainPath)
		nk.CertFingerprints = []string{CertFingerprint(chain[0])}
	}

	f.Keys = append(f.Keys, nk)
	if f.Environments == nil {
		f.Environments = map[string]*Environment{}
	}
	f.Environments[o.Environment] = env
	env.Current = nk.ID
	if prev != nil && len(f.CurrentFor(prev.ID)) == 0 && env.Fallback != prev.ID {
		prev.State = Deprecated
		out.Deprecated = prev.ID
	}
	out.New = nk
	if out.Bundle, err = f.WriteBundle(); err != nil {
		return out, err
	}
	return out, f.Save()
}

// generate creates the key pair in the chosen backend and records its backend reference.
func (f *File) generate(ctx context.Context, o RotateOptions, nk *Key, keyDir string) (crypto.PublicKey, error) {
	switch o.Backend {
	case "file":
		prefix := o.KeyPrefix
		if prefix == "" {
			prefix = filepath.Join(keyDir, o.NewID)
		}
		pass, err := keys.ReadSecret(o.Secrets.PasswordFile, keys.PasswordEnv, "key password")
		if err != nil {
			return nil, err
		}
		if len(pass) == 0 {
			return nil, result.Errorf(result.ClassConfig, "the new key's password is empty: set COSIGN_PASSWORD or --password-file")
		}
		k, err := keys.GenerateFile(prefix, pass)
		if err != nil {
			return nil, err
		}
		nk.Backend = f.rel(prefix + ".key")
		return k.Public(), nil
	case "pkcs11":
		ref, err := keys.ParseRef(o.PKCS11URI)
		if err != nil {
			return nil, err
		}
		if ref.Scheme != keys.SchemePKCS11 {
			return nil, result.Errorf(result.ClassInput, "--backend pkcs11 needs --pkcs11-uri pkcs11:token=..;object=..;id=..?module-path=..")
		}
		k, err := keys.GeneratePKCS11(ctx, ref, o.Secrets)
		if err != nil {
			return nil, err
		}
		defer k.Close()
		nk.Backend = ref.String()
		return k.Public(), nil
	}
	return nil, result.Errorf(result.ClassInput, "--backend %q: use file or pkcs11", o.Backend)
}

// certify issues the new key's certificate with the CA, or checks an imported chain against the key.
func (f *File) certify(o RotateOptions, pub crypto.PublicKey) ([]*x509.Certificate, error) {
	switch {
	case o.NoCert:
		return nil, nil
	case o.CA != nil:
		subject := o.Subject
		if subject == "" {
			subject = defaultSubject(o.CA.Cert.Subject, o.NewID)
		}
		leaf, err := o.CA.IssueCodeSigning(pub, subject, o.Validity)
		if err != nil {
			return nil, err
		}
		return []*x509.Certificate{leaf, o.CA.Cert}, nil
	case o.ImportChain != "" && !o.NoCert:
		chain, err := keys.ReadCertChain(o.ImportChain)
		if err != nil {
			return nil, err
		}
		type equaler interface{ Equal(crypto.PublicKey) bool }
		if e, ok := pub.(equaler); !ok || !e.Equal(chain[0].PublicKey) {
			return nil, result.Errorf(result.ClassKey, "certificate chain %s was not issued for the new key: its leaf holds another public key", o.ImportChain)
		}
		return chain, nil
	}
	return nil, nil
}

func (f *File) rel(p string) string {
	if r, err := filepath.Rel(filepath.Dir(f.path), p); err == nil && !filepath.IsAbs(r) && r != ".." && !hasDotDot(r) {
		return r
	}
	return p
}

func hasDotDot(r string) bool { return len(r) >= 3 && r[:3] == ".."+string(filepath.Separator) }

// Revoke marks key id revoked, takes it out of every environment, and rewrites the trust bundle and keys.yaml.
func (f *File) Revoke(id, reason string, now time.Time) (Bundle, []string, error) {
	k, err := f.Key(id)
	if err != nil {
		return Bundle{}, nil, err
	}
	if k.State == Revoked {
		return Bundle{}, nil, result.Errorf(result.ClassInput, "key %s is already revoked", id)
	}
	now = now.UTC().Truncate(time.Second)
	k.State, k.RevokedAt, k.Reason = Revoked, &now, reason
	var orphaned []string
	for _, name := range f.EnvironmentNames() {
		env := f.Environments[name]
		if env.Current == id {
			env.Current = ""
			orphaned = append(orphaned, name)
		}
		if env.Fallback == id {
			env.Fallback = ""
		}
	}
	b, err := f.WriteBundle()
	if err != nil {
		return b, orphaned, err
	}
	return b, orphaned, f.Save()
}

// LoadCA reads a CA certificate and its private key (cosign-encrypted with the password from passwordFile or
// $CA_PASSWORD, or an unencrypted PKCS#8 / EC PEM) for issuing code-signing certificates.
func LoadCA(certPath, keyPath, passwordFile string) (*keys.CA, error) {
	chain, err := keys.ReadCertChain(certPath)
	if err != nil {
		return nil, err
	}
	raw, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, result.Errorf(result.ClassInput, "reading CA key %s: %v", keyPath, err)
	}
	p, _ := pem.Decode(raw)
	if p == nil {
		return nil, result.Errorf(result.ClassInput, "CA key %s is not PEM", keyPath)
	}
	var signer crypto.Signer
	switch p.Type {
	case keys.SigstorePrivateKeyPEM, keys.CosignPrivateKeyPEM:
		pass, err := keys.ReadSecret(passwordFile, CAPasswordEnv, "CA key password")
		if err != nil {
			return nil, err
		}
		if signer, err = keys.DecryptPrivateKey(raw, pass, keyPath); err != nil {
			return nil, err
		}
	case "PRIVATE KEY":
		k, err := x509.ParsePKCS8PrivateKey(p.Bytes)
		if err != nil {
			return nil, result.Errorf(result.ClassInput, "CA key %s: %v", keyPath, err)
		}
		s, ok := k.(crypto.Signer)
		if !ok {
			return nil, result.Errorf(result.ClassKey, "CA key %s holds a %T, not a signing key", keyPath, k)
		}
		signer = s
	case "EC PRIVATE KEY":
		k, err := x509.ParseECPrivateKey(p.Bytes)
		if err != nil {
			return nil, result.Errorf(result.ClassInput, "CA key %s: %v", keyPath, err)
		}
		signer = k
	default:
		return nil, result.Errorf(result.ClassInput, "CA key %s holds a %q PEM block: want an encrypted cosign key or PKCS#8", keyPath, p.Type)
	}
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if e, ok := signer.Public().(equaler); !ok || !e.Equal(chain[0].PublicKey) {
		return nil, result.Errorf(result.ClassKey, "CA key %s does not match CA certificate %s", keyPath, certPath)
	}
	if !chain[0].IsCA {
		return nil, result.Errorf(result.ClassKey, "certificate %s is not a CA (basicConstraints CA:FALSE)", certPath)
	}
	return &keys.CA{Cert: chain[0], Key: signer}, nil
}

// CAPasswordEnv carries the CA key's password (bound by withCredentials).
const CAPasswordEnv = "CA_PASSWORD"

// defaultSubject names a new key's certificate CN=<id> under the CA's C, ST and O (notation's trust policy needs
// all three to tell keys apart); missing parts become C=ZZ (ISO user-assigned), ST=none, O=release-gates.
func defaultSubject(ca pkix.Name, id string) string {
	first := func(v []string, def string) string {
		if len(v) > 0 && !strings.ContainsAny(v[0], ",=") {
			return v[0]
		}
		return def
	}
	return "C=" + first(ca.Country, "ZZ") + ",ST=" + first(ca.Province, "none") + ",O=" + first(ca.Organization, "release-gates") + ",CN=" + id
}
