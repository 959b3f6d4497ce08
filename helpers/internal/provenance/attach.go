package provenance

import (
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"fmt"

	"github.com/sigstore/cosign/v2/pkg/cosign"
	cremote "github.com/sigstore/cosign/v2/pkg/cosign/remote"
	"github.com/sigstore/cosign/v2/pkg/oci"
	"github.com/sigstore/cosign/v2/pkg/oci/mutate"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"
	"github.com/sigstore/cosign/v2/pkg/oci/static"
	"github.com/sigstore/cosign/v2/pkg/types"

	"github.com/release-gates/release-gates/helpers/internal/bundle"
	"github.com/release-gates/release-gates/helpers/internal/ledger"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func ociOptions(ctx context.Context, reg *registry.Client) []ociremote.Option {
	return []ociremote.Option{ociremote.WithRemoteOptions(reg.RemoteOptions(ctx)...), ociremote.WithNameOptions(reg.NameOptions()...)}
}

// Attach stores a signed envelope as a cosign attestation of target (a layer of the sha256-<hex>.att image) and,
// when target already carries sigstore bundles (signed with bundleFormat v0.3 or by cosign v3), as a bundle too.
// With replace, earlier attestations of the same predicate type are replaced (one provenance per image);
// an identical attestation is never pushed twice.
func Attach(ctx context.Context, reg *registry.Client, target registry.Target, envelope []byte, predicateType string, pub crypto.PublicKey, replace bool) (string, error) {
	v, err := ledger.Verifier(pub)
	if err != nil {
		return "", err
	}
	var tag string
	err = reg.Retry(ctx, "pushing attestation for "+target.Digest.String(), func() error {
		opts := ociOptions(ctx, reg)
		att, err := static.NewAttestation(envelope, static.WithLayerMediaType(types.DssePayloadType),
			static.WithAnnotations(map[string]string{"predicateType": predicateType}))
		if err != nil {
			return err
		}
		t, err := ociremote.AttestationTag(target.Digest, opts...)
		if err != nil {
			return err
		}
		tag = t.String()
		se := ociremote.SignedUnknown(target.Digest, opts...)
		// cosign's dupe detector compares base64 signatures, which attestation layers lack, so compare layer digests.
		if dup, err := hasLayer(se, att); err != nil || dup {
			return err
		}
		so := []mutate.SignOption{mutate.WithDupeDetector(cremote.NewDupeDetector(v))}
		if replace {
			so = append(so, mutate.WithReplaceOp(cremote.NewReplaceOp(predicateType)))
		}
		newSE, err := mutate.AttachAttestationToEntity(se, att, so...)
		if err != nil {
			return err
		}
		return ociremote.WriteAttestations(target.Digest.Repository, newSE, opts...)
	})
	if err != nil {
		return tag, err
	}
	// Stock cosign v2.6.5 and v3 read only sigstore bundles once an image has any: follow the image's layout.
	existing, err := bundle.Fetch(ctx, reg, target)
	if err != nil || len(existing) == 0 {
		return tag, err
	}
	if _, err := bundle.AttachEnvelope(ctx, reg, target, pub, envelope); err != nil {
		return tag, fmt.Errorf("attaching the attestation as a sigstore bundle: %w", err)
	}
	return tag, nil
}

func hasLayer(se oci.SignedEntity, att oci.Signature) (bool, error) {
	want, err := att.Digest()
	if err != nil {
		return false, err
	}
	atts, err := se.Attestations()
	if err != nil {
		return false, err
	}
	list, err := atts.Get()
	if err != nil {
		return false, err
	}
	for _, a := range list {
		if d, err := a.Digest(); err == nil && d == want {
			return true, nil
		}
	}
	return false, nil
}

// Fetched is one verified attestation of an image.
type Fetched struct {
	PredicateType string
	Statement     []byte // the in-toto statement JSON
}

// Fetch returns target's attestations that verify with one of pubs, using cosign's own verification
// (payload type, DSSE signature, subject digest); none at all is ClassTamper.
func Fetch(ctx context.Context, reg *registry.Client, target registry.Target, pubs []crypto.PublicKey) ([]Fetched, error) {
	var out []Fetched
	var lastErr error
	for _, pub := range pubs {
		v, err := ledger.Verifier(pub)
		if err != nil {
			return nil, err
		}
		co := &cosign.CheckOpts{RegistryClientOpts: ociOptions(ctx, reg), SigVerifier: v, ClaimVerifier: cosign.IntotoSubjectClaimVerifier,
			IgnoreTlog: true, IgnoreSCT: true, Offline: true}
		err = reg.Retry(ctx, "fetching attestations of "+target.Digest.String(), func() error {
			atts, _, err := cosign.VerifyImageAttestations(ctx, target.Digest, co)
			if verdict(err) {
				lastErr = err
				return nil
			}
			if err != nil {
				return err
			}
			for _, a := range atts {
				p, err := a.Payload()
				if err != nil {
					return err
				}
				stmt, pt, err := Open(p, []crypto.PublicKey{pub})
				if err != nil {
					return err
				}
				out = append(out, Fetched{PredicateType: pt, Statement: stmt})
			}
			return nil
		})
		if err != nil {
			return nil, err
		}
		if len(out) > 0 {
			return out, nil
		}
	}
	// cosign v3's default: attestations as sigstore bundle v0.3 referrers
	stmts, bad, err := bundle.VerifyImageStatements(ctx, reg, target, pubs)
	if err != nil {
		return nil, err
	}
	for _, s := range stmts {
		if s.PredicateType != bundle.CosignSignPredicateType {
			out = append(out, Fetched{PredicateType: s.PredicateType, Statement: s.JSON})
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	if bad != nil {
		lastErr = bad
	}
	var none *cosign.ErrNoMatchingAttestations
	if errors.As(lastErr, &none) || lastErr == nil {
		return nil, result.Errorf(result.ClassTamper, "no attestation of %s verifies with the release key(s)", target.Digest)
	}
	return nil, result.Errorf(result.ClassTamper, "attestations of %s do not verify: %v", target.Digest, lastErr)
}

func verdict(err error) bool {
	var none *cosign.ErrNoMatchingAttestations
	var vf *cosign.VerificationFailure
	return err != nil && (errors.As(err, &none) || errors.As(err, &vf))
}

// Decode unmarshals a statement's JSON into s.
func Decode[P any](stmt []byte) (Statement[P], error) {
	var s Statement[P]
	if err := json.Unmarshal(stmt, &s); err != nil {
		return s, result.Errorf(result.ClassTamper, "attestation statement does not decode: %v", err)
	}
	return s, nil
}
