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
	MediaType string   // application/jose+json or application/cose
	Reused    bool     // a fully verified signature by the same certificate was already there; nothing was pushed
	Verified  bool     // the signature left on the image was listed again and verified
	Removed   []string // manifest digests of corrupt or duplicate signatures by the same certificate, removed
	Warnings  []string // duplicates or corrupt signatures that could not be removed
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
// falling back to the referrers tag schema. An existing signature by the same leaf certificate is reused only after
// it fully verifies under the policy stock notation would apply (strict, the chain's root, the leaf's subject);
// one that does not is replaced. After pushing, the signatures are listed again and verified, and any second
// signature by the same certificate is removed: one image carries one signature per key and format.
func SignNotation(ctx context.Context, rc *reg.Client, target reg.Target, k Key, mediaType string) (NotationOutcome, error) {
	out := NotationOutcome{MediaType: mediaType}
	s, err := notationSigner(k)
	if err != nil {
		return out, err
	}
	orasRepo, err := rc.Repository(target.Digest.Repository)
	if err != nil {
		return out, err
	}
	repo := registry.NewRepository(orasRepo)
	v, err := verifierFor(k.CertChain)
	if err != nil {
		return out, err
	}
	desc := ocispec.Descriptor{MediaType: string(target.Descriptor.MediaType), Digest: toDigest(target), Size: target.Descriptor.Size}
	var pushed ocispec.Descriptor
	err = rc.Retry(ctx, "pushing notation signature for "+target.Digest.String(), func() error {
		own, err := ownNotation(ctx, repo, desc, target.Digest.String(), k.CertChain[0], mediaType, v)
		if err != nil {
			return err
		}
		if len(own.valid) > 0 {
			out.Reused = true
			return nil
		}
		rec := &pushRecorder{Repository: repo, target: desc}
		_, err = notation.Sign(ctx, s, rec, notation.SignOptions{
			SignerSignOptions: notation.SignerSignOptions{SignatureMediaType: mediaType, Timestamper: k.Timestamper, TSARootCAs: k.TSARootCAs},
			ArtifactReference: target.Digest.String(),
		})
		var pushErr notation.ErrorPushSignatureFailed
		if errors.As(err, &pushErr) {
			if rec.err != nil { // notation-go keeps only the text: use the registry's own error, with its status
				return rec.err
			}
			return reg.Classify(errors.New(pushErr.Msg), "")
		}
		if err != nil && result.ClassOf(err) == result.ClassInternal && !isRegistryErr(err) {
			return errf(result.ClassKey, "notation signing: %v", oneLine(err))
		}
		if err == nil {
			pushed = rec.manifest
		}
		return err
	})
	if err != nil {
		return out, err
	}
	var own ownSignatures
	err = rc.Retry(ctx, "listing notation signatures of "+target.Digest.String(), func() error {
		var err error
		own, err = ownNotation(ctx, repo, desc, target.Digest.String(), k.CertChain[0], mediaType, v)
		return err
	})
	if err != nil {
		return out, err
	}
	if len(own.valid) == 0 {
		return out, errf(result.ClassTamper, "notation: the signature just written for %s does not verify: %v", target.Digest, oneLine(own.why))
	}
	keep := own.valid[0]
	if len(own.valid) > 1 && keep.Digest == pushed.Digest {
		keep = own.valid[1] // another signer got there first: keep theirs, drop ours
	}
	for _, d := range append(own.valid, own.invalid...) {
		if d.Digest == keep.Digest {
			continue
		}
		if err := rc.Retry(ctx, "removing notation signature "+d.Digest.String(), func() error { return orasRepo.Delete(ctx, d) }); err != nil {
			out.Warnings = append(out.Warnings, fmt.Sprintf("could not remove the extra notation signature %s of %s: %v", d.Digest, target.Digest, oneLine(err)))
			continue
		}
		out.Removed = append(out.Removed, d.Digest.String())
	}
	out.Verified = true
	return out, nil
}

// pushRecorder keeps the typed error of a signature push, which notation.Sign flattens into a message: the
// registry's HTTP status (429, 503) and Retry-After must reach the retry loop.
// It also answers notation's resolve of the digest with the descriptor already resolved: a digest never moves.
type pushRecorder struct {
	registry.Repository
	target   ocispec.Descriptor
	err      error
	manifest ocispec.Descriptor
}

func (r *pushRecorder) Resolve(ctx context.Context, reference string) (ocispec.Descriptor, error) {
	if reference == r.target.Digest.String() && r.target.MediaType != "" && r.target.Size > 0 {
		return r.target, nil
	}
	return r.Repository.Resolve(ctx, reference)
}

func (r *pushRecorder) PushSignature(ctx context.Context, mediaType string, blob []byte, subject ocispec.Descriptor, annotations map[string]string) (ocispec.Descriptor, ocispec.Descriptor, error) {
	b, m, err := r.Repository.PushSignature(ctx, mediaType, blob, subject, annotations)
	r.err, r.manifest = err, m
	return b, m, err
}

func isRegistryErr(err error) bool {
	return result.ClassOf(reg.Classify(err, "")) != result.ClassInternal
}

func toDigest(t reg.Target) digest.Digest { return digest.Digest(t.Descriptor.Digest.String()) }

// ownSignatures are the notation signatures of one media type made with one leaf certificate.
type ownSignatures struct {
	valid   []ocispec.Descriptor // manifests whose signature fully verifies
	invalid []ocispec.Descriptor // manifests that claim the certificate but do not verify: corrupt, to be replaced
	why     error                // why the last invalid one failed
}

// ownNotation lists desc's notation signatures of mediaType that carry leaf, and verifies each with v for ref.
func ownNotation(ctx context.Context, repo registry.Repository, desc ocispec.Descriptor, ref string, leaf *x509.Certificate, mediaType string, v notation.Verifier) (ownSignatures, error) {
	var own ownSignatures
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
				continue // unreadable: nothing ties it to this key
			}
			content, err := env.Content()
			if err != nil || len(content.SignerInfo.CertificateChain) == 0 || !content.SignerInfo.CertificateChain[0].Equal(leaf) {
				continue
			}
			if _, err := v.Verify(ctx, desc, blob, notation.VerifierVerifyOptions{ArtifactReference: ref, SignatureMediaType: mediaType}); err != nil {
				own.invalid, own.why = append(own.invalid, m), err
				continue
			}
			own.valid = append(own.valid, m)
		}
		return nil
	})
	if err != nil && !isNotFoundErr(err) {
		return own, err
	}
	return own, nil
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
			var d *distrustedError
			if errors.As(err, &d) {
				return errf(result.ClassPolicy, "notation: no signature of %s counts: %v", target.Digest, d)
			}
			return errf(result.ClassTamper, "notation: no signature of %s verifies: %v", target.Digest, oneLine(outcomeErr(err, outcomes)))
		}
		if isRegistryErr(err) {
			return err
		}
		return errf(result.ClassTamper, "notation: verifying %s: %v", target.Digest, oneLine(err))
	})
}

// distrustFilter fails the signatures whose leaf certificate why distrusts, after the inner verifier passed them,
// so that notation goes on to the next signature.
type distrustFilter struct {
	notation.Verifier
	why func(*x509.Certificate) string
}

func (d distrustFilter) Verify(ctx context.Context, desc ocispec.Descriptor, sig []byte, opts notation.VerifierVerifyOptions) (*notation.VerificationOutcome, error) {
	o, err := d.Verifier.Verify(ctx, desc, sig, opts)
	if err != nil || o == nil || o.EnvelopeContent == nil || len(o.EnvelopeContent.SignerInfo.CertificateChain) == 0 {
		return o, err
	}
	leaf := o.EnvelopeContent.SignerInfo.CertificateChain[0]
	if why := d.why(leaf); why != "" {
		o.Error = &distrustedError{subject: leaf.Subject.String(), why: why}
		return o, o.Error
	}
	return o, nil
}

// distrustedError is a valid signature whose certificate no longer counts.
type distrustedError struct{ subject, why string }

func (e *distrustedError) Error() string {
	return fmt.Sprintf("the signature by certificate %q verifies but %s: it no longer counts", e.subject, e.why)
}

func outcomeErr(err error, outcomes []*notation.VerificationOutcome) error {
	for _, o := range outcomes {
		if o != nil && o.Error != nil {
			return o.Error
		}
	}
	return err
}

// verifierFor is the policy stock notation applies to a signature of chain under a trust bundle of its own: strict,
// the chain's root as the only anchor, the leaf's subject pinned (notation can pin only a subject with C, ST and O).
func verifierFor(chain []*x509.Certificate) (notation.Verifier, error) {
	identity := "*"
	if subj := chain[0].Subject; len(subj.Country) > 0 && len(subj.Province) > 0 && len(subj.Organization) > 0 {
		identity = "x509.subject: " + subj.String()
	}
	doc := &trustpolicy.Document{Version: "1.0", TrustPolicies: []trustpolicy.TrustPolicy{{
		Name:                  "just-signed",
		RegistryScopes:        []string{"*"},
		SignatureVerification: trustpolicy.SignatureVerification{VerificationLevel: trustpolicy.LevelStrict.Name, Override: map[trustpolicy.ValidationType]trustpolicy.ValidationAction{trustpolicy.TypeRevocation: trustpolicy.ActionSkip}},
		TrustStores:           []string{"ca:signer"},
		TrustedIdentities:     []string{identity},
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
