package bundle

import (
	"context"
	"crypto"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"

	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Annotations and types of cosign's bundle referrers (cosign pkg/oci/remote WriteAttestationNewBundleFormat).
const (
	predicateTypeAnnotation = "dev.sigstore.bundle.predicateType"
	emptyConfigType         = "application/vnd.oci.empty.v1+json"
)

// maxBundleSize caps how much of one bundle layer is read.
const maxBundleSize = 4 << 20

// Attached is one sigstore bundle stored as an OCI 1.1 referrer of an image (found through the referrers API or,
// on registries without it, the sha256-<hex> fallback tag index).
type Attached struct {
	Manifest      string // digest of the referrer manifest
	PredicateType string // the referrer's dev.sigstore.bundle.predicateType annotation, as cosign writes it
	Raw           []byte // the bundle JSON
}

func ociOptions(ctx context.Context, reg *registry.Client) []ociremote.Option {
	return []ociremote.Option{ociremote.WithRemoteOptions(reg.RemoteOptions(ctx)...), ociremote.WithNameOptions(reg.NameOptions()...)}
}

// Fetch lists target's referrers and reads every sigstore bundle among them, through reg.Retry (a registry failure
// keeps its class). Referrers that are not bundles (cosign's legacy referrers, notation signatures) are skipped.
func Fetch(ctx context.Context, reg *registry.Client, target registry.Target) ([]Attached, error) {
	var out []Attached
	err := reg.Retry(ctx, "listing sigstore bundles of "+target.Digest.String(), func() error {
		out = nil
		idx, err := ociremote.Referrers(target.Digest, "", ociOptions(ctx, reg)...)
		if err != nil {
			if notFound(err) { // no referrers API and no fallback tag yet: nothing attached
				return nil
			}
			return err
		}
		for _, m := range idx.Manifests {
			// cosign v3 marks bundles by artifact type; in-process registries report the config media type instead
			if at := m.ArtifactType; at != "" && at != emptyConfigType && !strings.HasPrefix(at, mediaTypePrefix) {
				continue
			}
			raw, ok, err := readBundle(ctx, reg, target, m.Digest.String())
			if err != nil {
				return err
			}
			if ok {
				out = append(out, Attached{Manifest: m.Digest.String(), PredicateType: m.Annotations[predicateTypeAnnotation], Raw: raw})
			}
		}
		return nil
	})
	return out, err
}

// readBundle reads the one bundle layer of a referrer; a referrer that is not an image of one bundle layer is not
// a bundle (ok false), but a registry failure is an error.
func readBundle(ctx context.Context, reg *registry.Client, target registry.Target, digest string) ([]byte, bool, error) {
	img, err := remote.Image(target.Digest.Repository.Digest(digest), reg.RemoteOptions(ctx)...)
	if err != nil {
		if isRegistryErr(err) {
			return nil, false, err
		}
		return nil, false, nil
	}
	layers, err := img.Layers()
	if err != nil {
		return nil, false, err
	}
	if len(layers) != 1 {
		return nil, false, nil
	}
	mt, err := layers[0].MediaType()
	if err != nil || !strings.HasPrefix(string(mt), mediaTypePrefix) {
		return nil, false, nil
	}
	rc, err := layers[0].Uncompressed()
	if err != nil {
		return nil, false, err
	}
	defer rc.Close()
	raw, err := io.ReadAll(io.LimitReader(rc, maxBundleSize))
	if err != nil {
		return nil, false, err
	}
	return raw, true, nil
}

func isRegistryErr(err error) bool {
	var te *transport.Error
	var ne net.Error
	return errors.As(err, &te) || errors.As(err, &ne) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded)
}

func notFound(err error) bool {
	var te *transport.Error
	return errors.As(err, &te) && te.StatusCode == http.StatusNotFound
}

func subjectDigest(target registry.Target) ([]byte, error) {
	d, err := hex.DecodeString(target.Descriptor.Digest.Hex)
	if err != nil || target.Descriptor.Digest.Algorithm != "sha256" {
		return nil, result.Errorf(result.ClassInput, "image %s: only sha256 digests are supported", target.Digest)
	}
	return d, nil
}

// VerifyImageStatements returns every in-toto statement about target in its attached bundles that verifies with one
// of pubs. bad is the reason the last bundle that did not verify was refused; an unsupported bundle is an error
// (ClassInput), never a verdict.
func VerifyImageStatements(ctx context.Context, reg *registry.Client, target registry.Target, pubs []crypto.PublicKey) (ok []Statement, bad error, err error) {
	atts, err := Fetch(ctx, reg, target)
	if err != nil {
		return nil, nil, err
	}
	d, err := subjectDigest(target)
	if err != nil {
		return nil, nil, err
	}
	for _, a := range atts {
		s, err := VerifyStatement(a.Raw, d, pubs, "bundle "+a.Manifest+" of "+target.Digest.String())
		if err != nil {
			if result.ClassOf(err) != result.ClassTamper {
				return nil, nil, err
			}
			bad = err
			continue
		}
		ok = append(ok, s)
	}
	return ok, bad, nil
}

// VerifyImageSignature counts cosign v3 image signatures (bundles of a cosign/sign/v1 statement) of target valid
// under one of pubs, and returns the index of the first key that verified one.
func VerifyImageSignature(ctx context.Context, reg *registry.Client, target registry.Target, pubs []crypto.PublicKey) (n, keyIndex int, bad error, err error) {
	stmts, bad, err := VerifyImageStatements(ctx, reg, target, pubs)
	if err != nil {
		return 0, -1, nil, err
	}
	keyIndex = -1
	for _, s := range stmts {
		if s.PredicateType != CosignSignPredicateType {
			continue
		}
		n++
		if keyIndex < 0 || s.KeyIndex < keyIndex {
			keyIndex = s.KeyIndex
		}
	}
	return n, keyIndex, bad, nil
}

// Outcome says what SignImage or AttestImage did.
type Outcome struct {
	Referrer string // digest of the referrer manifest pushed; "" when reused
	Reused   bool   // an equivalent bundle by this key was already attached
}

// SignImage signs target as cosign v3 does by default (a DSSE bundle of a cosign/sign/v1 statement, stored as an
// OCI 1.1 referrer) unless a valid one by the same key is already attached.
func SignImage(ctx context.Context, reg *registry.Client, target registry.Target, s crypto.Signer) (Outcome, error) {
	stmt, err := CosignSignStatement(target.Descriptor.Digest.Hex)
	if err != nil {
		return Outcome{}, err
	}
	return attach(ctx, reg, target, s, stmt, CosignSignPredicateType, func(Statement) bool { return true })
}

// AttestImage attaches statement (an in-toto statement about target) as a cosign v3 attestation bundle, unless the
// same statement signed by the same key is already attached.
func AttestImage(ctx context.Context, reg *registry.Client, target registry.Target, s crypto.Signer, statement []byte) (Outcome, error) {
	var head struct {
		PredicateType string `json:"predicateType"`
	}
	if err := json.Unmarshal(statement, &head); err != nil || head.PredicateType == "" {
		return Outcome{}, result.Errorf(result.ClassInput, "attestation is not an in-toto statement with a predicateType")
	}
	want, err := canonical(statement)
	if err != nil {
		return Outcome{}, err
	}
	return attach(ctx, reg, target, s, statement, head.PredicateType, func(got Statement) bool {
		c, err := canonical(got.JSON)
		return err == nil && c == want
	})
}

// AttachEnvelope stores an already signed DSSE envelope (an in-toto statement about target, as cosign attest
// writes it) as a sigstore bundle v0.3 referrer too, with pub's key hint; no key is needed, since a DSSE bundle
// carries the same signature over the same pre-authentication encoding. The same statement by pub is never pushed twice.
func AttachEnvelope(ctx context.Context, reg *registry.Client, target registry.Target, pub crypto.PublicKey, envelope []byte) (Outcome, error) {
	raw, stmt, err := EnvelopeBundle(pub, envelope)
	if err != nil {
		return Outcome{}, err
	}
	var head struct {
		PredicateType string `json:"predicateType"`
	}
	if err := json.Unmarshal(stmt, &head); err != nil || head.PredicateType == "" {
		return Outcome{}, result.Errorf(result.ClassInput, "attestation is not an in-toto statement with a predicateType")
	}
	want, err := canonical(stmt)
	if err != nil {
		return Outcome{}, err
	}
	return push(ctx, reg, target, pub, raw, head.PredicateType, func(got Statement) bool {
		c, err := canonical(got.JSON)
		return err == nil && c == want
	})
}

func canonical(stmt []byte) (string, error) {
	var v any
	if err := json.Unmarshal(stmt, &v); err != nil {
		return "", result.Errorf(result.ClassInput, "statement is not JSON: %v", err)
	}
	b, _ := json.Marshal(v)
	return string(b), nil
}

func attach(ctx context.Context, reg *registry.Client, target registry.Target, s crypto.Signer, stmt []byte, predicateType string, same func(Statement) bool) (Outcome, error) {
	var raw []byte
	return pushSigned(ctx, reg, target, s.Public(), func() ([]byte, error) {
		var err error
		raw, err = SignStatement(s, stmt)
		return raw, err
	}, predicateType, same)
}

func push(ctx context.Context, reg *registry.Client, target registry.Target, pub crypto.PublicKey, raw []byte, predicateType string, same func(Statement) bool) (Outcome, error) {
	return pushSigned(ctx, reg, target, pub, func() ([]byte, error) { return raw, nil }, predicateType, same)
}

// pushSigned pushes the bundle sign makes unless an equivalent one by pub is attached, then re-lists and verifies it.
func pushSigned(ctx context.Context, reg *registry.Client, target registry.Target, key crypto.PublicKey, sign func() ([]byte, error), predicateType string, same func(Statement) bool) (Outcome, error) {
	pub := []crypto.PublicKey{key}
	existing, _, err := VerifyImageStatements(ctx, reg, target, pub)
	if err != nil {
		return Outcome{}, err
	}
	for _, e := range existing {
		if e.PredicateType == predicateType && same(e) {
			return Outcome{Reused: true}, nil
		}
	}
	raw, err := sign()
	if err != nil {
		return Outcome{}, err
	}
	err = reg.Retry(ctx, "pushing sigstore bundle for "+target.Digest.String(), func() error {
		return ociremote.WriteAttestationNewBundleFormat(target.Digest, raw, predicateType, ociOptions(ctx, reg)...)
	})
	if err != nil {
		return Outcome{}, err
	}
	// re-list and verify what the registry now holds
	after, _, err := VerifyImageStatements(ctx, reg, target, pub)
	if err != nil {
		return Outcome{}, err
	}
	for _, e := range after {
		if e.PredicateType == predicateType && same(e) {
			return Outcome{Referrer: "referrers"}, nil
		}
	}
	return Outcome{}, result.Errorf(result.ClassUnavailable, "the sigstore bundle pushed for %s is not listed among its referrers", target.Digest)
}
