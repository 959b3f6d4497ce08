package image

import (
	"context"
	"crypto/ecdsa"
	"crypto/rsa"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/notaryproject/notation-core-go/signature"
	_ "github.com/notaryproject/notation-core-go/signature/cose" // registers the COSE envelope
	_ "github.com/notaryproject/notation-core-go/signature/jws"  // registers the JWS envelope
	"github.com/notaryproject/notation-go"
	"github.com/notaryproject/notation-go/dir"
	"github.com/notaryproject/notation-go/registry"
	"github.com/notaryproject/notation-go/signer"
	"github.com/notaryproject/notation-go/verifier"
	"github.com/notaryproject/notation-go/verifier/trustpolicy"
	"github.com/notaryproject/notation-go/verifier/truststore"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	reg "github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// NotationOutcome describes a notation signature written for one image.
type NotationOutcome struct {
	MediaType string // application/jose+json or application/cose
	Reused    bool   // a valid signature by the same certificate was already there; nothing was pushed
	Verified  bool
}

// notationSigner picks notation-go's generic signer for in-memory keys and the in-process plugin for anything else (PKCS#11).
func notationSigner(k Key) (notation.Signer, error) {
	switch priv := k.Signer.(type) {
	case *ecdsa.PrivateKey, *rsa.PrivateKey:
		s, err := signer.NewGenericSigner(priv, k.CertChain)
		if err != nil {
			return nil, errf(result.ClassKey, "notation signer: %v", err)
		}
		return s, nil
	}
	p, err := NewSignPlugin(k)
	if err != nil {
		return nil, err
	}
	s, err := signer.NewPluginSigner(p, p.keyID, nil)
	if err != nil {
		return nil, errf(result.ClassKey, "notation signer: %v", err)
	}
	return s, nil
}

func notationRepo(rc *reg.Client, target reg.Target) (registry.Repository, error) {
	r, err := rc.Repository(target.Digest.Repository)
	if err != nil {
		return nil, err
	}
	return registry.NewRepository(r), nil
}

// SignNotation signs target with a Notary Project signature (JWS or COSE) and pushes it with the referrers API,
// falling back to the referrers tag schema. A valid signature by the same leaf certificate is reused, not duplicated.
func SignNotation(ctx context.Context, rc *reg.Client, target reg.Target, k Key, mediaType string) (NotationOutcome, error) {
	out := NotationOutcome{MediaType: mediaType}
	s, err := notationSigner(k)
	if err != nil {
		return out, err
	}
	repo, err := notationRepo(rc, target)
	if err != nil {
		return out, err
	}
	desc := ocispec.Descriptor{MediaType: string(target.Descriptor.MediaType), Digest: toDigest(target), Size: target.Descriptor.Size}
	err = rc.Retry(ctx, "pushing notation signature for "+target.Digest.String(), func() error {
		found, err := findOwnNotation(ctx, repo, desc, k.CertChain[0], mediaType)
		if err != nil {
			return err
		}
		if found {
			out.Reused = true
			return nil
		}
		_, err = notation.Sign(ctx, s, repo, notation.SignOptions{
			SignerSignOptions: notation.SignerSignOptions{SignatureMediaType: mediaType, Timestamper: k.Timestamper, TSARootCAs: k.TSARootCAs},
			ArtifactReference: target.Digest.String(),
		})
		var pushErr notation.ErrorPushSignatureFailed
		if errors.As(err, &pushErr) {
			return reg.Classify(errors.New(pushErr.Msg), "")
		}
		if err != nil && result.ClassOf(err) == result.ClassInternal && !isRegistryErr(err) {
			return errf(result.ClassKey, "notation signing: %v", oneLine(err))
		}
		return err
	})
	if err != nil {
		return out, err
	}
	v, err := verifierFor(k.CertChain)
	if err != nil {
		return out, err
	}
	if err := VerifyNotation(ctx, rc, target, v); err != nil {
		return out, fmt.Errorf("verifying the notation signature just written: %w", err)
	}
	out.Verified = true
	return out, nil
}

func isRegistryErr(err error) bool {
	return result.ClassOf(reg.Classify(err, "")) != result.ClassInternal
}

func toDigest(t reg.Target) digest.Digest { return digest.Digest(t.Descriptor.Digest.String()) }

// findOwnNotation reports whether desc already has a valid notation signature of mediaType made with leaf.
func findOwnNotation(ctx context.Context, repo registry.Repository, desc ocispec.Descriptor, leaf *x509.Certificate, mediaType string) (bool, error) {
	found := false
	errDone := errors.New("done")
	err := repo.ListSignatures(ctx, desc, func(manifests []ocispec.Descriptor) error {
		for _, m := range manifests {
			blob, bdesc, err := repo.FetchSignatureBlob(ctx, m)
			if err != nil {
				return err
			}
			if bdesc.MediaType != mediaType {
				continue
			}
			env, err := signature.ParseEnvelope(bdesc.MediaType, blob)
			if err != nil {
				continue
			}
			content, err := env.Verify()
			if err != nil || len(content.SignerInfo.CertificateChain) == 0 || !content.SignerInfo.CertificateChain[0].Equal(leaf) {
				continue
			}
			var p struct {
				TargetArtifact ocispec.Descriptor `json:"targetArtifact"`
			}
			if json.Unmarshal(content.Payload.Content, &p) != nil || p.TargetArtifact.Digest != desc.Digest {
				continue
			}
			found = true
			return errDone
		}
		return nil
	})
	if errors.Is(err, errDone) {
		return true, nil
	}
	if err != nil && !isNotFoundErr(err) {
		return false, err
	}
	return found, nil
}

func isNotFoundErr(err error) bool {
	return result.ClassOf(reg.Classify(err, "")) == result.ClassInput
}

// VerifyNotation checks target's notation signatures against a verifier (trust policy + trust store).
// No signature or no valid one is ClassTamper; a policy that does not cover the image is ClassPolicy.
func VerifyNotation(ctx context.Context, rc *reg.Client, target reg.Target, v notation.Verifier) error {
	repo, err := notationRepo(rc, target)
	if err != nil {
		return err
	}
	return rc.Retry(ctx, "verifying notation signature of "+target.Digest.String(), func() error {
		_, outcomes, err := notation.Verify(ctx, v, repo, notation.VerifyOptions{ArtifactReference: target.Digest.String(), MaxSignatureAttempts: 50})
		if err == nil {
			return nil
		}
		var noPolicy notation.ErrorNoApplicableTrustPolicy
		var retrieval notation.ErrorSignatureRetrievalFailed
		var failed notation.ErrorVerificationFailed
		var inconclusive notation.ErrorVerificationInconclusive
		switch {
		case errors.As(err, &noPolicy):
			return errf(result.ClassPolicy, "notation: no trust policy covers %s: %v", target.Digest, oneLine(err))
		case errors.As(err, &retrieval):
			if strings.Contains(retrieval.Msg, "no signature is associated") {
				return errf(result.ClassTamper, "notation: no signature found for %s", target.Digest)
			}
			if c := reg.Classify(errors.New(retrieval.Msg), ""); result.ClassOf(c) != result.ClassInternal {
				return c
			}
			return errf(result.ClassTamper, "notation: retrieving signatures of %s: %v", target.Digest, oneLine(err))
		case errors.As(err, &failed), errors.As(err, &inconclusive):
			return errf(result.ClassTamper, "notation: no signature of %s verifies: %v", target.Digest, oneLine(outcomeErr(err, outcomes)))
		}
		if isRegistryErr(err) {
			return err
		}
		return errf(result.ClassTamper, "notation: verifying %s: %v", target.Digest, oneLine(err))
	})
}

func outcomeErr(err error, outcomes []*notation.VerificationOutcome) error {
	for _, o := range outcomes {
		if o != nil && o.Error != nil {
			return o.Error
		}
	}
	return err
}

// verifierFor trusts exactly the root of chain for every registry scope; used to check a signature right after signing.
func verifierFor(chain []*x509.Certificate) (notation.Verifier, error) {
	doc := &trustpolicy.Document{Version: "1.0", TrustPolicies: []trustpolicy.TrustPolicy{{
		Name:                  "just-signed",
		RegistryScopes:        []string{"*"},
		SignatureVerification: trustpolicy.SignatureVerification{VerificationLevel: trustpolicy.LevelStrict.Name, Override: map[trustpolicy.ValidationType]trustpolicy.ValidationAction{trustpolicy.TypeRevocation: trustpolicy.ActionSkip}},
		TrustStores:           []string{"ca:signer"},
		TrustedIdentities:     []string{"*"},
	}}}
	return newVerifier(doc, memStore{chain[len(chain)-1]})
}

func newVerifier(doc *trustpolicy.Document, store truststore.X509TrustStore) (notation.Verifier, error) {
	v, err := verifier.NewWithOptions(doc, store, nil, verifier.VerifierOptions{})
	if err != nil {
		return nil, errf(result.ClassInput, "trust policy: %v", oneLine(err))
	}
	return v, nil
}

type memStore struct{ root *x509.Certificate }

func (m memStore) GetCertificates(context.Context, truststore.Type, string) ([]*x509.Certificate, error) {
	return []*x509.Certificate{m.root}, nil
}

// LoadVerifier builds a notation verifier from a trust policy JSON file (version 1.0, as notation uses) and a trust
// store directory laid out like notation's: x509/ca/<name>/*.pem (a notation config dir holding truststore/ works too).
func LoadVerifier(policyPath, storeDir string) (notation.Verifier, error) {
	if policyPath == "" || storeDir == "" {
		return nil, errf(result.ClassInput, "notation verification needs --trust-policy trustpolicy.json and --trust-store DIR")
	}
	b, err := os.ReadFile(policyPath)
	if err != nil {
		return nil, errf(result.ClassInput, "reading trust policy: %v", unwrapPath(err))
	}
	var doc trustpolicy.Document
	if err := json.Unmarshal(b, &doc); err != nil { // as lenient as notation itself
		return nil, errf(result.ClassInput, "trust policy %s is not valid JSON: %v", policyPath, err)
	}
	st, err := os.Stat(storeDir)
	if err != nil || !st.IsDir() {
		return nil, errf(result.ClassInput, "trust store %s is not a directory: lay it out as x509/ca/<name>/*.pem", storeDir)
	}
	_, err = os.Stat(filepath.Join(storeDir, dir.TrustStoreDir))
	flat := err != nil // x509/... directly under storeDir rather than a notation config dir
	return newVerifier(&doc, truststore.NewX509TrustStore(storeFS{FS: os.DirFS(storeDir), root: storeDir, flat: flat}))
}

// storeFS maps notation's truststore/x509/... paths onto the given directory.
type storeFS struct {
	fs.FS
	root string
	flat bool
}

func (s storeFS) SysPath(items ...string) (string, error) {
	p := filepath.Join(items...)
	if s.flat {
		p = strings.TrimPrefix(p, dir.TrustStoreDir+string(filepath.Separator))
	}
	return filepath.Join(s.root, p), nil
}

func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return fmt.Errorf("%s: %v", pe.Path, pe.Err)
	}
	return err
}
