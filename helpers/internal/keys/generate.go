package keys

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"os"
	"strings"
	"time"

	"github.com/secure-systems-lab/go-securesystemslib/encrypted"

	"github.com/release-gates/release-gates/helpers/internal/atomicfile"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// EncryptPrivateKey encodes key as a cosign "ENCRYPTED SIGSTORE PRIVATE KEY" PEM (PKCS#8, scrypt + secretbox).
func EncryptPrivateKey(key crypto.Signer, password []byte) ([]byte, error) {
	der, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, fmt.Errorf("encoding private key: %w", err)
	}
	enc, err := encrypted.Encrypt(der, password)
	if err != nil {
		return nil, fmt.Errorf("encrypting private key: %w", err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: SigstorePrivateKeyPEM, Bytes: enc}), nil
}

// GenerateFile writes a new ECDSA P-256 key pair as prefix.key (encrypted, cosign format) and prefix.pub; it refuses to overwrite.
func GenerateFile(prefix string, password []byte) (*Key, error) {
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, result.Errorf(result.ClassInternal, "generating ECDSA key: %v", err)
	}
	if err := WriteKeyPair(prefix, priv, password); err != nil {
		return nil, err
	}
	id, err := KeyID(priv.Public())
	if err != nil {
		return nil, err
	}
	return &Key{Signer: priv, ID: id, Ref: Ref{Scheme: SchemeFile, Path: prefix + ".key"}}, nil
}

// WriteKeyPair writes key as prefix.key (encrypted) and prefix.pub, atomically, refusing to overwrite an existing prefix.key.
func WriteKeyPair(prefix string, key crypto.Signer, password []byte) error {
	if prefix == "" {
		return result.Errorf(result.ClassInput, "empty key output prefix")
	}
	for _, p := range []string{prefix + ".key", prefix + ".pub"} {
		if _, err := os.Stat(p); err == nil {
			return result.Errorf(result.ClassInput, "%s already exists: remove it or choose another prefix", p)
		}
	}
	privPEM, err := EncryptPrivateKey(key, password)
	if err != nil {
		return result.Wrap(result.ClassInternal, err)
	}
	pubPEM, err := MarshalPublicPEM(key.Public())
	if err != nil {
		return err
	}
	if err := atomicfile.WriteFile(prefix+".key", privPEM, 0o600); err != nil {
		return result.Errorf(result.ClassInput, "%v", err)
	}
	if err := atomicfile.WriteFile(prefix+".pub", pubPEM, 0o644); err != nil {
		return result.Errorf(result.ClassInput, "%v", err)
	}
	return nil
}

// CA is a throwaway certificate authority for Notary Project code signing (tests and demos).
type CA struct {
	Cert *x509.Certificate
	Key  crypto.Signer
}

// NewCA creates a self-signed ECDSA P-256 root named after subject (CN + " CA") that notation accepts as a trust anchor.
func NewCA(subject string, validity time.Duration) (*CA, error) {
	name, err := ParseSubject(subject)
	if err != nil {
		return nil, err
	}
	name.CommonName += " CA"
	priv, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, result.Errorf(result.ClassInternal, "generating CA key: %v", err)
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               name,
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign | x509.KeyUsageDigitalSignature,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLen:            1,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, priv.Public(), priv)
	if err != nil {
		return nil, result.Errorf(result.ClassInternal, "creating CA certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, result.Errorf(result.ClassInternal, "parsing CA certificate: %v", err)
	}
	return &CA{Cert: cert, Key: priv}, nil
}

// IssueCodeSigning issues a leaf for pub that passes notation-core-go's code-signing checks:
// critical KeyUsage digitalSignature only, ExtKeyUsage codeSigning, CA=false.
func (ca *CA) IssueCodeSigning(pub crypto.PublicKey, subject string, validity time.Duration) (*x509.Certificate, error) {
	name, err := ParseSubject(subject)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	tmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               name,
		NotBefore:             now.Add(-5 * time.Minute),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageCodeSigning},
		BasicConstraintsValid: true,
		IsCA:                  false,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca.Cert, pub, ca.Key)
	if err != nil {
		return nil, result.Errorf(result.ClassKey, "issuing code-signing certificate: %v", err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, result.Errorf(result.ClassInternal, "parsing leaf certificate: %v", err)
	}
	return cert, nil
}

// EncodeCerts returns certs as concatenated CERTIFICATE PEM blocks, in order.
func EncodeCerts(certs ...*x509.Certificate) []byte {
	var out []byte
	for _, c := range certs {
		out = append(out, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})...)
	}
	return out
}

// ParseSubject reads "CN=x,O=y,OU=z,C=DE,L=..,ST=.." or a plain common name.
func ParseSubject(s string) (pkix.Name, error) {
	s = strings.TrimSpace(s)
	if s == "" {
		return pkix.Name{}, result.Errorf(result.ClassInput, "empty certificate subject: pass --subject 'CN=release signer,O=example'")
	}
	if !strings.Contains(s, "=") {
		return pkix.Name{CommonName: s}, nil
	}
	var n pkix.Name
	for _, part := range strings.Split(s, ",") {
		k, v, ok := strings.Cut(strings.TrimSpace(part), "=")
		v = strings.TrimSpace(v)
		if !ok || v == "" {
			return pkix.Name{}, result.Errorf(result.ClassInput, "certificate subject part %q is not KEY=value", part)
		}
		switch strings.ToUpper(strings.TrimSpace(k)) {
		case "CN":
			n.CommonName = v
		case "O":
			n.Organization = append(n.Organization, v)
		case "OU":
			n.OrganizationalUnit = append(n.OrganizationalUnit, v)
		case "C":
			n.Country = append(n.Country, v)
		case "L":
			n.Locality = append(n.Locality, v)
		case "ST":
			n.Province = append(n.Province, v)
		default:
			return pkix.Name{}, result.Errorf(result.ClassInput, "certificate subject key %q is not one of CN, O, OU, C, L, ST", k)
		}
	}
	// notation's trust policy matches on the full subject; a CN keeps certificates tellable apart.
	if n.CommonName == "" {
		return pkix.Name{}, result.Errorf(result.ClassInput, "certificate subject needs CN=")
	}
	return n, nil
}

func serial() *big.Int {
	n, _ := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	return n.Add(n, big.NewInt(1))
}
