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
	"github.com/release-gates/release-gates/helpers/internal/sigtag"
)

func ociOptions(ctx context.Context, reg *registry.Client) []ociremote.Option {
	return []ociremote.Option{ociremote.WithRemoteOptions(reg.RemoteOptions(ctx)...), ociremote.WithNameOptions(reg.NameOptions()...)}
}

// Attach stores a signed envelope as a cosign attestation of target (a layer of the sha256-<hex>.att image) and,
// when target already carries sigstore bundles (signed with bundleFormat v0.3 or by cosign v3), as a bundle too.
// With replace, earlier attestations of the same predicate type are replaced (one provenance per image).
// The same claim signed by the same key is never attached twice, whatever its (randomised) signature bytes and clock
// readings (see canonical): a re-run of one build's attestation adds nothing.
func Attach(ctx context.Context, reg *registry.Client, target registry.Target, envelope []byte, predicateType string, pub crypto.PublicKey, replace bool) (string, error) {
	v, err := ledger.Verifier(pub)
	if err != nil {
		return "", err
	}
	stmt, pt, err := Open(envelope, []crypto.PublicKey{pub})
	if err != nil {
		return "", result.Errorf(result.ClassKey, "the attestation to attach does not verify with its own key: %v", err)
	}
	if pt != predicateType {
		return "", result.Errorf(result.ClassInternal, "the attestation to attach has predicateType %q, not %q", pt, predicateType)
	}
	want, err := canonical(stmt)
	if err != nil {
		return "", err
	}
	opts := ociOptions(ctx, reg)
	t, err := ociremote.AttestationTag(target.Digest, opts...)
	if err != nil {
		return "", err
	}
	tag := t.String()
	unlock, err := sigtag.Lock(ctx, "attest "+target.Digest.String()) // not the signing key: one process may hold both
	if err != nil {
		return tag, err
	}
	defer unlock()
	att, err := static.NewAttestation(envelope, static.WithLayerMediaType(types.DssePayloadType),
		static.WithAnnotations(map[string]string{"predicateType": predicateType}))
	if err != nil {
		return tag, err
	}
	write := func() error {
		return reg.Retry(ctx, "pushing attestation for "+target.Digest.String(), func() error {
			se := ociremote.SignedUnknown(target.Digest, opts...)
			if dup, err := hasStatement(se, pub, predicateType, want); err != nil || dup {
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
	}
	present := func() (ok bool, err error) {
		err = reg.Retry(ctx, "fetching attestations of "+target.Digest.String(), func() error {
			ok, err = hasStatement(ociremote.SignedUnknown(target.Digest, opts...), pub, predicateType, want)
			return err
		})
		return ok, err
	}
	if err := sigtag.Converge(ctx, "attestation tag "+tag, write, present); err != nil {
		return tag, err
	}
	// Stock cosign v2.6.5 and v3 read only sigstore bundles once an image has any: follow the image's layout.
	existing, err := bundle.Fetch(ctx, reg, target)
	if err != nil || len(existing) == 0 {
		return tag, err
	}
	stmts, _, err := bundle.VerifyImageStatements(ctx, reg, target, []crypto.PublicKey{pub})
	if err != nil {
		return tag, err
	}
	for _, st := range stmts {
		if c, err := canonical(st.JSON); err == nil && st.PredicateType == predicateType && c == want {
			return tag, nil // this claim is there as a bundle already (a re-run: only its clock readings differ)
		}
	}
	if _, err := bundle.AttachEnvelope(ctx, reg, target, pub, envelope); err != nil {
		return tag, fmt.Errorf("attaching the attestation as a sigstore bundle: %w", err)
	}
	return tag, nil
}

// hasStatement reports whether se carries an attestation of predicateType whose signature verifies with pub and
// whose statement makes the claim canon (see canonical).
func hasStatement(se oci.SignedEntity, pub crypto.PublicKey, predicateType, canon string) (bool, error) {
	atts, err := se.Attestations()
	if err != nil {
		return false, err
	}
	list, err := atts.Get()
	if err != nil {
		return false, err
	}
	for _, a := range list {
		p, err := a.Payload()
		if err != nil {
			return false, err
		}
		stmt, pt, err := Open(p, []crypto.PublicKey{pub})
		if err != nil || pt != predicateType { // another key's, or not a statement: not ours
			continue
		}
		if c, err := canonical(stmt); err == nil && c == canon {
			return true, nil
		}
	}
	return false, nil
}

// canonical returns the claim a statement makes, as canonical JSON, for telling a re-run from a new claim: the
// clock readings the helper takes while attesting (an approver's "at" when no time was given, provenance's
// finishedOn, a checkpoint's position in the ledger) are left out, so re-attesting one build's approval, provenance or
// ledger checkpoint (same trace id, same facts) is the same claim; any other field, the trace id included, makes it a new one.
func canonical(stmt []byte) (string, error) {
	var v map[string]any
	if err := json.Unmarshal(stmt, &v); err != nil {
		return "", result.Errorf(result.ClassInput, "statement is not JSON: %v", err)
	}
	pred, _ := v["predicate"].(map[string]any)
	switch v["predicateType"] {
	case ApprovalPredicateType:
		if aps, ok := pred["approvers"].([]any); ok {
			for _, a := range aps {
				if m, ok := a.(map[string]any); ok {
					delete(m, "at")
				}
			}
		}
	case SLSAPredicateType:
		if rd, ok := pred["runDetails"].(map[string]any); ok {
			if md, ok := rd["metadata"].(map[string]any); ok {
				delete(md, "finishedOn")
			}
		}
	case ledger.CheckpointPredicateType: // a re-run appends to the same ledger: its first checkpoint stays, a prefix of the longer chain
		for _, k := range []string{"records", "head", "release"} {
			delete(pred, k)
		}
	}
	b, err := json.Marshal(v)
	return string(b), err
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
