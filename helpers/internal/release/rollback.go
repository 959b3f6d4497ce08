package release

import (
	"context"
	"crypto"
	"fmt"
	"strings"

	"github.com/release-gates/release-gates/helpers/internal/ledger"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Record appends a verified release to the evidence index (a ledger of release records) for its environment; the
// index must verify with signer's public key (and, when given, earlier audit keys) first.
func Record(index string, signer crypto.Signer, traceID string, out Outcome, env string, indexKeys ...crypto.PublicKey) (ledger.Entry, error) {
	data := map[string]any{"image": out.Digest}
	if p := out.Provenance; p != nil {
		data["repository"] = p.Predicate.BuildDefinition.ExternalParameters.Repository
		data["branch"] = p.Predicate.BuildDefinition.ExternalParameters.Branch
		data["builder"] = p.Predicate.RunDetails.Builder.ID
	}
	es, err := ledger.AppendVerified(index, signer, ledger.VerifyOptions{Keys: indexKeys}, ledger.Body{TraceID: traceID, Kind: ledger.KindRelease, Source: "release-evidence verify",
		Status: "verified", Environment: env, Subject: out.Digest, Data: data})
	if err != nil {
		return ledger.Entry{}, err
	}
	return es[0], nil
}

// Candidate is one release considered for rollback.
type Candidate struct {
	Digest  string
	Seq     int // its record in the index
	TraceID string
	Err     error // why its evidence no longer verifies; nil for the chosen one
}

// RollbackOptions say where the releases are recorded and what the evidence must still show.
type RollbackOptions struct {
	Index     string             // the evidence index ledger
	IndexKeys []crypto.PublicKey // audit keys the index is signed with
	IndexHead string             // when set, the index's head must be this hash (verify's index_head)
	Current   string             // the digest being rolled back from; never chosen
	Verify    Options            // keys and expectations; Image is set per candidate
}

// FindRollback walks the index newest first for releases to opts.Verify.Expect.Environment and returns the first
// whose evidence still verifies, with every candidate tried. A tampered index or no candidate is a rejection.
func FindRollback(ctx context.Context, rc *registry.Client, opts RollbackOptions, each func(Candidate)) (Outcome, []Candidate, error) {
	if each == nil {
		each = func(Candidate) {}
	}
	env := opts.Verify.Expect.Environment
	if opts.Index == "" || env == "" {
		return Outcome{}, nil, result.Errorf(result.ClassInput, "rollback needs --index releases.jsonl and --environment")
	}
	if l := opts.Verify.Ledger; l != "" { // the ledger the choice is recorded in must hold before it is used
		keys := opts.Verify.LedgerKeys
		if len(keys) == 0 {
			keys = opts.IndexKeys
		}
		if _, err := VerifyLedger(l, keys, opts.Verify.ExpectedLedgerHead); err != nil {
			return Outcome{}, nil, err
		}
	} else if opts.Verify.ExpectedLedgerHead != "" {
		return Outcome{}, nil, result.Errorf(result.ClassInput, "an expected ledger head (--ledger-head) needs the ledger it is the head of (--ledger)")
	}
	rep, err := ledger.Verify(opts.Index, ledger.VerifyOptions{Keys: opts.IndexKeys, ExpectHead: opts.IndexHead})
	if err != nil {
		return Outcome{}, nil, fmt.Errorf("the evidence index does not verify: %w", err)
	}
	seen := map[string]bool{digestOf(opts.Current): opts.Current != ""}
	var tried []Candidate
	for i := len(rep.Entries) - 1; i >= 0; i-- {
		e := rep.Entries[i]
		if e.Kind != ledger.KindRelease || e.Environment != env || e.Subject == "" || seen[digestOf(e.Subject)] {
			continue
		}
		seen[digestOf(e.Subject)] = true
		o := opts.Verify
		o.Image, o.Ledger, o.ExpectedLedgerHead = e.Subject, "", "" // checked once above
		out, err := Verify(ctx, rc, o, nil)
		c := Candidate{Digest: e.Subject, Seq: e.Seq, TraceID: e.TraceID, Err: err}
		tried = append(tried, c)
		each(c)
		if err == nil {
			return out, tried, nil
		}
		if !isVerdict(err) {
			return Outcome{}, tried, err // cannot tell: never skip a candidate because the registry was down
		}
	}
	if len(tried) == 0 {
		return Outcome{}, tried, result.Errorf(result.ClassRejected, "no earlier release for environment %s in %s to roll back to", env, opts.Index)
	}
	return Outcome{}, tried, result.Errorf(result.ClassRejected, "no release for environment %s still verifies (%d tried; newest: %s: %v)",
		env, len(tried), tried[0].Digest, tried[0].Err)
}

// RecordRollback appends the chosen rollback target to a ledger (the index, or a release's own chain), which must
// verify with signer's public key or one of keys first.
func RecordRollback(path string, signer crypto.Signer, traceID, env, from string, out Outcome, tried []Candidate, keys ...crypto.PublicKey) error {
	skipped := make([]map[string]any, 0, len(tried))
	for _, c := range tried {
		if c.Err != nil {
			skipped = append(skipped, map[string]any{"digest": c.Digest, "reason": c.Err.Error()})
		}
	}
	_, err := ledger.AppendVerified(path, signer, ledger.VerifyOptions{Keys: keys}, ledger.Body{TraceID: traceID, Kind: ledger.KindRollback, Source: "release-evidence rollback",
		Status: "chosen", Environment: env, Subject: out.Digest, Data: map[string]any{"from": from, "skipped": skipped}})
	if err != nil {
		return fmt.Errorf("recording rollback: %w", err)
	}
	return nil
}

// digestOf keeps the sha256:<hex> part of a reference, so repo@d and d compare equal.
func digestOf(ref string) string {
	if i := strings.LastIndex(ref, "@"); i >= 0 {
		return ref[i+1:]
	}
	return ref
}
