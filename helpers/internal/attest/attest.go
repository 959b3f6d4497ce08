package attest

import (
	"context"
	"io"
	"log"
	"path/filepath"
	"strings"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/atomicfile"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/ledger"
	"github.com/release-gates/release-gates/helpers/internal/provenance"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Target is one artifact to attest: an image resolved to its digest, or a blob.
type Target struct {
	Name    string
	Subject provenance.Subject
	Image   *registry.Target
	Blob    string
}

// Targets resolves every image once (a tag to its digest) and hashes every blob.
func Targets(ctx context.Context, rc *registry.Client, images, blobs []string) ([]Target, error) {
	if len(images) == 0 && len(blobs) == 0 {
		return nil, result.Errorf(result.ClassInput, "nothing to attest: give an image or a blob")
	}
	var out []Target
	for _, s := range images {
		ref, err := rc.Parse(s)
		if err != nil {
			return nil, err
		}
		t, err := rc.Resolve(ctx, ref, ref.Digest)
		if err != nil {
			return nil, err
		}
		subj, err := provenance.SubjectOf(t.Digest.Context().Name(), t.Digest.DigestStr())
		if err != nil {
			return nil, err
		}
		out = append(out, Target{Name: t.Digest.String(), Subject: subj, Image: &t})
	}
	for _, p := range blobs {
		subj, err := provenance.BlobSubject(p)
		if err != nil {
			return nil, err
		}
		out = append(out, Target{Name: p, Subject: subj, Blob: p})
	}
	return out, nil
}

// Options say what Attest signs and where it goes.
type Options struct {
	Kind          string // provenance or approval: the item kind and the blob envelope's name part
	PredicateType string
	ImagesOnly    bool                                  // attest images only (the ledger checkpoint: verify reads it from the image)
	Replace       bool                                  // replace an attached attestation of the same type (provenance) or add one (approval)
	Statement     func(provenance.Subject) (any, error) // the in-toto statement for one subject
	Data          map[string]any                        // what the attestation says (builder, approvers ...), copied into items and ledger records
	OutDir        string                                // where blob envelopes go: <OutDir>/<name>.<kind>.intoto.json
	ReleaseKey    *keys.Key                             // signs the envelopes
	Ledger        string                                // also record each attestation in this ledger, signed with AuditKey
	AuditKey      *keys.Key
	TraceID       string
	Log           *log.Logger
}

// Attest signs the statement of every target, attaches it to images (cosign .att) or writes it beside blobs, records
// one item per target in rec and, with a ledger, one attestation record per target.
func Attest(ctx context.Context, rec *result.Recorder, rc *registry.Client, ts []Target, o Options) error {
	lg := o.Log
	if lg == nil {
		lg = log.New(io.Discard, "", 0)
	}
	if o.Ledger != "" && o.AuditKey == nil {
		return result.Errorf(result.ClassInput, "a ledger needs the audit key to sign its records")
	}
	rk := o.ReleaseKey
	for _, t := range ts {
		if o.ImagesOnly && t.Image == nil {
			continue
		}
		start := time.Now()
		s, err := o.Statement(t.Subject)
		if err != nil {
			return err
		}
		env, err := provenance.Sign(s, rk.Signer)
		if err != nil {
			return err
		}
		loc := ""
		if t.Image != nil {
			if loc, err = provenance.Attach(ctx, rc, *t.Image, env, o.PredicateType, rk.Public(), o.Replace); err != nil {
				rec.Add(result.Item{Name: t.Name, Kind: o.Kind, FailureClass: result.ClassOf(err), Message: err.Error()})
				return err
			}
		} else {
			loc = filepath.Join(o.OutDir, filepath.Base(t.Blob)+"."+o.Kind+".intoto.json")
			if err := atomicfile.WriteFile(loc, env, 0o644); err != nil {
				return result.Errorf(result.ClassInput, "writing %s: %w", loc, err)
			}
		}
		digest := "sha256:" + t.Subject.Digest["sha256"]
		subject := t.Name
		if t.Blob != "" {
			subject = digest
		}
		details := map[string]any{"digest": digest, "key_id": rk.ID, "location": loc, "predicate_type": o.PredicateType, "trace_id": o.TraceID, "subject": subject}
		for k, v := range o.Data { // so `audit append --from-result` can chain what the attestation says
			details[k] = v
		}
		rec.Add(result.Item{Name: t.Name, Kind: o.Kind, Status: result.StatusPassed, DurationMS: time.Since(start).Milliseconds(), Details: details})
		lg.Printf("%s attestation for %s -> %s (key %s)", o.Kind, t.Name, loc, rk.ID)
		if o.AuditKey != nil && o.Ledger != "" {
			d := map[string]any{"predicate_type": o.PredicateType, "key_id": rk.ID, "location": loc}
			for k, v := range o.Data {
				d[k] = v
			}
			env, _ := o.Data["environment"].(string)
			es, err := ledger.Append(o.Ledger, o.AuditKey.Signer, ledger.Body{TraceID: o.TraceID, Kind: ledger.KindAttestation,
				Source: "release-evidence attest " + o.Kind, Status: result.StatusPassed, Environment: env, Subject: subject, Data: d})
			if err != nil {
				return err
			}
			rec.Set("ledger_head", es[0].Hash) // verify can check the ledger still ends here
		}
	}
	return nil
}

// Provenance returns the Options parts of a SLSA provenance attestation for b, refusing bad build facts before any key or registry is touched.
func Provenance(b provenance.Build) (Options, error) {
	if _, err := provenance.Provenance([]provenance.Subject{{Name: "check", Digest: map[string]string{"sha256": strings.Repeat("0", 64)}}}, b); err != nil {
		return Options{}, err
	}
	return Options{Kind: "provenance", PredicateType: provenance.SLSAPredicateType, Replace: true,
		Statement: func(s provenance.Subject) (any, error) { return provenance.Provenance([]provenance.Subject{s}, b) },
		Data:      map[string]any{"builder": b.BuilderID, "repository": b.Repository, "branch": b.Branch, "commit": b.Commit}}, nil
}

// Approval returns the Options parts of an approval attestation for a, refusing one with fewer distinct approvers than its rule needs.
func Approval(a provenance.Approval) (Options, error) {
	seen := map[string]bool{}
	users := make([]any, 0, len(a.Approvers))
	for _, ap := range a.Approvers {
		seen[ap.User] = true
		users = append(users, ap.User)
	}
	if len(seen) < a.Rule.MinApprovals {
		return Options{}, result.Errorf(result.ClassPolicy, "approval for %s has %d distinct approver(s); rule %q needs %d: not attesting",
			a.Environment, len(seen), a.Rule.Name, a.Rule.MinApprovals)
	}
	if _, err := provenance.ApprovalStatement([]provenance.Subject{{Name: "check", Digest: map[string]string{"sha256": strings.Repeat("0", 64)}}}, a); err != nil {
		return Options{}, err
	}
	return Options{Kind: "approval", PredicateType: provenance.ApprovalPredicateType,
		Statement: func(s provenance.Subject) (any, error) {
			return provenance.ApprovalStatement([]provenance.Subject{s}, a)
		},
		Data: map[string]any{"environment": a.Environment, "approvers": users, "rule": a.Rule.Name}}, nil
}

// Checkpoint returns the Options parts of a ledger checkpoint attestation: where the release's ledger stood after
// this release was recorded (see ledger.Checkpoint); a re-run's checkpoint is the same claim and adds nothing.
func Checkpoint(c ledger.Checkpoint) Options {
	return Options{Kind: "checkpoint", PredicateType: ledger.CheckpointPredicateType, ImagesOnly: true,
		Statement: func(s provenance.Subject) (any, error) {
			return provenance.Statement[ledger.Checkpoint]{Type: provenance.StatementType, Subject: []provenance.Subject{s},
				PredicateType: ledger.CheckpointPredicateType, Predicate: c}, nil
		},
		Data: map[string]any{"ledger_records": c.Records, "ledger_head": c.Head, "environment": c.Environment}}
}
