package release

import (
	"bytes"
	"context"
	"crypto"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/notaryproject/notation-go"

	"github.com/release-gates/release-gates/helpers/internal/blob"
	"github.com/release-gates/release-gates/helpers/internal/bundle"
	"github.com/release-gates/release-gates/helpers/internal/decision"
	"github.com/release-gates/release-gates/helpers/internal/image"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/ledger"
	"github.com/release-gates/release-gates/helpers/internal/provenance"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Blob is a file and its cosign signature (base64, as cosign sign-blob --output-signature writes it).
type Blob struct {
	Path      string
	Signature string
}

// Expect is what the evidence must show.
type Expect struct {
	Repository    string             // provenance repository, exact
	Branch        string             // provenance branch, exact
	BuilderPrefix string             // the builder id (Jenkins build URL) must start with this, e.g. the job URL
	Commit        string             // optional: the provenance commit
	Environment   string             // the approval must be for this environment
	MinApprovals  int                // distinct approvers required at least; the recorded rule may ask for more
	RelayKeys     []crypto.PublicKey // when set, the approval must embed a decision record signed by one of them, and its approvers are the ones counted
}

// Options say what to verify and with which keys.
type Options struct {
	Image       string             // repo@sha256:... or repo:tag
	CosignKeys  []crypto.PublicKey // image cosign signature keys
	Notation    notation.Verifier  // image notation verifier (trust policy + store)
	ReleaseKeys []crypto.PublicKey // keys that sign provenance and approval attestations
	Blobs       []Blob
	BlobKeys    []crypto.PublicKey // default: CosignKeys
	RevokedIDs  []string           // key ids (keys.KeyID) no longer trusted
	RevokedKeys []RevokedKey       // keys keys.yaml marks archived or revoked (KeyringRevocations)
	Expect      Expect

	Ledger             string             // this release's audit ledger: its whole chain must verify before any verdict
	LedgerKeys         []crypto.PublicKey // audit keys that may have signed Ledger's records
	ExpectedLedgerHead string             // when set, Ledger's head must be this hash (attestRelease's ledger_head); else the release's ledger checkpoint is checked
}

// Check is the outcome of one evidence check.
type Check struct {
	Name     string
	Err      error
	Duration time.Duration
	Details  map[string]any
}

// Outcome is the verified evidence of one release.
type Outcome struct {
	Digest     string // repo@sha256:..., the verified digest
	Checks     []Check
	Provenance *provenance.Statement[provenance.SLSA]
	Approval   *provenance.Statement[provenance.Approval]
}

// Verify checks every piece of evidence for opts.Image and returns the digest when all hold. Each check is reported
// to each (may be nil) as it finishes; the error carries the most severe class of the failed checks.
func Verify(ctx context.Context, rc *registry.Client, opts Options, each func(Check)) (Outcome, error) {
	if each == nil {
		each = func(Check) {}
	}
	if err := opts.validate(); err != nil {
		return Outcome{}, err
	}
	ref, err := rc.Parse(opts.Image)
	if err != nil {
		return Outcome{}, err
	}
	target, err := rc.Resolve(ctx, ref, ref.Digest)
	if err != nil {
		return Outcome{}, err
	}
	out := Outcome{Digest: target.Digest.String()}
	var errs []error
	run := func(name string, f func(*Check) error) {
		c := Check{Name: name, Details: map[string]any{}}
		start := time.Now()
		c.Err = f(&c)
		c.Duration = time.Since(start)
		out.Checks = append(out.Checks, c)
		if c.Err != nil {
			errs = append(errs, c.Err)
		}
		each(c)
	}
	var chain ledger.Report
	if opts.Ledger != "" {
		run("ledger", func(c *Check) error {
			rep, err := VerifyLedger(opts.Ledger, opts.LedgerKeys, opts.ExpectedLedgerHead)
			c.Details["records"], c.Details["head"] = rep.Records, rep.Head
			chain = rep
			return err
		})
	}
	var listed []string // distrusted keys that were passed in as trusted
	run("revocation", func(c *Check) error {
		var err error
		opts, listed, err = opts.checkRevoked(c)
		return err
	})
	if len(errs) > 0 { // a key list left empty, or a bad ledger: the rest cannot change the verdict
		return out, notReleasable(out.Digest, errs)
	}
	run("image signatures", func(c *Check) error {
		c.Details["digest"] = out.Digest
		var failed error
		err := image.VerifyAll(ctx, rc, []string{out.Digest}, image.VerifyOptions{Formats: []image.Format{image.Cosign, image.Notation},
			CosignKeys: opts.CosignKeys, Notation: opts.Notation, Workers: 1, Distrusted: opts.distrustedCert}, func(o image.Outcome) {
			c.Details["checked"] = fmt.Sprint(o.Checked)
			failed = o.Err
		})
		if err == nil {
			err = failed
		}
		return err
	})
	run("blob signatures", func(c *Check) error { return verifyBlobs(opts, c) })
	var atts []provenance.Fetched
	attErr := error(nil)
	atts, attErr = provenance.Fetch(ctx, rc, target, opts.ReleaseKeys)
	if attErr != nil && !isVerdict(attErr) {
		return out, attErr // registry trouble: no verdict either way
	}
	run("provenance", func(c *Check) error {
		if attErr != nil {
			return result.Errorf(result.ClassTamper, "provenance: %v", attErr)
		}
		p, err := matchProvenance(atts, opts.Expect, c)
		out.Provenance = p
		return err
	})
	run("approval", func(c *Check) error {
		if attErr != nil {
			return result.Errorf(result.ClassTamper, "approval: %v", attErr)
		}
		a, err := matchApproval(atts, opts.Expect, c, out.Digest)
		out.Approval = a
		return err
	})
	if opts.Ledger != "" && opts.ExpectedLedgerHead == "" && attErr == nil { // the head the release itself vouches for
		run("ledger checkpoint", func(c *Check) error { return checkCheckpoint(atts, chain, opts, out.Provenance, c) })
	}
	if len(errs) == 0 && len(listed) > 0 {
		// The evidence holds without them: passing a distrusted key is the caller's configuration, not bad evidence.
		return out, result.Errorf(result.ClassConfig, "%s verifies, but distrusted keys were passed as trusted: %s; remove them from the verify "+
			"configuration (cosignKey, releaseKey, blobKey or the trust bundle in use)", out.Digest, strings.Join(listed, ", "))
	}
	if len(errs) > 0 {
		return out, notReleasable(out.Digest, errs)
	}
	return out, nil
}

func notReleasable(digest string, errs []error) error {
	msgs := make([]string, len(errs))
	for i, e := range errs {
		msgs[i] = e.Error()
	}
	return result.Errorf(worst(errs), "%s is not releasable: %s", digest, strings.Join(msgs, "; "))
}

// VerifyLedger checks the whole chain of the ledger at path with the audit keys and, when head is set, that its
// head is head. A tampered, cut or reordered ledger, or another head, is ClassTamper (exit 1).
func VerifyLedger(path string, auditKeys []crypto.PublicKey, head string) (ledger.Report, error) {
	if len(auditKeys) == 0 {
		return ledger.Report{}, result.Errorf(result.ClassInput, "checking ledger %s needs the audit public key (the key that signs it)", path)
	}
	if _, err := os.Stat(path); errors.Is(err, fs.ErrNotExist) {
		if head != "" { // a deleted ledger is the shortest cut of all
			return ledger.Report{}, result.Errorf(result.ClassTamper, "the release's ledger %s is missing, but the expected head is %s", path, head)
		}
		return ledger.Report{Head: ledger.Genesis}, nil // a new ledger: the outcome starts it
	}
	rep, err := ledger.Verify(path, ledger.VerifyOptions{Keys: auditKeys, ExpectHead: head})
	if err != nil {
		return rep, fmt.Errorf("the release's ledger does not verify: %w", err)
	}
	return rep, nil
}

// checkCheckpoint requires the verified chain to hold a ledger checkpoint attached to the release (signed with a
// release key) for opts' environment. A release without one passes with a warning, unless its provenance says
// attestRelease attached one: then it was removed (ClassTamper).
func checkCheckpoint(atts []provenance.Fetched, chain ledger.Report, opts Options, prov *provenance.Statement[provenance.SLSA], c *Check) error {
	var errs []string
	n := 0
	for _, a := range atts {
		if a.PredicateType != ledger.CheckpointPredicateType {
			continue
		}
		s, err := provenance.Decode[ledger.Checkpoint](a.Statement)
		if err != nil {
			return err
		}
		cp := s.Predicate
		if cp.Environment != "" && cp.Environment != opts.Expect.Environment {
			continue
		}
		n++
		if err := cp.Holds(chain, opts.Ledger); err != nil {
			errs = append(errs, err.Error())
			continue
		}
		c.Details["records"], c.Details["head"], c.Details["trace_id"] = cp.Records, cp.Head, cp.TraceID
		return nil
	}
	if n > 0 {
		return result.Errorf(result.ClassTamper, "%s", strings.Join(errs, "; "))
	}
	if prov != nil && prov.Predicate.BuildDefinition.InternalParameters.LedgerCheckpoint != "" {
		return result.Errorf(result.ClassTamper, "the provenance says attestRelease attached a ledger checkpoint, but none for %s verifies with the release key(s): it was removed",
			opts.Expect.Environment)
	}
	c.Details["warning"] = "the release carries no ledger checkpoint (attested before checkpoints): the ledger's chain verifies, but a cut-off tail " +
		"is caught only with ledgerHead (attestRelease's ledgerHead)"
	return nil
}

func (o Options) validate() error {
	switch {
	case strings.TrimSpace(o.Image) == "":
		return result.Errorf(result.ClassInput, "verify needs --image repo@sha256:<digest>")
	case len(o.CosignKeys) == 0:
		return result.Errorf(result.ClassInput, "verify needs the cosign public key: --cosign-key cosign.pub")
	case o.Notation == nil:
		return result.Errorf(result.ClassInput, "verify needs the notation trust policy and store: --trust-policy and --trust-store")
	case len(o.ReleaseKeys) == 0:
		return result.Errorf(result.ClassInput, "verify needs the release (attestation) public key: --release-key release.pub")
	case o.Expect.Repository == "" || o.Expect.Branch == "" || o.Expect.BuilderPrefix == "":
		return result.Errorf(result.ClassInput, "verify needs --expect-repo, --expect-branch and --expect-builder")
	case o.Expect.Environment == "":
		return result.Errorf(result.ClassInput, "verify needs --environment (the approval's target environment)")
	case o.ExpectedLedgerHead != "" && o.Ledger == "":
		return result.Errorf(result.ClassInput, "an expected ledger head (--ledger-head) needs the ledger it is the head of (--ledger)")
	}
	for _, b := range o.Blobs {
		if b.Path == "" || b.Signature == "" {
			return result.Errorf(result.ClassInput, "blob %q needs its signature: --blob path=path.sig", b.Path)
		}
	}
	return nil
}

// checkRevoked drops distrusted keys from the trusted key lists and returns the options left, the distrusted keys
// that were listed, and an error only when a list is left empty: then nothing signed for it can count (ClassPolicy).
func (o Options) checkRevoked(c *Check) (Options, []string, error) {
	why := o.distrust()
	var fromKeyring []string
	for _, k := range o.RevokedKeys {
		fromKeyring = append(fromKeyring, k.ID)
	}
	if len(fromKeyring) > 0 {
		c.Details["keyring_distrusted_key_ids"] = fromKeyring
	}
	groups := map[string]*[]crypto.PublicKey{"cosign": &o.CosignKeys, "release": &o.ReleaseKeys, "blob": &o.BlobKeys}
	var listed, emptied []string
	for _, g := range []string{"cosign", "release", "blob"} {
		given := *groups[g]
		ids := []string{}
		var kept []crypto.PublicKey
		var bad []string
		for _, k := range given {
			id, err := keys.KeyID(k)
			if err != nil {
				return o, nil, err
			}
			ids = append(ids, id)
			if w, ok := why[id]; ok {
				bad = append(bad, g+" key "+id+" is "+w)
				continue
			}
			kept = append(kept, k)
		}
		if len(ids) > 0 {
			c.Details[g+"_key_ids"] = ids
		}
		if len(bad) > 0 && len(kept) == 0 {
			emptied = append(emptied, bad...)
		}
		listed = append(listed, bad...)
		if g == "blob" && len(given) == 0 {
			continue // blob signatures default to the cosign keys
		}
		*groups[g] = kept
	}
	if len(emptied) > 0 {
		return o, listed, result.Errorf(result.ClassPolicy, "revoked: %s; evidence signed with it no longer counts", strings.Join(emptied, ", "))
	}
	return o, listed, nil
}

// distrust maps a key id to how it is distrusted: "revoked" for RevokedIDs, its keys.yaml state otherwise.
func (o Options) distrust() map[string]string {
	why := map[string]string{}
	for _, id := range o.RevokedIDs {
		why[strings.TrimSpace(id)] = "revoked"
	}
	for _, k := range o.RevokedKeys {
		s := k.State + " in keys.yaml as " + k.Name
		if k.Reason != "" {
			s += " (" + k.Reason + ")"
		}
		why[k.ID] = s
	}
	return why
}

// distrustedCert says why a notation signing certificate no longer counts: its fingerprint is recorded for a
// revoked or archived key, or its public key is one.
func (o Options) distrustedCert(leaf *x509.Certificate) string {
	sum := sha256.Sum256(leaf.Raw)
	fp := "sha256:" + hex.EncodeToString(sum[:])
	for _, k := range o.RevokedKeys {
		for _, f := range k.Fingerprints {
			if f == fp {
				return "it belongs to key " + k.Name + ", " + k.State + " in keys.yaml"
			}
		}
	}
	if id, err := keys.KeyID(leaf.PublicKey); err == nil {
		if w, ok := o.distrust()[id]; ok {
			return "its key " + id + " is " + w
		}
	}
	return ""
}

func verifyBlobs(o Options, c *Check) error {
	pubs := o.BlobKeys
	if len(pubs) == 0 {
		pubs = o.CosignKeys
	}
	var verified []string
	for _, b := range o.Blobs {
		sigB64, err := os.ReadFile(b.Signature)
		if err != nil {
			return result.Errorf(result.ClassTamper, "blob %s: signature file %s: %v", b.Path, b.Signature, err)
		}
		if bundle.Is(sigB64) { // cosign v3's default: a sigstore bundle
			digest, _, err := blob.HashFile(b.Path)
			if err != nil {
				return err
			}
			if _, err := bundle.VerifyDigest(sigB64, digest, pubs, "blob "+b.Path+": "+b.Signature); err != nil {
				return err
			}
			verified = append(verified, b.Path)
			continue
		}
		sig, err := base64.StdEncoding.DecodeString(strings.TrimSpace(string(sigB64)))
		if err != nil {
			return result.Errorf(result.ClassTamper, "blob %s: signature %s is not base64 (want cosign sign-blob output)", b.Path, b.Signature)
		}
		ok := false
		for _, pub := range pubs {
			v, err := ledger.Verifier(pub)
			if err != nil {
				return err
			}
			f, err := os.Open(b.Path)
			if err != nil {
				return result.Errorf(result.ClassInput, "blob %s: %v", b.Path, err)
			}
			verr := v.VerifySignature(bytes.NewReader(sig), f)
			f.Close()
			if verr == nil {
				ok = true
				break
			}
		}
		if !ok {
			return result.Errorf(result.ClassTamper, "blob %s: signature %s does not verify with the blob key(s)", b.Path, b.Signature)
		}
		verified = append(verified, b.Path)
	}
	c.Details["blobs"] = verified
	return nil
}

func matchProvenance(atts []provenance.Fetched, e Expect, c *Check) (*provenance.Statement[provenance.SLSA], error) {
	var why []string
	for _, a := range atts {
		if a.PredicateType != provenance.SLSAPredicateType {
			continue
		}
		s, err := provenance.Decode[provenance.SLSA](a.Statement)
		if err != nil {
			return nil, err
		}
		ext := s.Predicate.BuildDefinition.ExternalParameters
		builder := s.Predicate.RunDetails.Builder.ID
		commit := ""
		for _, d := range s.Predicate.BuildDefinition.ResolvedDependencies {
			if v := d.Digest["gitCommit"]; v != "" {
				commit = v
			}
		}
		switch {
		case ext.Repository != e.Repository:
			why = append(why, fmt.Sprintf("repository is %q, want %q", ext.Repository, e.Repository))
		case ext.Branch != e.Branch:
			why = append(why, fmt.Sprintf("branch is %q, want %q", ext.Branch, e.Branch))
		case !strings.HasPrefix(builder, e.BuilderPrefix):
			why = append(why, fmt.Sprintf("builder is %q, want one under %q", builder, e.BuilderPrefix))
		case e.Commit != "" && !strings.HasPrefix(commit, e.Commit):
			why = append(why, fmt.Sprintf("commit is %q, want %q", commit, e.Commit))
		default:
			c.Details["builder"] = builder
			c.Details["repository"] = ext.Repository
			c.Details["branch"] = ext.Branch
			c.Details["commit"] = commit
			c.Details["trace_id"] = s.Predicate.RunDetails.Metadata.InvocationID
			return &s, nil
		}
	}
	if len(why) == 0 {
		return nil, result.Errorf(result.ClassTamper, "provenance: no SLSA provenance attestation signed by the release key")
	}
	return nil, result.Errorf(result.ClassPolicy, "provenance does not match: %s", strings.Join(why, "; "))
}

func matchApproval(atts []provenance.Fetched, e Expect, c *Check, digest string) (*provenance.Statement[provenance.Approval], error) {
	var envs, why []string
	for _, a := range atts {
		if a.PredicateType != provenance.ApprovalPredicateType {
			continue
		}
		s, err := provenance.Decode[provenance.Approval](a.Statement)
		if err != nil {
			return nil, err
		}
		p := s.Predicate
		envs = append(envs, p.Environment)
		if p.Environment != e.Environment {
			continue
		}
		users := map[string]bool{}
		for _, ap := range p.Approvers {
			if ap.User != "" {
				users[ap.User] = true
			}
		}
		need := e.MinApprovals
		if p.Rule.MinApprovals > need {
			need = p.Rule.MinApprovals
		}
		if len(e.RelayKeys) > 0 {
			signed, err := signedApprovers(p, e, digest)
			if err != nil {
				why = append(why, err.Error())
				continue
			}
			users = signed.users
			need = max(need, signed.required)
			c.Details["decision_record"] = signed.requestID
		}
		if need < 1 {
			need = 1
		}
		switch {
		case p.Decision != "approved":
			why = append(why, fmt.Sprintf("decision is %q", p.Decision))
		case len(users) < need:
			why = append(why, fmt.Sprintf("%d distinct approver(s), rule %q needs %d", len(users), p.Rule.Name, need))
		default:
			list := make([]string, 0, len(users))
			for u := range users {
				list = append(list, u)
			}
			sort.Strings(list)
			c.Details["environment"] = p.Environment
			c.Details["approvers"] = list
			c.Details["rule"] = p.Rule.Name
			return &s, nil
		}
	}
	if len(why) > 0 {
		return nil, result.Errorf(result.ClassPolicy, "approval for %s does not meet its rule: %s", e.Environment, strings.Join(why, "; "))
	}
	if len(envs) > 0 {
		return nil, result.Errorf(result.ClassPolicy, "no approval for environment %s (approvals found for: %s)", e.Environment, strings.Join(envs, ", "))
	}
	return nil, result.Errorf(result.ClassPolicy, "no approval attestation for environment %s", e.Environment)
}

func isVerdict(err error) bool {
	switch result.ClassOf(err) {
	case result.ClassTamper, result.ClassPolicy, result.ClassRejected:
		return true
	}
	return false
}

// worst picks the class to report: infrastructure first (no verdict), then input, then tamper over policy.
func worst(errs []error) result.Class {
	rank := map[result.Class]int{result.ClassUnavailable: 9, result.ClassTransient: 8, result.ClassInput: 7, result.ClassConfig: 7,
		result.ClassAuth: 7, result.ClassKey: 7, result.ClassInternal: 6, result.ClassTamper: 5, result.ClassPolicy: 4, result.ClassRejected: 3}
	best := result.ClassRejected
	for _, e := range errs {
		if c := result.ClassOf(e); rank[c] > rank[best] {
			best = c
		}
	}
	return best
}

type signedApproval struct {
	users     map[string]bool
	required  int
	requestID string
}

// signedApprovers verifies the decision record embedded in p with e.RelayKeys and that it backs digest for
// e.Environment (and e.Commit); the approvers that count are the record's.
func signedApprovers(p provenance.Approval, e Expect, digest string) (signedApproval, error) {
	if len(p.DecisionRecord) == 0 {
		return signedApproval{}, errors.New("it embeds no relay-signed decision record (relayPublicKeys requires one: attestRelease with relayPublicKey)")
	}
	rec, err := decision.VerifyAny(p.DecisionRecord, e.RelayKeys)
	if err != nil {
		return signedApproval{}, fmt.Errorf("its decision record: %v (relayPublicKeys)", err)
	}
	_, hexd, _ := strings.Cut(digest, "@")
	if err := rec.Covers(e.Environment, e.Commit, []string{hexd}); err != nil {
		return signedApproval{}, err
	}
	users := map[string]bool{}
	for _, u := range rec.ApprovedBy() {
		users[u] = true
	}
	return signedApproval{users: users, required: rec.Rule.Required, requestID: rec.RequestID}, nil
}
