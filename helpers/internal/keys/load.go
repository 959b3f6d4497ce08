package keys

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"

	"github.com/release-gates/release-gates/helpers/internal/hsm"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/vocab"
)

// Environment variables that carry key secrets (bound by withCredentials).
const (
	PasswordEnv = "COSIGN_PASSWORD"
	PINEnv      = "PKCS11_PIN"
)

// PEM block types of cosign key files.
const (
	SigstorePrivateKeyPEM = "ENCRYPTED SIGSTORE PRIVATE KEY"
	CosignPrivateKeyPEM   = "ENCRYPTED COSIGN PRIVATE KEY"
	PublicKeyPEM          = "PUBLIC KEY"
)

// LoadOptions says where Load finds the secrets and the optional certificate chain.
type LoadOptions struct {
	PasswordFile  string // key file password; else $COSIGN_PASSWORD
	PINFile       string // PKCS#11 user PIN; else the URI's pin-source, else $PKCS11_PIN
	CertChainFile string // optional PEM chain, leaf first; the leaf must match the key
	PasswordEnv   string // env var holding the password when PasswordFile is unset; default $COSIGN_PASSWORD
	PINEnv        string // env var holding the PIN when no file is given; default $PKCS11_PIN

	// Spell names where the secrets come from in errors, as the caller's user supplies them; nil: helper flags, env vars.
	Spell vocab.Spelling
}

// Options that supply the secrets, as vocab spells them; a secret without a file comes from vocab.Env(its env var).
const (
	OptPasswordFile vocab.Option = "password-file"
	OptPINFile      vocab.Option = "pin-file"
)

// source names where a secret is read from: the file (fileOpt), else the env var.
func (o LoadOptions) source(fileOpt vocab.Option, file, env string) string {
	if file != "" {
		return vocab.Say(o.Spell, fileOpt, file)
	}
	return vocab.Say(o.Spell, vocab.Env(env), nil)
}

// readSecret is ReadSecret whose "missing" message names the option the caller's user sets (a step's credential key).
func (o LoadOptions) readSecret(file, env, what string) ([]byte, error) {
	if _, ok := os.LookupEnv(env); !ok && file == "" && o.Spell != nil {
		return nil, result.Errorf(result.ClassConfig, "no %s: set %s", what, o.Spell.Spell(vocab.Env(env), nil))
	}
	return ReadSecret(file, env, what)
}

func (o LoadOptions) passwordEnv() string {
	if o.PasswordEnv != "" {
		return o.PasswordEnv
	}
	return PasswordEnv
}

func (o LoadOptions) pinEnv() string {
	if o.PINEnv != "" {
		return o.PINEnv
	}
	return PINEnv
}

// Key is a loaded signing key; Close releases an HSM session.
type Key struct {
	Signer    crypto.Signer
	CertChain []*x509.Certificate
	ID        string // short sha256 of the public key's SPKI
	Ref       Ref
	closer    func() error
}

// Public returns the key's public half.
func (k *Key) Public() crypto.PublicKey { return k.Signer.Public() }

// Close releases the key's resources; it is safe to call more than once.
func (k *Key) Close() error {
	if k == nil || k.closer == nil {
		return nil
	}
	c := k.closer
	k.closer = nil
	return c()
}

// PublicPEM returns the public key as a cosign-format "PUBLIC KEY" PEM block.
func (k *Key) PublicPEM() ([]byte, error) { return MarshalPublicPEM(k.Public()) }

// Load resolves ref to a signer: one switch on the scheme.
func Load(ctx context.Context, ref Ref, opts LoadOptions) (*Key, error) {
	if err := ctx.Err(); err != nil {
		return nil, result.Errorf(result.ClassUnavailable, "loading key: %v", err)
	}
	var (
		k   *Key
		err error
	)
	switch ref.Scheme {
	case SchemeFile, "":
		k, err = loadFile(ref, opts)
	case SchemePKCS11:
		k, err = loadPKCS11(ref, opts)
	default:
		return nil, result.Errorf(result.ClassInput, "key scheme %q is not supported", ref.Scheme)
	}
	if err != nil {
		return nil, err
	}
	k.Ref = ref
	if opts.CertChainFile != "" {
		chain, err := ReadCertChain(opts.CertChainFile)
		if err == nil {
			err = checkLeafMatches(chain[0], k.Public())
		}
		if err != nil {
			k.Close()
			return nil, err
		}
		k.CertChain = chain
	}
	return k, nil
}

func loadFile(ref Ref, opts LoadOptions) (*Key, error) {
	raw, err := os.ReadFile(ref.Path)
	if err != nil {
		return nil, result.Errorf(result.ClassInput, "reading key file %s: %v", ref.Path, unwrapPath(err))
	}
	pass, err := opts.readSecret(opts.PasswordFile, opts.passwordEnv(), "key password")
	if err != nil {
		return nil, err
	}
	signer, err := decryptPrivateKey(raw, pass, ref.Path, opts.source(OptPasswordFile, opts.PasswordFile, opts.passwordEnv()))
	if err != nil {
		return nil, err
	}
	id, err := KeyID(signer.Public())
	if err != nil {
		return nil, err
	}
	return &Key{Signer: signer, ID: id}, nil
}

// DecryptPrivateKey decrypts a cosign "ENCRYPTED SIGSTORE PRIVATE KEY" PEM (scrypt + secretbox), as cosign does; name labels errors.
func DecryptPrivateKey(pemBytes, password []byte, name string) (crypto.Signer, error) {
	return decryptPrivateKey(pemBytes, password, name, "COSIGN_PASSWORD or --password-file")
}

// decryptPrivateKey is DecryptPrivateKey; a wrong password names source, where the password came from.
func decryptPrivateKey(pemBytes, password []byte, name, source string) (crypto.Signer, error) {
	p, _ := pem.Decode(pemBytes)
	if p == nil {
		return nil, result.Errorf(result.ClassInput, "key file %s is not PEM: pass a key written by 'cosign generate-key-pair' or 'sign-artifacts keys generate'", name)
	}
	if p.Type != SigstorePrivateKeyPEM && p.Type != CosignPrivateKeyPEM {
		return nil, result.Errorf(result.ClassInput, "key file %s holds a %q PEM block: want %q (cosign format)", name, p.Type, SigstorePrivateKeyPEM)
	}
	der, err := encrypted.Decrypt(p.Bytes, password)
	if err != nil {
		if strings.Contains(err.Error(), "decryption failed") {
			return nil, result.Errorf(result.ClassAuth, "decrypting key file %s: wrong password (check %s)", name, source)
		}
		return nil, result.Errorf(result.ClassInput, "key file %s is corrupt: %v", name, err)
	}
	pk, err := x509.ParsePKCS8PrivateKey(der)
	if err != nil {
		return nil, result.Errorf(result.ClassInput, "key file %s is corrupt: parsing PKCS#8: %v", name, err)
	}
	switch s := pk.(type) {
	case *ecdsa.PrivateKey:
		return s, nil
	case *rsa.PrivateKey:
		return s, nil
	}
	return nil, result.Errorf(result.ClassKey, "key file %s holds a %T: only ECDSA and RSA keys are supported", name, pk)
}

// ReadPIN reads the PKCS#11 PIN of ref (o.PINFile, else the URI's pin-source, else the env var) and says where it came
// from, in o.Spell's words, for hsm.Config.PINFrom.
func ReadPIN(ref Ref, o LoadOptions) (pin []byte, from string, err error) {
	pinFile := o.PINFile
	if pinFile == "" {
		pinFile = ref.PINSource
	}
	pin, err = o.readSecret(pinFile, o.pinEnv(), "PKCS#11 PIN")
	return pin, o.pinSource(ref), err
}

// pinSource names where the PIN of ref is read from: the PIN file, the URI's pin-source, else the env var.
func (o LoadOptions) pinSource(ref Ref) string {
	if o.PINFile == "" && ref.PINSource != "" {
		return "the pin-source file of the key URI"
	}
	return o.source(OptPINFile, o.PINFile, o.pinEnv())
}

func loadPKCS11(ref Ref, opts LoadOptions) (*Key, error) {
	pin, from, err := ReadPIN(ref, opts)
	if err != nil {
		return nil, err
	}
	tok, err := hsm.Open(hsm.Config{ModulePath: ref.ModulePath, Token: ref.Token, Serial: ref.Serial, PIN: string(pin), PINFrom: from})
	if err != nil {
		return nil, err
	}
	var label []byte
	if ref.Label != "" {
		label = []byte(ref.Label)
	}
	signer, err := tok.FindSigner(ref.ID, label)
	if err == nil {
		var id string
		if id, err = KeyID(signer.Public()); err == nil {
			return &Key{Signer: signer, ID: id, closer: tok.Close}, nil
		}
	}
	tok.Close()
	return nil, err
}

// GeneratePKCS11 creates an ECDSA P-256 key pair in the token named by ref (needs object= and id=), refusing duplicates.
func GeneratePKCS11(ctx context.Context, ref Ref, opts LoadOptions) (*Key, error) {
	if ref.Scheme != SchemePKCS11 {
		return nil, result.Errorf(result.ClassInput, "generating an HSM key needs a pkcs11: URI")
	}
	if err := ctx.Err(); err != nil {
		return nil, result.Errorf(result.ClassUnavailable, "generating key: %v", err)
	}
	pin, from, err := ReadPIN(ref, opts)
	if err != nil {
		return nil, err
	}
	tok, err := hsm.Open(hsm.Config{ModulePath: ref.ModulePath, Token: ref.Token, Serial: ref.Serial, PIN: string(pin), PINFrom: from})
	if err != nil {
		return nil, err
	}
	signer, err := tok.GenerateECDSA(ref.ID, []byte(ref.Label))
	if err != nil {
		tok.Close()
		return nil, err
	}
	id, err := KeyID(signer.Public())
	if err != nil {
		tok.Close()
		return nil, err
	}
	return &Key{Signer: signer, ID: id, Ref: ref, closer: tok.Close}, nil
}

// ReadSecret reads a secret from file (one trailing newline dropped) or else from env; what names it in errors.
func ReadSecret(file, env, what string) ([]byte, error) {
	if file != "" {
		b, err := os.ReadFile(file)
		if err != nil {
			return nil, result.Errorf(result.ClassConfig, "reading %s file %s: %v", what, file, unwrapPath(err))
		}
		b = bytes.TrimSuffix(b, []byte("\n"))
		return bytes.TrimSuffix(b, []byte("\r")), nil
	}
	if v, ok := os.LookupEnv(env); ok {
		return []byte(v), nil
	}
	return nil, result.Errorf(result.ClassConfig, "no %s: bind it with withCredentials as %s or pass a file", what, env)
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// KeyID returns the first 16 hex digits of the sha256 of the public key's SPKI DER.
func KeyID(pub crypto.PublicKey) (string, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return "", result.Errorf(result.ClassKey, "encoding public key: %v", err)
	}
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:8]), nil
}

// MarshalPublicPEM encodes pub as a "PUBLIC KEY" PEM block, the format cosign reads with --key.
func MarshalPublicPEM(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, result.Errorf(result.ClassKey, "encoding public key: %v", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: PublicKeyPEM, Bytes: der}), nil
}

// ParsePublicPEM decodes a "PUBLIC KEY" PEM block (a cosign .pub file); name labels errors.
func ParsePublicPEM(b []byte, name string) (crypto.PublicKey, error) {
	p, _ := pem.Decode(b)
	if p == nil || p.Type != PublicKeyPEM {
		return nil, result.Errorf(result.ClassInput, "%s is not a PEM public key: pass the .pub file of the key pair", name)
	}
	pub, err := x509.ParsePKIXPublicKey(p.Bytes)
	if err != nil {
		return nil, result.Errorf(result.ClassInput, "%s: parsing public key: %v", name, err)
	}
	switch pub.(type) {
	case *ecdsa.PublicKey, *rsa.PublicKey:
		return pub, nil
	}
	return nil, result.Errorf(result.ClassKey, "%s holds a %T: only ECDSA and RSA keys are supported", name, pub)
}

// ReadCertChain reads a PEM certificate chain, leaf first.
func ReadCertChain(path string) ([]*x509.Certificate, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, result.Errorf(result.ClassInput, "reading certificate chain %s: %v", path, unwrapPath(err))
	}
	var chain []*x509.Certificate
	for {
		var p *pem.Block
		p, b = pem.Decode(b)
		if p == nil {
			break
		}
		if p.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(p.Bytes)
		if err != nil {
			return nil, result.Errorf(result.ClassInput, "certificate chain %s: %v", path, err)
		}
		chain = append(chain, c)
	}
	if len(chain) == 0 {
		return nil, result.Errorf(result.ClassInput, "certificate chain %s holds no CERTIFICATE PEM block", path)
	}
	return chain, nil
}

func checkLeafMatches(leaf *x509.Certificate, pub crypto.PublicKey) error {
	type equaler interface{ Equal(crypto.PublicKey) bool }
	if e, ok := pub.(equaler); ok && e.Equal(leaf.PublicKey) {
		return nil
	}
	return result.Errorf(result.ClassKey, "certificate %q does not match the signing key: pass the chain issued for this key, leaf first", leaf.Subject.String())
}

// RawECDSA converts an ASN.1 DER ECDSA signature to fixed-size r||s, as JWS and COSE (notation) need.
func RawECDSA(der []byte, curveBits int) ([]byte, error) {
	var sig struct{ R, S bigInt }
	if err := unmarshalSig(der, &sig.R, &sig.S); err != nil {
		return nil, fmt.Errorf("parsing ECDSA signature: %w", err)
	}
	size := (curveBits + 7) / 8
	if len(sig.R) > size || len(sig.S) > size {
		return nil, fmt.Errorf("ECDSA signature does not fit a %d-bit curve", curveBits)
	}
	out := make([]byte, 2*size)
	copy(out[size-len(sig.R):size], sig.R)
	copy(out[2*size-len(sig.S):], sig.S)
	return out, nil
}
