package bundle

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"time"

	protobundle "github.com/sigstore/protobuf-specs/gen/pb-go/bundle/v1"
	protocommon "github.com/sigstore/protobuf-specs/gen/pb-go/common/v1"
	protodsse "github.com/sigstore/protobuf-specs/gen/pb-go/dsse"
	sgbundle "github.com/sigstore/sigstore-go/pkg/bundle"
	"github.com/sigstore/sigstore-go/pkg/root"
	"github.com/sigstore/sigstore-go/pkg/sign"
	"github.com/sigstore/sigstore-go/pkg/verify"
	"github.com/sigstore/sigstore/pkg/cryptoutils"
	"github.com/sigstore/sigstore/pkg/signature"
	"google.golang.org/protobuf/encoding/protojson"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Media types and predicate types of cosign v3's default output.
const (
	MediaTypeV03            = "application/vnd.dev.sigstore.bundle.v0.3+json"
	mediaTypePrefix         = "application/vnd.dev.sigstore.bundle"
	InTotoPayloadType       = "application/vnd.in-toto+json"
	InTotoStatementType     = "https://in-toto.io/Statement/v1"
	CosignSignPredicateType = "https://sigstore.dev/cosign/sign/v1"
	// FormatV03 is the value of the bundleFormat parameter (--bundle-format) that selects sigstore bundle v0.3.
	FormatV03 = "v0.3"
)

// supported is false in builds with the nobundle tag: a bundle is then reported as unsupported (exit 2), never as tampered.
var supported = true

// Supported reports whether this build verifies sigstore bundles.
func Supported() bool { return supported }

// Is reports whether raw is a sigstore bundle (any version): a JSON object whose mediaType names one.
func Is(raw []byte) bool {
	var head struct {
		MediaType string `json:"mediaType"`
	}
	return json.Unmarshal(raw, &head) == nil && strings.HasPrefix(head.MediaType, mediaTypePrefix)
}

// ParseFormat checks a bundleFormat value: "" (the legacy cosign layout only) or "v0.3".
func ParseFormat(s string) (string, error) {
	switch strings.TrimSpace(s) {
	case "":
		return "", nil
	case FormatV03, "0.3":
		return FormatV03, nil
	}
	return "", result.Errorf(result.ClassInput, "unknown bundleFormat %q: use v0.3 (sigstore bundle, cosign v3's default) or leave it unset", s)
}

func unsupported(what string) error {
	return result.Errorf(result.ClassInput, "%s is a sigstore bundle, which this build of release-gates cannot verify (built with the nobundle tag): use a release built with bundle support, or sign with cosign --new-bundle-format=false", what)
}

// load parses raw as a sigstore bundle; an unknown bundle version is unsupported (ClassInput), a broken one tampered.
func load(raw []byte, what string) (*sgbundle.Bundle, error) {
	if !supported {
		return nil, unsupported(what)
	}
	var b sgbundle.Bundle
	if err := b.UnmarshalJSON(raw); err != nil {
		if errors.Is(err, sgbundle.ErrUnsupportedMediaType) {
			return nil, result.Errorf(result.ClassInput, "%s: unsupported sigstore bundle: %v (v0.1 to v0.3 are supported)", what, err)
		}
		return nil, result.Errorf(result.ClassTamper, "%s: not a valid sigstore bundle: %v", what, err)
	}
	return &b, nil
}

func sigVerifier(pub crypto.PublicKey) (signature.Verifier, error) {
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, result.Errorf(result.ClassKey, "unsupported public key for a sigstore bundle: %v", err)
	}
	return v, nil
}

// keyVerifier is a sigstore-go verifier that trusts exactly pub, whatever key hint the bundle carries (as cosign --key does).
func keyVerifier(pub crypto.PublicKey) (*verify.Verifier, error) {
	sv, err := sigVerifier(pub)
	if err != nil {
		return nil, err
	}
	key := root.NewExpiringKey(sv, time.Time{}, time.Time{})
	tm := root.NewTrustedPublicKeyMaterial(func(string) (root.TimeConstrainedVerifier, error) { return key, nil })
	v, err := verify.NewVerifier(tm, verify.WithNoObserverTimestamps())
	if err != nil {
		return nil, result.Errorf(result.ClassInternal, "sigstore verifier: %v", err)
	}
	return v, nil
}

// VerifyDigest checks a blob bundle (message signature or DSSE) against the sha256 digest of the blob with any of
// pubs and returns the index of the key that verified. An unsupported bundle is ClassInput, a bad one ClassTamper.
func VerifyDigest(raw, sha256Digest []byte, pubs []crypto.PublicKey, what string) (int, error) {
	b, err := load(raw, what)
	if err != nil {
		return -1, err
	}
	var last error
	for i, pub := range pubs {
		v, err := keyVerifier(pub)
		if err != nil {
			return -1, err
		}
		if _, err := v.Verify(b, verify.NewPolicy(verify.WithArtifactDigest("sha256", sha256Digest), verify.WithKey())); err != nil {
			last = err
			continue
		}
		return i, nil
	}
	return -1, result.Errorf(result.ClassTamper, "%s: sigstore bundle does not verify with any given key: %v", what, last)
}

// Statement is a verified in-toto statement from a DSSE bundle.
type Statement struct {
	PredicateType string
	JSON          []byte // the statement as signed
	KeyIndex      int
}

// VerifyStatement checks a DSSE bundle whose in-toto statement has subject sha256Digest with any of pubs.
func VerifyStatement(raw, sha256Digest []byte, pubs []crypto.PublicKey, what string) (Statement, error) {
	b, err := load(raw, what)
	if err != nil {
		return Statement{}, err
	}
	return verifyStatement(b, sha256Digest, pubs, what)
}

func verifyStatement(b *sgbundle.Bundle, sha256Digest []byte, pubs []crypto.PublicKey, what string) (Statement, error) {
	env := b.GetDsseEnvelope()
	if env == nil {
		return Statement{}, result.Errorf(result.ClassTamper, "%s: the sigstore bundle holds no DSSE envelope (no in-toto statement)", what)
	}
	var last error
	for i, pub := range pubs {
		v, err := keyVerifier(pub)
		if err != nil {
			return Statement{}, err
		}
		res, err := v.Verify(b, verify.NewPolicy(verify.WithArtifactDigest("sha256", sha256Digest), verify.WithKey()))
		if err != nil {
			last = err
			continue
		}
		pt := ""
		if res.Statement != nil {
			pt = res.Statement.GetPredicateType()
		}
		return Statement{PredicateType: pt, JSON: env.GetPayload(), KeyIndex: i}, nil
	}
	return Statement{}, result.Errorf(result.ClassTamper, "%s: sigstore bundle does not verify with any given key: %v", what, last)
}

// keypair adapts a crypto.Signer (file key or PKCS#11) to sigstore-go's sign.Keypair, with cosign's key hint
// (base64 of the sha256 of the public key's DER).
type keypair struct {
	s    crypto.Signer
	alg  signature.AlgorithmDetails
	hint []byte
}

func newKeypair(s crypto.Signer) (*keypair, error) {
	pub := s.Public()
	hint, err := keyHint(pub)
	if err != nil {
		return nil, err
	}
	alg, err := signature.GetDefaultAlgorithmDetails(pub)
	if err != nil {
		return nil, result.Errorf(result.ClassKey, "no sigstore signing algorithm for this key: %v", err)
	}
	if _, ok := pub.(ed25519.PublicKey); ok {
		return nil, result.Errorf(result.ClassKey, "sigstore bundles need an ECDSA or RSA key here (cosign signs Ed25519 bundles with ed25519ph)")
	}
	return &keypair{s: s, alg: alg, hint: hint}, nil
}

func (k *keypair) GetHashAlgorithm() protocommon.HashAlgorithm { return k.alg.GetProtoHashType() }
func (k *keypair) GetSigningAlgorithm() protocommon.PublicKeyDetails {
	return k.alg.GetSignatureAlgorithm()
}
func (k *keypair) GetHint() []byte                { return k.hint }
func (k *keypair) GetPublicKey() crypto.PublicKey { return k.s.Public() }
func (k *keypair) GetPublicKeyPem() (string, error) {
	b, err := cryptoutils.MarshalPublicKeyToPEM(k.s.Public())
	return string(b), err
}
func (k *keypair) GetKeyAlgorithm() string {
	switch k.s.Public().(type) {
	case *ecdsa.PublicKey:
		return "ECDSA"
	case *rsa.PublicKey:
		return "RSA"
	}
	return ""
}

// SignData hashes data with the key's hash and signs the digest.
func (k *keypair) SignData(_ context.Context, data []byte) ([]byte, []byte, error) {
	h := k.alg.GetHashType()
	hf := h.New()
	hf.Write(data)
	digest := hf.Sum(nil)
	sig, err := k.signDigest(digest, h)
	return sig, digest, err
}

// signDigest signs a digest: ASN.1 ECDSA, or RSA PKCS#1 v1.5, as cosign signs with keys.
func (k *keypair) signDigest(digest []byte, h crypto.Hash) ([]byte, error) {
	return k.s.Sign(rand.Reader, digest, h)
}

func marshal(b *protobundle.Bundle) ([]byte, error) {
	raw, err := protojson.Marshal(b)
	if err != nil {
		return nil, result.Errorf(result.ClassInternal, "encoding the sigstore bundle: %v", err)
	}
	return raw, nil
}

// SignDigest returns a v0.3 message-signature bundle over a blob's sha256 digest, as cosign v3's
// `sign-blob --bundle --key` writes offline (no transparency log entry), and checks it against the key first.
func SignDigest(s crypto.Signer, sha256Digest []byte) ([]byte, error) {
	sig, err := s.Sign(rand.Reader, sha256Digest, crypto.SHA256)
	if err != nil {
		return nil, result.Errorf(result.ClassKey, "signing the bundle: %v", err)
	}
	return DigestBundle(s.Public(), sha256Digest, sig)
}

// DigestBundle wraps an existing signature over a sha256 digest (as cosign sign-blob makes it) in a v0.3 bundle
// with pub's key hint, and checks that it verifies with pub.
func DigestBundle(pub crypto.PublicKey, sha256Digest, sig []byte) ([]byte, error) {
	if _, ok := pub.(ed25519.PublicKey); ok {
		return nil, result.Errorf(result.ClassKey, "v0.3 blob bundles need an ECDSA or RSA key")
	}
	hint, err := keyHint(pub)
	if err != nil {
		return nil, err
	}
	pb := &protobundle.Bundle{
		MediaType: MediaTypeV03,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: string(hint)}},
		},
		Content: &protobundle.Bundle_MessageSignature{MessageSignature: &protocommon.MessageSignature{
			MessageDigest: &protocommon.HashOutput{Algorithm: protocommon.HashAlgorithm_SHA2_256, Digest: sha256Digest},
			Signature:     sig,
		}},
	}
	raw, err := marshal(pb)
	if err != nil {
		return nil, err
	}
	if _, err := VerifyDigest(raw, sha256Digest, []crypto.PublicKey{pub}, "the bundle just signed"); err != nil {
		return nil, result.Errorf(result.ClassKey, "the bundle signed with this key does not verify against its own public key: %v", err)
	}
	return raw, nil
}

func keyHint(pub crypto.PublicKey) ([]byte, error) {
	der, err := x509.MarshalPKIXPublicKey(pub)
	if err != nil {
		return nil, result.Errorf(result.ClassKey, "encoding the public key: %v", err)
	}
	sum := sha256.Sum256(der)
	return []byte(base64.StdEncoding.EncodeToString(sum[:])), nil
}

// SignStatement returns a v0.3 DSSE bundle of an in-toto statement (JSON), checked against the key before it is returned.
func SignStatement(s crypto.Signer, statement []byte) ([]byte, error) {
	kp, err := newKeypair(s)
	if err != nil {
		return nil, err
	}
	pb, err := sign.Bundle(&sign.DSSEData{Data: statement, PayloadType: InTotoPayloadType}, kp, sign.BundleOptions{})
	if err != nil {
		return nil, result.Errorf(result.ClassKey, "signing the bundle: %v", err)
	}
	raw, err := marshal(pb)
	if err != nil {
		return nil, err
	}
	b, err := load(raw, "the bundle just signed")
	if err != nil {
		return nil, err
	}
	if err := selfCheckDSSE(b, s.Public()); err != nil {
		return nil, err
	}
	return raw, nil
}

func selfCheckDSSE(b *sgbundle.Bundle, pub crypto.PublicKey) error {
	v, err := keyVerifier(pub)
	if err != nil {
		return err
	}
	if _, err := v.Verify(b, verify.NewPolicy(verify.WithoutArtifactUnsafe(), verify.WithKey())); err != nil {
		return result.Errorf(result.ClassKey, "the bundle signed with this key does not verify against its own public key: %v", err)
	}
	return nil
}

// EnvelopeBundle wraps a signed DSSE envelope (JSON, as cosign attest and provenance.Sign write it) in a v0.3
// bundle with pub's key hint, checks that it verifies with pub, and returns it with the statement.
func EnvelopeBundle(pub crypto.PublicKey, envelope []byte) ([]byte, []byte, error) {
	var env struct {
		PayloadType string `json:"payloadType"`
		Payload     []byte `json:"payload"`
		Signatures  []struct {
			KeyID string `json:"keyid"`
			Sig   []byte `json:"sig"`
		} `json:"signatures"`
	}
	if err := json.Unmarshal(envelope, &env); err != nil || env.PayloadType != InTotoPayloadType || len(env.Signatures) == 0 {
		return nil, nil, result.Errorf(result.ClassInput, "not a signed DSSE envelope of an in-toto statement")
	}
	hint, err := keyHint(pub)
	if err != nil {
		return nil, nil, err
	}
	sigs := make([]*protodsse.Signature, 0, len(env.Signatures))
	for _, s := range env.Signatures {
		sigs = append(sigs, &protodsse.Signature{Sig: s.Sig, Keyid: s.KeyID})
	}
	pb := &protobundle.Bundle{
		MediaType: MediaTypeV03,
		VerificationMaterial: &protobundle.VerificationMaterial{
			Content: &protobundle.VerificationMaterial_PublicKey{PublicKey: &protocommon.PublicKeyIdentifier{Hint: string(hint)}},
		},
		Content: &protobundle.Bundle_DsseEnvelope{DsseEnvelope: &protodsse.Envelope{Payload: env.Payload, PayloadType: env.PayloadType, Signatures: sigs}},
	}
	raw, err := marshal(pb)
	if err != nil {
		return nil, nil, err
	}
	b, err := load(raw, "the bundle of the envelope")
	if err != nil {
		return nil, nil, err
	}
	if err := selfCheckDSSE(b, pub); err != nil {
		return nil, nil, err
	}
	return raw, env.Payload, nil
}

// CosignSignStatement is the in-toto statement cosign v3 signs for an image: predicate type cosign/sign/v1, the digest as subject.
func CosignSignStatement(sha256Hex string) ([]byte, error) {
	return SubjectStatement(sha256Hex, CosignSignPredicateType, map[string]any{})
}

// SubjectStatement marshals an in-toto v1 statement about one sha256 subject.
func SubjectStatement(sha256Hex, predicateType string, predicate any) ([]byte, error) {
	if len(sha256Hex) != 64 {
		return nil, result.Errorf(result.ClassInput, "statement subject %q is not a sha256 hex digest", sha256Hex)
	}
	return json.Marshal(map[string]any{
		"_type":         InTotoStatementType,
		"subject":       []any{map[string]any{"digest": map[string]string{"sha256": sha256Hex}}},
		"predicateType": predicateType,
		"predicate":     predicate,
	})
}
