package attest

import (
	"context"
	"crypto"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"strings"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/decision"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/ledger"
	"github.com/release-gates/release-gates/helpers/internal/provenance"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// RunOptions carry what the params document adds to Params: key files and secret env names the runner bound,
// the registry login, the trace id and where the stage results go.
type RunOptions struct {
	ReleaseKeyFile   string           // path of the releaseKeyCredentialsId file, "" when none
	AuditKeyFile     string           // path of the auditKeyCredentialsId file, "" when none
	RelayKeyFile     string           // path of the relayPublicKeyCredentialsId file, "" when none
	ReleaseLoad      keys.LoadOptions // env names of the release key's password and PIN
	AuditLoad        keys.LoadOptions // env names of the audit key's password and PIN
	RegistryUsername string
	RegistryPassword string
	TraceID          string
	Helper, Version  string
	ResultFile       string // stage results go beside it as <base>-<stage>.json
	Now              func() time.Time
	Log              *log.Logger
}

var stageVerbs = map[string]string{"provenance": "attest provenance", "approval": "attest approval", "audit": "audit append", "checkpoint": "attest checkpoint"}

// Outcome is the attestRelease flow's result: the stages that ran, in order, and the map the step returns.
type Outcome struct {
	Stages    []string
	Results   map[string]result.Result
	Items     []result.Item
	Files     []string
	Notes     []string // console lines about skipped inputs
	Approvers []string
	Failed    string
	Err       error
	Combined  map[string]any
}

// approvalResult is what attestRelease reads of slackApproval's result file.
type approvalResult struct {
	Decision    string           `json:"decision"`
	Environment string           `json:"environment"`
	TraceID     string           `json:"traceId"`
	Service     string           `json:"service"`
	Required    int              `json:"required"`
	AuditFile   string           `json:"auditFile"`
	Approvers   []map[string]any `json:"approvers"`
	RecordFile  string           `json:"decisionRecord"`
	RelayKeyID  string           `json:"relayKeyId"`
}

// readApproval reads slackApproval's result and checks that it claims to back this build's release for p.Environment
// (the relay-signed record it names is checked by checkRecord).
func readApproval(p *Params, traceID string) (*approvalResult, error) {
	b, err := os.ReadFile(p.Approval)
	if err != nil {
		return nil, result.Errorf(result.ClassInput, "approval result %s not found: run slackApproval earlier in this build on this agent, "+
			"or pass approval: null to attest without an approval", p.Approval)
	}
	var a approvalResult
	if err := json.Unmarshal(b, &a); err != nil {
		return nil, result.Errorf(result.ClassInput, "approval %s is not a slackApproval result (not a JSON object): %v", p.Approval, err)
	}
	switch {
	case a.Decision != "approved":
		return nil, result.Errorf(result.ClassPolicy, "approval %s records decision '%s', not approved: refusing to attest an approval", p.Approval, a.Decision)
	case a.Environment != p.Environment:
		return nil, result.Errorf(result.ClassPolicy, "approval %s approves environment '%s', not '%s' (environment)", p.Approval, a.Environment, p.Environment)
	case a.TraceID != traceID:
		return nil, result.Errorf(result.ClassPolicy, "approval %s belongs to trace %s, not this build's %s: a stale approval from another build is never attested",
			p.Approval, a.TraceID, traceID)
	}
	if len(a.Approvers) == 0 {
		return nil, result.Errorf(result.ClassPolicy, "approval %s lists no approvers", p.Approval)
	}
	for _, ap := range a.Approvers {
		if s, _ := ap["approver"].(string); s == "" {
			return nil, result.Errorf(result.ClassPolicy, "approval %s lists an approver without an id", p.Approval)
		}
	}
	return &a, nil
}

// Run attests as the attestRelease step asks: provenance, the approval (unless approval is empty) and, with an audit
// key, the ledger records; it stops attesting at the first failure but still records the attempt in the ledger.
func Run(ctx context.Context, p *Params, o RunOptions) *Outcome {
	if o.Log == nil {
		o.Log = log.New(io.Discard, "", 0)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	out := &Outcome{Results: map[string]result.Result{}}
	defer out.combine(p, o)
	var approval *approvalResult
	if p.Approval != "" {
		var err error
		if approval, err = readApproval(p, o.TraceID); err != nil {
			out.Err = err
			return out
		}
	}
	var gates []string
	for _, g := range p.GateResults {
		if _, err := os.Stat(g); err == nil {
			gates = append(gates, g)
		} else {
			out.Notes = append(out.Notes, fmt.Sprintf("attestRelease: no gate result %s: not recorded", g))
		}
	}
	stage := func(key string, fn func(rec *result.Recorder) error) bool {
		rec := result.NewRecorder(o.Helper, o.Version, stageVerbs[key], o.TraceID)
		err := fn(rec)
		r := rec.Finish(err, "")
		file := strings.TrimSuffix(o.ResultFile, ".json") + "-" + key + ".json"
		if werr := result.WriteFile(file, r); werr != nil && err == nil {
			err = result.Errorf(result.ClassInput, "writing %s: %w", file, werr)
		}
		out.Stages, out.Files = append(out.Stages, key), append(out.Files, file)
		out.Results[key] = r
		if err != nil && out.Err == nil {
			out.Failed, out.Err = key, err
		}
		return err == nil
	}
	rc := registry.New(registry.Options{PlainHTTP: p.PlainHTTP, Username: o.RegistryUsername, Password: o.RegistryPassword})
	var blobs []string
	blobs = append(blobs, p.Blobs...)
	images := []string{}
	if p.Image != "" {
		images = append(images, p.Image)
	}
	var targets []Target
	var rk *keys.Key
	defer func() {
		if rk != nil {
			rk.Close()
		}
	}()
	var record *decision.Record
	var recordEnv []byte
	var relayKey string
	if approval != nil { // before anything is signed: an approval counts only as the relay signed it
		var err error
		if targets, err = Targets(ctx, rc, images, blobs); err != nil {
			out.Err = err
			return out
		}
		r, env, kid, err := checkRecord(p, approval, o.RelayKeyFile, o.TraceID, targets)
		if err != nil {
			out.Err = err
			return out
		}
		record, recordEnv, relayKey = &r, env, kid
		out.Approvers = r.ApprovedBy()
		o.Log.Printf("approval: relay-signed decision record %s verifies (request %s, approved by %s)", approval.RecordFile, r.RequestID, strings.Join(out.Approvers, ", "))
	}
	attestWith := func(rec *result.Recorder, opts Options) error {
		if targets == nil {
			var err error
			if targets, err = Targets(ctx, rc, images, blobs); err != nil {
				return err
			}
		}
		if rk == nil {
			var err error
			if rk, err = loadKey(ctx, "releaseKey", p.ReleaseKey, o.ReleaseKeyFile, o.ReleaseLoad); err != nil {
				return err
			}
		}
		opts.ReleaseKey, opts.OutDir, opts.TraceID, opts.Log = rk, p.OutDir, o.TraceID, o.Log
		return Attest(ctx, rec, rc, targets, opts)
	}
	ok := stage("provenance", func(rec *result.Recorder) error {
		gs, err := provenance.GatesFromResults(gates)
		if err != nil {
			return err
		}
		opts, err := Provenance(provenance.Build{BuilderID: p.BuilderID, Repository: p.Repo, Commit: p.Commit, Branch: p.Branch, Module: p.Module,
			GoVersion: p.GoVersion, GOOS: p.GOOS, GOARCH: p.GOARCH, Gates: gs, TraceID: o.TraceID, FinishedOn: o.Now(), LedgerCheckpoint: p.checkpointType()})
		if err != nil {
			return err
		}
		return attestWith(rec, opts)
	})
	if ok && approval != nil {
		stage("approval", func(rec *result.Recorder) error {
			// Who approved and under which rule: as the relay signed it, never as the workspace file says.
			var aps []provenance.Approver
			for _, ap := range record.Approvers {
				if ap.Decision == "approve" {
					aps = append(aps, provenance.Approver{User: ap.SlackID, At: ap.At.UTC()})
				}
			}
			required, fourEyes := max(approval.Required, record.Rule.Required), !record.Rule.AllowSelfApproval
			rule := p.Rule
			if rule == "" {
				svc := approval.Service
				if svc == "" {
					svc = "release"
				}
				rule = svc + "/" + p.Environment
			}
			if required < 1 {
				required = 1
			}
			opts, err := Approval(provenance.Approval{Environment: p.Environment, Approvers: aps,
				Rule: provenance.Rule{Name: rule, MinApprovals: required, FourEyes: fourEyes}, BuildURL: p.BuilderID, TraceID: o.TraceID, RelayKeyID: relayKey, DecisionRecord: recordEnv})
			if err != nil {
				return err
			}
			return attestWith(rec, opts)
		})
	}
	if p.HasAuditKey() {
		sources := append([]string{}, gates...)
		for _, k := range []string{"provenance", "approval"} {
			if _, ran := out.Results[k]; ran {
				sources = append(sources, strings.TrimSuffix(o.ResultFile, ".json")+"-"+k+".json")
			}
		}
		auditFile := ""
		if approval != nil && approval.AuditFile != "" {
			if _, err := os.Stat(approval.AuditFile); err == nil {
				auditFile = approval.AuditFile
			}
		}
		var cp *ledger.Checkpoint
		stage("audit", func(rec *result.Recorder) error {
			var err error
			cp, err = appendLedger(ctx, rec, p, o, sources, auditFile, targets)
			return err
		})
		if out.Err == nil && cp != nil { // where the ledger stands now, signed with the release key, on the image
			stage("checkpoint", func(rec *result.Recorder) error { return attestWith(rec, Checkpoint(*cp)) })
		}
	}
	return out
}

// checkpointType is the ledger checkpoint's predicate type when attestRelease attaches one (an image and a ledger).
func (p *Params) checkpointType() string {
	if p.Image == "" || !p.HasAuditKey() {
		return ""
	}
	return ledger.CheckpointPredicateType
}

// Bodies returns the ledger records of helper result files and approval audit files (JSON lines), with traceID
// where a record names none; the attestRelease step and `audit append` record the same way.
func Bodies(results, audits []string, traceID string) ([]ledger.Body, error) {
	var bodies []ledger.Body
	for _, s := range results {
		bs, err := ledger.FromResults(s)
		if err != nil {
			return nil, err
		}
		bodies = append(bodies, bs...)
	}
	for _, s := range audits {
		bs, err := ledger.FromAudit(s)
		if err != nil {
			return nil, err
		}
		bodies = append(bodies, bs...)
	}
	for i := range bodies {
		if bodies[i].TraceID == "" {
			bodies[i].TraceID = traceID
		}
	}
	return bodies, nil
}

// appendLedger records the result files and the approval's audit lines in p.Ledger, signed with the audit key, and
// returns the ledger's checkpoint after them when an image was attested (nil otherwise).
func appendLedger(ctx context.Context, rec *result.Recorder, p *Params, o RunOptions, sources []string, auditFile string, ts []Target) (*ledger.Checkpoint, error) {
	var audits []string
	if auditFile != "" {
		audits = []string{auditFile}
	}
	bodies, err := Bodies(sources, audits, o.TraceID)
	if err != nil {
		return nil, err
	}
	if len(bodies) == 0 {
		return nil, result.Errorf(result.ClassInput, "nothing to record in ledger '%s'", p.Ledger)
	}
	ak, err := loadKey(ctx, "auditKey", p.AuditKey, o.AuditKeyFile, o.AuditLoad)
	if err != nil {
		return nil, err
	}
	defer ak.Close()
	entries, err := ledger.Append(p.Ledger, ak.Signer, bodies...)
	if err != nil {
		return nil, err
	}
	for _, e := range entries {
		o.Log.Printf("recorded #%d %s %s %s", e.Seq, e.Kind, e.Source, e.Status)
		rec.Add(result.Item{Name: e.Source, Kind: e.Kind, Status: result.StatusPassed, Details: map[string]any{"seq": e.Seq, "hash": e.Hash, "trace_id": e.TraceID}})
	}
	rec.Set("head", entries[len(entries)-1].Hash)
	rec.Set("key_id", ak.ID)
	if p.checkpointType() == "" {
		return nil, nil
	}
	rep, err := ledger.Verify(p.Ledger, ledger.VerifyOptions{Keys: []crypto.PublicKey{ak.Public()}})
	if err != nil {
		return nil, err
	}
	last, release := entries[len(entries)-1], entries[len(entries)-1]
	for _, e := range entries {
		for _, t := range ts {
			if t.Image != nil && e.Subject == t.Name {
				release = e
			}
		}
	}
	c, err := ledger.NewCheckpoint(rep, last, release, p.Environment, o.TraceID)
	if err != nil {
		return nil, err
	}
	return &c, nil
}

// loadKey loads the key the Map names (param, e.g. releaseKey) or its file credential (<param>CredentialsId);
// errors name that parameter.
func loadKey(ctx context.Context, param, ref, credFile string, opts keys.LoadOptions) (*keys.Key, error) {
	if ref == "" {
		ref, param = credFile, param+"CredentialsId"
	}
	r, err := keys.ParseRef(ref)
	if err == nil {
		var k *keys.Key
		if k, err = keys.Load(ctx, r, opts); err == nil {
			return k, nil
		}
	}
	return nil, result.Errorf(result.ClassOf(err), "%s: %w", param, err)
}

// Message names the failed stage and its error.
func (out *Outcome) Message() string {
	if out.Err == nil {
		return ""
	}
	if v, ok := stageVerbs[out.Failed]; ok {
		return v + ": " + out.Err.Error()
	}
	return out.Err.Error()
}

func (out *Outcome) combine(p *Params, o RunOptions) {
	var attestations []string
	for _, k := range []string{"provenance", "approval", "checkpoint"} {
		for _, it := range out.Results[k].Items {
			out.Items = append(out.Items, it)
			if loc, _ := it.Details["location"].(string); loc != "" {
				attestations = append(attestations, loc)
			}
		}
	}
	class := result.ClassOf(out.Err)
	m := map[string]any{"helper": o.Helper, "verb": "attestRelease", "status": class.Status(), "exit_code": class.ExitCode(),
		"message": out.Message(), "trace_id": o.TraceID, "items": result.NonNil(out.Items), "attestations": result.NonNil(attestations),
		"approvers": result.NonNil(out.Approvers), "ledger": nil, "ledgerHead": nil, "resultFiles": result.NonNil(out.Files),
		"results": result.Stages{Order: out.Stages, Results: out.Results}}
	if a, ran := out.Results["audit"]; ran {
		m["ledger"] = p.Ledger
		if a.ExitCode == 0 {
			m["ledgerHead"] = a.Data["head"]
		}
	}
	out.Combined = m
}

// Summary returns the console lines: skipped inputs, the outcome, one line per attestation, then the ledger.
func (out *Outcome) Summary() []string {
	lines := append([]string{}, out.Notes...)
	lines = append(lines, fmt.Sprintf("attestRelease: %s (trace %s)", out.Combined["status"], out.Combined["trace_id"]))
	for _, it := range out.Items {
		d, loc := "", ""
		if s, _ := it.Details["digest"].(string); s != "" {
			d = " " + s
		}
		if s, _ := it.Details["location"].(string); s != "" {
			loc = " -> " + s
		}
		lines = append(lines, fmt.Sprintf("attestRelease:   %s %s %s%s%s", it.Kind, it.Name, it.Status, d, loc))
	}
	if a, ran := out.Results["audit"]; ran && a.ExitCode == 0 {
		lines = append(lines, fmt.Sprintf("attestRelease: %d record(s) appended to %s (head %v)", len(a.Items), out.Combined["ledger"], a.Data["head"]))
	}
	if out.Err != nil {
		lines = append(lines, "attestRelease: "+out.Message())
	}
	return lines
}

// Archive returns the stage results, the blob envelopes and the ledger (image attestations live in the registry).
func (out *Outcome) Archive() []string {
	a := append([]string{}, out.Files...)
	for _, s := range out.Combined["attestations"].([]string) {
		if strings.HasSuffix(s, ".intoto.json") {
			a = append(a, s)
		}
	}
	if l, ok := out.Combined["ledger"].(string); ok && l != "" {
		a = append(a, l)
	}
	return a
}

// checkRecord verifies the approval's relay-signed decision record with the relay's public key (relayPublicKey, or
// the relayPublicKeyCredentialsId file keyFile) and that it backs this release (approved, the approval's service,
// p.Environment, p.Commit, this build's trace, every subject's digest); it returns the record, its envelope and the
// key id that verified it.
func checkRecord(p *Params, a *approvalResult, keyFile, traceID string, ts []Target) (decision.Record, []byte, string, error) {
	keyParam, keyPath := "relayPublicKey", p.RelayPublicKey
	if keyPath == "" {
		keyParam, keyPath = "relayPublicKeyCredentialsId", keyFile
	}
	if keyPath == "" {
		return decision.Record{}, nil, "", result.Errorf(result.ClassInput, "relayPublicKey is required to attest an approval: set relayPublicKeyCredentialsId or relayPublicKey")
	}
	if a.RecordFile == "" {
		return decision.Record{}, nil, "", result.Errorf(result.ClassInput, "approval %s names no decisionRecord: an approval is attested only with the relay-signed "+
			"decision record, which slackApproval writes beside its result; run slackApproval in this build (or pass approval: null)", p.Approval)
	}
	env, err := os.ReadFile(a.RecordFile)
	if err != nil {
		return decision.Record{}, nil, "", result.Errorf(result.ClassInput, "approval %s: decision record %s: %v", p.Approval, a.RecordFile, err)
	}
	pub, err := decision.LoadPublicKey(keyPath)
	if err != nil {
		return decision.Record{}, nil, "", result.Errorf(result.ClassInput, "%s: %v", keyParam, err)
	}
	keyID, err := decision.KeyID(pub)
	if err != nil {
		return decision.Record{}, nil, "", result.Errorf(result.ClassInput, "%s: %v", keyParam, err)
	}
	rec, err := decision.Verify(env, pub)
	if err != nil {
		return decision.Record{}, nil, "", result.Errorf(result.ClassTamper, "approval %s: decision record %s: %v (%s, key %s): refusing to attest an approval the relay did not sign",
			p.Approval, a.RecordFile, err, keyParam, keyID)
	}
	var digests []string
	for _, t := range ts {
		digests = append(digests, "sha256:"+t.Subject.Digest["sha256"])
	}
	if err := rec.Covers(a.Service, p.Environment, p.Commit, digests); err != nil {
		return decision.Record{}, nil, "", result.Errorf(result.ClassPolicy, "approval %s: %v", p.Approval, err)
	}
	if rec.TraceID != traceID {
		return decision.Record{}, nil, "", result.Errorf(result.ClassPolicy, "approval %s: the decision record belongs to trace %s, not this build's %s", p.Approval, rec.TraceID, traceID)
	}
	if len(rec.ApprovedBy()) == 0 {
		return decision.Record{}, nil, "", result.Errorf(result.ClassPolicy, "approval %s: the decision record counts no approving click", p.Approval)
	}
	return rec, env, keyID, nil
}
