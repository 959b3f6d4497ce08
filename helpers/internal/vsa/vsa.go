package vsa

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"sort"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"

	"github.com/release-gates/release-gates/helpers/internal/bundle"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/provenance"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/release"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// SLSA VSA v1 constants (https://slsa.dev/spec/v1.0/verification_summary).
const (
	PredicateType     = "https://slsa.dev/verification_summary/v1"
	Passed            = "PASSED"
	Failed            = "FAILED"
	DefaultVerifierID = "https://release-gates.dev/release-evidence"
	// PolicyURI names the release policy verifyRelease applies; the policy digest pins its parameters.
	PolicyURI = "https://release-gates.dev/policy/release/v1"
	// DefaultLevel is what a passed verifyRelease shows: provenance signed by the build platform's key (SLSA Build L2).
	DefaultLevel = "SLSA_BUILD_LEVEL_2"
)

// Descriptor is an in-toto ResourceDescriptor.
type Descriptor struct {
	Name        string            `json:"name,omitempty"`
	URI         string            `json:"uri,omitempty"`
	Digest      map[string]string `json:"digest,omitempty"`
	Annotations map[string]any    `json:"annotations,omitempty"`
}

// Verifier identifies who verified.
type Verifier struct {
	ID      string            `json:"id"`
	Version map[string]string `json:"version,omitempty"`
}

// Predicate is the verification_summary/v1 predicate (field names as in the spec).
type Predicate struct {
	Verifier           Verifier       `json:"verifier"`
	TimeVerified       string         `json:"timeVerified"`
	ResourceURI        string         `json:"resourceUri"`
	Policy             Descriptor     `json:"policy"`
	InputAttestations  []Descriptor   `json:"inputAttestations"`
	VerificationResult string         `json:"verificationResult"`
	VerifiedLevels     []string       `json:"verifiedLevels"`
	DependencyLevels   map[string]int `json:"dependencyLevels,omitempty"`
	SlsaVersion        string         `json:"slsaVersion"`
}

// Input is what a VSA summarises.
type Input struct {
	Image           string // repo@sha256:..., the verified digest
	VerifierID      string // default DefaultVerifierID
	VerifierVersion string // the release-gates version
	Policy          any    // the policy parameters; their canonical JSON's sha256 is the policy digest
	Evidence        []Descriptor
	Levels          []string // default [DefaultLevel]
	Time            time.Time
}

// Statement builds the in-toto statement of a PASSED VSA for in.Image.
func Statement(in Input) (provenance.Statement[Predicate], error) {
	at := strings.LastIndex(in.Image, "@")
	if at < 0 || !strings.HasPrefix(in.Image[at+1:], "sha256:") || len(in.Image[at+1:]) != 71 {
		return provenance.Statement[Predicate]{}, result.Errorf(result.ClassInput, "a VSA is issued for a digest: %q is not repo@sha256:<64 hex>", in.Image)
	}
	hexd := in.Image[at+8:]
	if in.VerifierID == "" {
		in.VerifierID = DefaultVerifierID
	}
	if len(in.Levels) == 0 {
		in.Levels = []string{DefaultLevel}
	}
	if in.Time.IsZero() {
		in.Time = time.Now()
	}
	pd, err := PolicyDigest(in.Policy)
	if err != nil {
		return provenance.Statement[Predicate]{}, err
	}
	v := Verifier{ID: in.VerifierID}
	if in.VerifierVersion != "" {
		v.Version = map[string]string{"release-gates": in.VerifierVersion}
	}
	return provenance.Statement[Predicate]{
		Type:          provenance.StatementType,
		Subject:       []provenance.Subject{{Name: in.Image[:at], Digest: map[string]string{"sha256": hexd}}},
		PredicateType: PredicateType,
		Predicate: Predicate{
			Verifier:           v,
			TimeVerified:       in.Time.UTC().Format(time.RFC3339),
			ResourceURI:        in.Image,
			Policy:             Descriptor{URI: PolicyURI, Digest: map[string]string{"sha256": pd}},
			InputAttestations:  in.Evidence,
			VerificationResult: Passed,
			VerifiedLevels:     in.Levels,
			SlsaVersion:        "1.0",
		},
	}, nil
}

// PolicyDigest is the sha256 hex of the policy parameters' JSON.
func PolicyDigest(policy any) (string, error) {
	b, err := json.Marshal(policy)
	if err != nil {
		return "", result.Errorf(result.ClassInput, "encoding the VSA policy: %v", err)
	}
	sum := sha256.Sum256(b)
	return hex.EncodeToString(sum[:]), nil
}

// Policy is the part of verifyRelease's configuration a VSA pins: what was expected and which keys were trusted.
type Policy struct {
	Expect      release.Expect `json:"expect"`
	CosignKeys  []string       `json:"cosignKeyIds"`
	ReleaseKeys []string       `json:"releaseKeyIds"`
	Notation    bool           `json:"notation"`
	Blobs       int            `json:"blobs"`
}

// PolicyOf derives the pinned policy from verifyRelease's options.
func PolicyOf(o release.Options) (Policy, error) {
	p := Policy{Expect: o.Expect, Notation: o.Notation != nil, Blobs: len(o.Blobs)}
	var err error
	if p.CosignKeys, err = keyIDs(o.CosignKeys); err != nil {
		return p, err
	}
	if p.ReleaseKeys, err = keyIDs(o.ReleaseKeys); err != nil {
		return p, err
	}
	return p, nil
}

func keyIDs(pubs []crypto.PublicKey) ([]string, error) {
	ids := make([]string, 0, len(pubs))
	for _, k := range pubs {
		id, err := keys.KeyID(k)
		if err != nil {
			return nil, err
		}
		ids = append(ids, id)
	}
	sort.Strings(ids)
	return ids, nil
}

// Evidence lists what a passed release.Verify checked, as VSA inputAttestations: both image signatures, the
// provenance and approval statements (by the sha256 of their JSON), the blobs and the ledger head.
func Evidence(out release.Outcome, o release.Options, ledgerName, ledgerHead string) ([]Descriptor, error) {
	at := strings.LastIndex(out.Digest, "@")
	if at < 0 {
		return nil, result.Errorf(result.ClassInput, "outcome digest %q is not repo@sha256:...", out.Digest)
	}
	img := map[string]string{"sha256": strings.TrimPrefix(out.Digest[at+1:], "sha256:")}
	cos, err := keyIDs(o.CosignKeys)
	if err != nil {
		return nil, err
	}
	ev := []Descriptor{
		{Name: "cosign-signature", URI: "oci://" + out.Digest, Digest: img, Annotations: map[string]any{"keyIds": cos}},
		{Name: "notation-signature", URI: "oci://" + out.Digest, Digest: img},
	}
	if out.Provenance != nil {
		d, err := jsonDigest(out.Provenance)
		if err != nil {
			return nil, err
		}
		ev = append(ev, Descriptor{Name: "provenance", URI: "oci://" + out.Digest + "#" + provenance.SLSAPredicateType, Digest: d})
	}
	if out.Approval != nil {
		d, err := jsonDigest(out.Approval)
		if err != nil {
			return nil, err
		}
		ev = append(ev, Descriptor{Name: "approval", URI: "oci://" + out.Digest + "#" + provenance.ApprovalPredicateType, Digest: d,
			Annotations: map[string]any{"environment": out.Approval.Predicate.Environment}})
	}
	for _, c := range out.Checks {
		if c.Name == "blob signatures" {
			if bl, ok := c.Details["blobs"].([]string); ok && len(bl) > 0 {
				ev = append(ev, Descriptor{Name: "blob-signatures", Annotations: map[string]any{"blobs": bl}})
			}
		}
	}
	if ledgerHead != "" {
		ev = append(ev, Descriptor{Name: "ledger-head", URI: ledgerName, Digest: map[string]string{"sha256": ledgerHead}})
	}
	return ev, nil
}

func jsonDigest(v any) (map[string]string, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, result.Errorf(result.ClassInternal, "encoding evidence: %v", err)
	}
	sum := sha256.Sum256(b)
	return map[string]string{"sha256": hex.EncodeToString(sum[:])}, nil
}

// Issued says where a VSA went.
type Issued struct {
	Tag    string          // the sha256-<hex>.att tag (cosign v2's layout)
	Bundle *bundle.Outcome // the bundle v0.3 referrer, when one was attached
}

// Issue signs stmt with the verifier key and attaches it to target as a cosign attestation (replacing an earlier
// VSA) and, when bundleFormat is "v0.3" or target already carries sigstore bundles, also as a bundle v0.3 referrer.
// Stock cosign v2.6.5 and v3 look only at bundles once an image has any, so the VSA follows the image's format and
// both verify-attestation versions find it. An identical VSA is never pushed twice.
func Issue(ctx context.Context, reg *registry.Client, target registry.Target, s crypto.Signer, stmt provenance.Statement[Predicate], bundleFormat string) (Issued, error) {
	if d := stmt.Subject[0].Digest["sha256"]; d != target.Descriptor.Digest.Hex {
		return Issued{}, result.Errorf(result.ClassInput, "VSA subject sha256:%s is not the image %s", d, target.Digest)
	}
	env, err := provenance.Sign(stmt, s)
	if err != nil {
		return Issued{}, err
	}
	tag, err := provenance.Attach(ctx, reg, target, env, PredicateType, s.Public(), true) // follows the image's layout
	if err != nil {
		return Issued{}, fmt.Errorf("attaching the VSA: %w", err)
	}
	out := Issued{Tag: tag}
	existing, err := bundle.Fetch(ctx, reg, target)
	if err != nil {
		return out, err
	}
	if len(existing) == 0 && bundleFormat != bundle.FormatV03 {
		return out, nil
	}
	b, err := bundle.AttachEnvelope(ctx, reg, target, s.Public(), env)
	if err != nil {
		return out, fmt.Errorf("attaching the VSA bundle: %w", err)
	}
	out.Bundle = &b
	return out, nil
}

// Expect is what a VSA must show to admit an image.
type Expect struct {
	VerifierID   string   // default DefaultVerifierID
	Levels       []string // every one must be among verifiedLevels; default [DefaultLevel]
	PolicyDigest string   // when set, the policy digest must match
	MaxAge       time.Duration
	Now          time.Time
}

// Verified is an accepted VSA.
type Verified struct {
	Digest    string // repo@sha256:...
	Predicate Predicate
}

// Verify checks only the VSA of image: signed by one of pubs (the trusted verifier keys), about this digest
// (subject and resourceUri), PASSED, by the expected verifier, with the required levels. Anything else is
// ClassTamper or ClassPolicy (exit 1).
func Verify(ctx context.Context, reg *registry.Client, image string, pubs []crypto.PublicKey, e Expect) (Verified, error) {
	if len(pubs) == 0 {
		return Verified{}, result.Errorf(result.ClassInput, "verifying a VSA needs the verifier's public key: --vsa-pub verifier.pub")
	}
	if e.VerifierID == "" {
		e.VerifierID = DefaultVerifierID
	}
	if len(e.Levels) == 0 {
		e.Levels = []string{DefaultLevel}
	}
	if e.Now.IsZero() {
		e.Now = time.Now()
	}
	ref, err := reg.Parse(image)
	if err != nil {
		return Verified{}, err
	}
	target, err := reg.Resolve(ctx, ref, ref.Digest)
	if err != nil {
		return Verified{}, err
	}
	stmts, err := fetch(ctx, reg, target, pubs)
	if err != nil {
		return Verified{}, err
	}
	var why []string
	seen := 0
	for _, raw := range stmts {
		seen++
		s, err := provenance.Decode[Predicate](raw)
		if err != nil {
			return Verified{}, err
		}
		if err := check(s, target, e); err != nil {
			why = append(why, err.Error())
			continue
		}
		return Verified{Digest: target.Digest.String(), Predicate: s.Predicate}, nil
	}
	if seen == 0 {
		return Verified{}, result.Errorf(result.ClassTamper, "no VSA (%s) of %s is signed by the trusted verifier key(s)", PredicateType, target.Digest)
	}
	return Verified{}, result.Errorf(result.ClassPolicy, "the VSA of %s does not admit it: %s", target.Digest, strings.Join(why, "; "))
}

// maxEnvelope caps how much of one attestation layer is read.
const maxEnvelope = 4 << 20

// fetch returns the VSA statements of target signed by one of pubs: from the cosign attestation image, reading
// only the layers annotated as VSAs (three registry requests in all, the fast path), else from sigstore bundles.
func fetch(ctx context.Context, reg *registry.Client, target registry.Target, pubs []crypto.PublicKey) ([][]byte, error) {
	tag, err := ociremote.AttestationTag(target.Digest, ociremote.WithNameOptions(reg.NameOptions()...))
	if err != nil {
		return nil, result.Errorf(result.ClassInternal, "attestation tag of %s: %v", target.Digest, err)
	}
	var envs [][]byte
	err = reg.Retry(ctx, "fetching the VSA of "+target.Digest.String(), func() error {
		envs = nil
		img, err := remote.Image(tag, reg.RemoteOptions(ctx)...)
		var te *transport.Error
		if errors.As(err, &te) && te.StatusCode == http.StatusNotFound {
			return nil
		} else if err != nil {
			return err
		}
		m, err := img.Manifest()
		if err != nil {
			return err
		}
		for _, l := range m.Layers {
			if l.Annotations["predicateType"] != PredicateType {
				continue
			}
			layer, err := img.LayerByDigest(l.Digest)
			if err != nil {
				return err
			}
			rc, err := layer.Compressed()
			if err != nil {
				return err
			}
			b, err := io.ReadAll(io.LimitReader(rc, maxEnvelope))
			rc.Close()
			if err != nil {
				return err
			}
			envs = append(envs, b)
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	var out [][]byte
	for _, env := range envs {
		stmt, pt, err := provenance.Open(env, pubs)
		if err == nil && pt == PredicateType {
			out = append(out, stmt)
		}
	}
	if len(out) > 0 {
		return out, nil
	}
	bs, _, err := bundle.VerifyImageStatements(ctx, reg, target, pubs)
	if err != nil {
		return nil, err
	}
	for _, b := range bs {
		if b.PredicateType == PredicateType {
			out = append(out, b.JSON)
		}
	}
	return out, nil
}

func check(s provenance.Statement[Predicate], target registry.Target, e Expect) error {
	p := s.Predicate
	want := target.Descriptor.Digest.String()
	subjectOK := false
	for _, sub := range s.Subject {
		if "sha256:"+sub.Digest["sha256"] == want {
			subjectOK = true
		}
	}
	switch {
	case !subjectOK:
		return fmt.Errorf("its subject is not %s", want)
	case !strings.HasSuffix(p.ResourceURI, "@"+want):
		return fmt.Errorf("it is for %q, not %s", p.ResourceURI, want)
	case p.VerificationResult != Passed:
		return fmt.Errorf("verificationResult is %q", p.VerificationResult)
	case p.Verifier.ID != e.VerifierID:
		return fmt.Errorf("verifier is %q, want %q", p.Verifier.ID, e.VerifierID)
	case e.PolicyDigest != "" && p.Policy.Digest["sha256"] != e.PolicyDigest:
		return fmt.Errorf("policy digest is %q, want %q", p.Policy.Digest["sha256"], e.PolicyDigest)
	}
	for _, l := range e.Levels {
		if !contains(p.VerifiedLevels, l) {
			return fmt.Errorf("verifiedLevels %v lack %s", p.VerifiedLevels, l)
		}
	}
	t, err := time.Parse(time.RFC3339, p.TimeVerified)
	if err != nil {
		return fmt.Errorf("timeVerified %q is not RFC 3339", p.TimeVerified)
	}
	if t.After(e.Now.Add(5 * time.Minute)) {
		return fmt.Errorf("timeVerified %s is in the future", p.TimeVerified)
	}
	if e.MaxAge > 0 && e.Now.Sub(t) > e.MaxAge {
		return fmt.Errorf("it was verified at %s, more than %s ago", p.TimeVerified, e.MaxAge)
	}
	return nil
}

func contains(l []string, s string) bool {
	for _, x := range l {
		if x == s {
			return true
		}
	}
	return false
}
