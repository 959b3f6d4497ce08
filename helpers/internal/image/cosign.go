package image

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ed25519"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/static"
	"github.com/google/go-containerregistry/pkg/v1/types"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"
	"github.com/sigstore/cosign/v2/pkg/cosign"
	cremote "github.com/sigstore/cosign/v2/pkg/cosign/remote"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/empty"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	cstatic "github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/sigstore/pkg/signature"
	sigpayload "github.com/sigstore/sigstore/pkg/signature/payload"

	"github.com/release-gates/release-gates/helpers/internal/bundle"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/sigtag"
)

// CosignOutcome describes a cosign signature written for one image.
type CosignOutcome struct {
	Location   string // the sha256-<hex>.sig tag, or "referrers"
	Signatures int    // signatures now attached (tag mode)
	Reused     bool   // an identical signature by this key was already there; nothing was pushed
	Verified   bool
	Bundle     *bundle.Outcome // the sigstore bundle v0.3 signature, when one was asked for
}

// cosignVerifier returns the verifier cosign uses for a public key: SHA-256 for ECDSA and RSA (PKCS#1 v1.5), pure Ed25519.
func cosignVerifier(pub crypto.PublicKey) (signature.Verifier, error) {
	v, err := signature.LoadVerifier(pub, crypto.SHA256)
	if err != nil {
		return nil, errf(result.ClassKey, "unsupported public key for cosign: %v", err)
	}
	return v, nil
}

// signCosignPayload signs the simple-signing payload as cosign does: a DER/PKCS#1 signature over SHA-256(payload).
func signCosignPayload(s crypto.Signer, payload []byte) ([]byte, error) {
	if _, ok := s.Public().(ed25519.PublicKey); ok {
		return s.Sign(rand.Reader, payload, crypto.Hash(0))
	}
	sum := sha256.Sum256(payload)
	return s.Sign(rand.Reader, sum[:], crypto.SHA256)
}

func ociOptions(ctx context.Context, reg *registry.Client) []ociremote.Option {
	return []ociremote.Option{ociremote.WithRemoteOptions(reg.RemoteOptions(ctx)...), ociremote.WithNameOptions(reg.NameOptions()...)}
}

// SignCosign signs target with key and stores the signature as cosign does: a layer of the sha256-<hex>.sig image
// (or, with referrers, an OCI 1.1 referrer). Re-signing with the same key adds no duplicate.
func SignCosign(ctx context.Context, reg *registry.Client, target registry.Target, s crypto.Signer, referrers bool) (CosignOutcome, error) {
	verifier, err := cosignVerifier(s.Public())
	if err != nil {
		return CosignOutcome{}, err
	}
	payload, err := (&sigpayload.Cosign{Image: target.Digest}).MarshalJSON()
	if err != nil {
		return CosignOutcome{}, errf(result.ClassInternal, "cosign payload: %v", err)
	}
	if referrers {
		return signCosignReferrer(ctx, reg, target, s, verifier, payload)
	}
	h, err := v1.NewHash(target.Digest.DigestStr())
	if err != nil {
		return CosignOutcome{}, errf(result.ClassInput, "image digest %s: %v", target.Digest, err)
	}
	opts := ociOptions(ctx, reg)
	tag, err := ociremote.SignatureTag(target.Digest, opts...)
	if err != nil {
		return CosignOutcome{}, err
	}
	out := CosignOutcome{Location: tag.String()}
	var sig oci.Signature // signed once: a re-merge pushes the same signature again
	wrote := false
	write := func() error {
		return reg.Retry(ctx, "pushing cosign signature for "+target.Digest.String(), func() error {
			if sig == nil {
				raw, err := signCosignPayload(s, payload)
				if err != nil {
					return errf(result.ClassKey, "cosign signing with the key: %v", err)
				}
				if sig, err = cstatic.NewSignature(payload, base64.StdEncoding.EncodeToString(raw)); err != nil {
					return err
				}
				// A signature that does not verify would never be found again and would be pushed every round.
				if _, err := cosign.VerifyImageSignature(ctx, sig, h, checkOpts(ctx, reg, verifier)); err != nil {
					return errf(result.ClassKey, "the key made a cosign signature that does not verify with its own public key: %v", oneLine(err))
				}
			}
			// One GET of the .sig image serves the duplicate check, the count and the write: the target was
			// resolved already, so its manifest is not fetched again.
			base, err := ociremote.Signatures(tag, opts...)
			if err != nil {
				return err
			}
			before, err := base.Get()
			if err != nil {
				return err
			}
			out.Signatures = len(before)
			dupe, err := cremote.NewDupeDetector(verifier).Find(base, sig)
			if err != nil {
				return err
			}
			if dupe != nil { // a valid signature by this key is there already
				return nil
			}
			sigs, err := mutate.AppendSignatures(base, false, sig)
			if err != nil {
				return err
			}
			out.Signatures++
			wrote = true
			return writeSigImage(ctx, reg, tag, sigs, len(before))
		})
	}
	// The check that ours survived is also the verification of what the registry now holds.
	present := func() (bool, error) {
		sigs, _, err := fetchCosignSignatures(ctx, reg, tag, "fetching cosign signatures of "+target.Digest.String())
		if err != nil {
			return false, err
		}
		n, _ := countValid(ctx, sigs, h, checkOpts(ctx, reg, verifier))
		out.Signatures = len(sigs)
		return n > 0, nil
	}
	if err := sigtag.Converge(ctx, "cosign signature tag "+tag.String(), write, present); err != nil {
		return out, err
	}
	out.Reused, out.Verified = !wrote, true
	return out, nil
}

// signCosignReferrer stores a cosign signature as an OCI 1.1 referrer unless one by this key verifies already;
// referrer manifests are content-addressed and listed, never overwritten, so no other signer can drop ours.
func signCosignReferrer(ctx context.Context, reg *registry.Client, target registry.Target, s crypto.Signer, verifier signature.Verifier, payload []byte) (CosignOutcome, error) {
	out := CosignOutcome{Location: "referrers"}
	err := reg.Retry(ctx, "pushing cosign signature for "+target.Digest.String(), func() error {
		out.Reused, out.Signatures = false, 0
		n, err := verifyCosignReferrers(ctx, reg, target, verifier)
		if err != nil {
			return err
		}
		if n > 0 {
			out.Reused = true
			return nil
		}
		raw, err := signCosignPayload(s, payload)
		if err != nil {
			return errf(result.ClassKey, "cosign signing with the key: %v", err)
		}
		sig, err := cstatic.NewSignature(payload, base64.StdEncoding.EncodeToString(raw))
		if err != nil {
			return err
		}
		out.Signatures = 1
		return writeCosignReferrer(ctx, reg, target, sig)
	})
	if err != nil {
		return out, err
	}
	if _, _, err := verifyCosign(ctx, reg, target, []signature.Verifier{verifier}, true); err != nil {
		return out, fmt.Errorf("verifying the cosign signature just written: %w", err)
	}
	out.Verified = true
	return out, nil
}

// writeSigImage publishes the cosign signature image sigs at tag, laid out exactly as cosign's WriteSignatures
// lays it out, in fewer requests: each new blob goes up in one POST + PUT (no HEAD, no chunked PATCH) and the
// manifest in one PUT. The first `existing` layers are the signatures already there: they are not sent again.
func writeSigImage(ctx context.Context, reg *registry.Client, tag name.Tag, sigs oci.Signatures, existing int) error {
	repo, err := reg.Repository(tag.Repository)
	if err != nil {
		return err
	}
	layers, err := sigs.Layers()
	if err != nil {
		return err
	}
	push := func(mt types.MediaType, raw []byte) error {
		d := sha256.Sum256(raw)
		return repo.Blobs().Push(ctx, ocispec.Descriptor{MediaType: string(mt), Digest: digest.NewDigestFromBytes(digest.SHA256, d[:]), Size: int64(len(raw))}, bytes.NewReader(raw))
	}
	for _, l := range layers[min(existing, len(layers)):] {
		mt, err := l.MediaType()
		if err != nil {
			return err
		}
		rc, err := l.Compressed()
		if err != nil {
			return err
		}
		raw, err := io.ReadAll(rc)
		rc.Close()
		if err != nil {
			return err
		}
		if err := push(mt, raw); err != nil {
			return err
		}
	}
	cfg, err := sigs.RawConfigFile()
	if err != nil {
		return err
	}
	m, err := sigs.Manifest()
	if err != nil {
		return err
	}
	if err := push(m.Config.MediaType, cfg); err != nil {
		return err
	}
	raw, err := sigs.RawManifest()
	if err != nil {
		return err
	}
	mt, err := sigs.MediaType()
	if err != nil {
		return err
	}
	d := sha256.Sum256(raw)
	desc := ocispec.Descriptor{MediaType: string(mt), Digest: digest.NewDigestFromBytes(digest.SHA256, d[:]), Size: int64(len(raw))}
	return repo.PushReference(ctx, desc, bytes.NewReader(raw), tag.TagStr())
}

// CosignResult says which key verified how many cosign signatures.
type CosignResult struct {
	Signatures int // valid signatures found
	KeyIndex   int // index of the first public key that verified
}

// VerifyCosign checks that target carries a cosign signature valid under one of pubs (offline: no tlog, no SCT).
// A missing or invalid signature is ClassTamper.
func VerifyCosign(ctx context.Context, reg *registry.Client, target registry.Target, pubs []crypto.PublicKey, referrers bool) (CosignResult, error) {
	if len(pubs) == 0 {
		return CosignResult{}, errf(result.ClassInput, "cosign verification needs a public key: pass --key pub.pem")
	}
	vs := make([]signature.Verifier, 0, len(pubs))
	for _, p := range pubs {
		v, err := cosignVerifier(p)
		if err != nil {
			return CosignResult{}, err
		}
		vs = append(vs, v)
	}
	n, idx, err := verifyCosign(ctx, reg, target, vs, referrers)
	return CosignResult{Signatures: n, KeyIndex: idx}, err
}

func verifyCosign(ctx context.Context, reg *registry.Client, target registry.Target, vs []signature.Verifier, referrers bool) (int, int, error) {
	h, err := v1.NewHash(target.Digest.DigestStr())
	if err != nil {
		return 0, -1, errf(result.ClassInput, "image digest %s: %v", target.Digest, err)
	}
	tag, err := ociremote.SignatureTag(target.Digest, ociOptions(ctx, reg)...)
	if err != nil {
		return 0, -1, errf(result.ClassInternal, "cosign signature tag of %s: %v", target.Digest, err)
	}
	var sigs []oci.Signature
	fetched := false
	var lastErr error
	for i, v := range vs {
		if referrers {
			n, err := verifyCosignReferrers(ctx, reg, target, v)
			if err != nil {
				return 0, -1, err
			}
			if n > 0 {
				return n, i, nil
			}
		}
		if !fetched { // one fetch serves every key; a failure here is the registry's, never a verdict
			var bad error
			sigs, bad, err = fetchCosignSignatures(ctx, reg, tag, "fetching cosign signatures of "+target.Digest.String())
			if err != nil {
				return 0, -1, err
			}
			fetched, lastErr = true, bad
		}
		n, verr := countValid(ctx, sigs, h, checkOpts(ctx, reg, v))
		if n > 0 {
			return n, i, nil
		}
		if verr != nil {
			lastErr = verr
		}
	}
	// cosign v3's default: sigstore bundles stored as OCI 1.1 referrers
	n, idx, bad, err := verifyBundles(ctx, reg, target, vs)
	if err != nil || n > 0 {
		return n, idx, err
	}
	if bad != nil {
		lastErr = bad
	}
	if len(sigs) == 0 && lastErr == nil {
		return 0, -1, errf(result.ClassTamper, "cosign: no signature found for %s", target.Digest)
	}
	return 0, -1, errf(result.ClassTamper, "cosign: no signature of %s verifies with the given key(s): %v", target.Digest, oneLine(lastErr))
}

// fetchCosignSignatures reads the cosign signature image at ref, every layer into memory, through reg.Retry, so
// that verification afterwards never touches the network and a registry failure keeps its class (unavailable, not
// tamper). A signature whose content cannot be read is left out and reported as bad: it is the registry's data, not
// its availability, that is wrong. A missing signature image gives no signatures.
func fetchCosignSignatures(ctx context.Context, reg *registry.Client, ref name.Reference, what string) (sigs []oci.Signature, bad, err error) {
	err = reg.Retry(ctx, what, func() error {
		sigs, bad = nil, nil
		img, err := ociremote.Signatures(ref, ociOptions(ctx, reg)...)
		if err != nil {
			return err
		}
		list, err := img.Get()
		if err != nil {
			if isRegistryErr(err) {
				return err
			}
			return errf(result.ClassTamper, "cosign signature image %s is malformed: %v", ref, oneLine(err))
		}
		for _, sig := range list {
			c, err := cstatic.Copy(sig)
			if err != nil {
				if isRegistryErr(err) {
					return err
				}
				bad = fmt.Errorf("unreadable signature layer: %w", err)
				continue
			}
			sigs = append(sigs, c)
		}
		return nil
	})
	return sigs, bad, err
}

// countValid verifies in-memory signatures of image digest h; it returns how many verify and, if none, the last reason.
func countValid(ctx context.Context, sigs []oci.Signature, h v1.Hash, co *cosign.CheckOpts) (int, error) {
	valid := 0
	var last error
	for _, sig := range sigs {
		if _, err := cosign.VerifyImageSignature(ctx, sig, h, co); err != nil {
			last = err
			continue
		}
		valid++
	}
	return valid, last
}

func checkOpts(ctx context.Context, reg *registry.Client, v signature.Verifier) *cosign.CheckOpts {
	return &cosign.CheckOpts{
		RegistryClientOpts: ociOptions(ctx, reg),
		SigVerifier:        v,
		ClaimVerifier:      cosign.SimpleClaimVerifier,
		IgnoreTlog:         true,
		IgnoreSCT:          true,
		Offline:            true,
	}
}

// verifyBundles counts cosign v3 image signatures (sigstore bundle v0.3 referrers) valid under one of vs.
func verifyBundles(ctx context.Context, reg *registry.Client, target registry.Target, vs []signature.Verifier) (int, int, error, error) {
	pubs := make([]crypto.PublicKey, 0, len(vs))
	for _, v := range vs {
		p, err := v.PublicKey()
		if err != nil {
			return 0, -1, nil, errf(result.ClassKey, "cosign verification key: %v", err)
		}
		pubs = append(pubs, p)
	}
	return bundle.VerifyImageSignature(ctx, reg, target, pubs)
}

// cosignSigArtifactType is the artifact type cosign gives signature referrers (OCI 1.1 mode).
const cosignSigArtifactType = "application/vnd.dev.cosign.artifact.sig.v1+json"

// verifyCosignReferrers counts valid signatures among all cosign signature referrers of target
// (cosign itself looks only at the last referrer, so a second key would hide the first).
func verifyCosignReferrers(ctx context.Context, reg *registry.Client, target registry.Target, v signature.Verifier) (int, error) {
	opts := ociOptions(ctx, reg)
	var idx *v1.IndexManifest
	err := reg.Retry(ctx, "listing referrers of "+target.Digest.String(), func() error {
		var err error
		idx, err = ociremote.Referrers(target.Digest, cosignSigArtifactType, opts...)
		return err
	})
	if err != nil {
		if result.ClassOf(err) == result.ClassInput { // no referrers and no fallback tag yet
			return 0, nil
		}
		return 0, err
	}
	co := checkOpts(ctx, reg, v)
	valid := 0
	for _, m := range idx.Manifests {
		sigs, _, err := fetchCosignSignatures(ctx, reg, target.Digest.Repository.Digest(m.Digest.String()), "fetching cosign referrer "+m.Digest.String())
		if err != nil {
			return 0, err
		}
		n, _ := countValid(ctx, sigs, target.Descriptor.Digest, co)
		valid += n
	}
	return valid, nil
}

// writeCosignReferrer stores sig as an OCI 1.1 referrer of target, laid out as cosign's
// --registry-referrers-mode=oci-1-1 does (config media type = artifact type); registries without the
// referrers API get the sha256-<hex> fallback index from go-containerregistry.
func writeCosignReferrer(ctx context.Context, reg *registry.Client, target registry.Target, sig oci.Signature) error {
	sigs, err := mutate.AppendSignatures(empty.Signatures(), false, sig)
	if err != nil {
		return err
	}
	ropts := reg.RemoteOptions(ctx)
	if err := remote.WriteLayer(target.Digest.Repository, sig, ropts...); err != nil {
		return err
	}
	cfg, err := sigs.RawConfigFile()
	if err != nil {
		return err
	}
	if err := remote.WriteLayer(target.Digest.Repository, static.NewLayer(cfg, types.OCIConfigJSON), ropts...); err != nil {
		return err
	}
	m, err := sigs.Manifest()
	if err != nil {
		return err
	}
	mc := *m
	mc.MediaType = types.OCIManifestSchema1
	mc.Config.MediaType = types.MediaType(cosignSigArtifactType)
	mc.Subject = &v1.Descriptor{MediaType: target.Descriptor.MediaType, Digest: target.Descriptor.Digest, Size: target.Descriptor.Size}
	raw, err := json.Marshal(referrerManifest{Manifest: mc, ArtifactType: cosignSigArtifactType})
	if err != nil {
		return err
	}
	d, _, err := v1.SHA256(bytes.NewReader(raw))
	if err != nil {
		return err
	}
	return remote.Put(target.Digest.Repository.Digest(d.String()), rawManifest{raw: raw, mt: types.OCIManifestSchema1}, ropts...)
}

type referrerManifest struct {
	v1.Manifest
	ArtifactType string `json:"artifactType,omitempty"`
}

type rawManifest struct {
	raw []byte
	mt  types.MediaType
}

func (r rawManifest) RawManifest() ([]byte, error)        { return r.raw, nil }
func (r rawManifest) MediaType() (types.MediaType, error) { return r.mt, nil }

func oneLine(err error) string {
	if err == nil {
		return ""
	}
	return string(bytes.Join(bytes.Fields([]byte(err.Error())), []byte(" ")))
}
