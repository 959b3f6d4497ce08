package release

import (
	"context"
	"crypto"
	"fmt"
	"io"
	"log"
	"sort"
	"strings"

	"github.com/release-gates/release-gates/helpers/internal/image"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/ledger"
	"github.com/release-gates/release-gates/helpers/internal/params"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// StepParams is the verifyRelease step's Map; one field per parameter.
type StepParams struct {
	Image                      string            `json:"image" requiredUnless:"rollback" doc:"image to deploy: repo@sha256:... (a tag is resolved once, then checked by digest)." example:"'registry.example.com/orders@sha256:...'"`
	Environment                string            `json:"environment" required:"true" doc:"target environment; an approval for it must exist." example:"'prod'"`
	ExpectRepo                 string            `json:"expectRepo" required:"true" doc:"the provenance must name this repository." example:"'https://git.example.com/shop/orders.git'"`
	ExpectBranch               string            `json:"expectBranch" required:"true" doc:"the provenance must name this branch." example:"'main'"`
	ExpectBuilder              string            `json:"expectBuilder" doc:"builder id (Jenkins build URL) prefix; default env.JOB_URL." example:"'https://ci.example.com/job/orders/'"`
	ExpectCommit               string            `json:"expectCommit" doc:"the provenance must name this commit (prefix)." example:"'3f1c9a0'"`
	MinApprovals               int               `json:"minApprovals" default:"1" doc:"distinct approvers required at least (the recorded rule may ask for more)." example:"2"`
	RelayPublicKeys            []string          `json:"relayPublicKeys" default:"[]" doc:"relay decision public keys (PEM): the approval must embed a decision record signed by one of them that backs this digest, environment and commit; only its approvers count toward minApprovals." example:"['keys/relay.pub']"`
	CosignKeys                 []string          `json:"cosignKeys" default:"[]" required:"true" doc:"cosign public key files (PEM) of the image signer." example:"['keys/release.pub']"`
	ReleaseKeys                []string          `json:"releaseKeys" default:"[]" required:"true" doc:"public key files of the provenance and approval attestations (release-evidence verify --release-pub)." example:"['keys/attest.pub']"`
	TrustPolicy                string            `json:"trustPolicy" required:"true" doc:"notation trust policy JSON." example:"'trust/policy.json'"`
	TrustStore                 string            `json:"trustStore" required:"true" doc:"notation trust store dir (x509/ca/<name>/*.pem)." example:"'trust/store'"`
	Blobs                      map[string]string `json:"blobs" default:"{}" doc:"blob path -> its cosign signature file, also verified." example:"['bin/orders': 'bin/orders.sig']"`
	BlobKeys                   []string          `json:"blobKeys" default:"[]" doc:"public keys of the blob signatures; default cosignKeys." example:"['keys/release.pub']"`
	RevokedKeyIDs              []string          `json:"revokedKeyIds" default:"[]" doc:"key ids no longer trusted." example:"['0123456789abcdef']"`
	Keyring                    string            `json:"keyring" doc:"keys.yaml: its archived and revoked keys are no longer trusted." example:"'keys.yaml'"`
	Index                      string            `json:"index" doc:"evidence index (ledger of verified releases); rollback reads it." example:"'evidence/releases.jsonl'"`
	Ledger                     string            `json:"ledger" doc:"this release's audit ledger: its whole chain must verify (signed with the audit key) and still hold the ledger checkpoint attestRelease attached to the image, before any verdict; the outcome is recorded there." example:"'.release-gates/audit.jsonl'"`
	LedgerHead                 string            `json:"ledgerHead" doc:"the head ledger must have (attestRelease's ledgerHead); another head (records cut off or added) is refused. Unset: the image's ledger checkpoint decides (a release attested without one passes with a warning)." example:"att.ledgerHead"`
	IndexHead                  string            `json:"indexHead" doc:"with rollback: the head index must have (an earlier verifyRelease's index_head); another head is refused." example:"'3f5c...'"`
	AuditPubs                  []string          `json:"auditPubs" default:"[]" doc:"audit public keys the index is signed with (rollback)." example:"['keys/audit.pub']"`
	AuditKey                   string            `json:"auditKey" doc:"audit signing key for index, ledger and rollback records: a path, file:// or pkcs11: URI (no pin-value)." example:"'keys/audit.key'"`
	AuditKeyCredentialsID      string            `json:"auditKeyCredentialsId" doc:"file credential holding the encrypted audit key (bound as RG_AUDIT_KEY)." example:"'audit-key'"`
	AuditPasswordCredentialsID string            `json:"auditPasswordCredentialsId" doc:"secret text: the audit key password (bound as COSIGN_PASSWORD)." example:"'audit-password'"`
	AuditPinCredentialsID      string            `json:"auditPinCredentialsId" doc:"secret text: the PKCS#11 PIN (bound as PKCS11_PIN)." example:"'hsm-pin'"`
	VSAKey                     string            `json:"vsaKey" doc:"verifier key: when set and the release verifies, a signed SLSA VSA (https://slsa.dev/verification_summary/v1) is attached to the image; a path, file:// or pkcs11: URI (no pin-value)." example:"'pkcs11:token=release;object=vsa?module-path=/usr/lib/softhsm/libsofthsm2.so'"`
	VSAKeyCredentialsID        string            `json:"vsaKeyCredentialsId" doc:"file credential holding the encrypted verifier key (bound as RG_VSA_KEY)." example:"'vsa-key'"`
	VSAPasswordCredentialsID   string            `json:"vsaPasswordCredentialsId" doc:"secret text: the verifier key password (bound as RG_VSA_PASSWORD)." example:"'vsa-password'"`
	VSAPinCredentialsID        string            `json:"vsaPinCredentialsId" doc:"secret text: the verifier key's PKCS#11 PIN (bound as RG_VSA_PIN)." example:"'hsm-pin'"`
	RegistryCredentialsID      string            `json:"registryCredentialsId" doc:"username/password credential for the registry (bound as REGISTRY_USERNAME/REGISTRY_PASSWORD)." example:"'registry-pull'"`
	PlainHTTP                  bool              `json:"plainHttp" default:"false" doc:"allow plain HTTP to the registry." example:"true"`
	Rollback                   bool              `json:"rollback" default:"false" doc:"find the last release for environment in index that still verifies, instead of image." example:"true"`
	Current                    string            `json:"current" doc:"with rollback: the digest being replaced; never chosen." example:"'registry.example.com/orders@sha256:...'"`
	ResultFile                 string            `json:"resultFile" default:"\".release-gates/verifyRelease.json\"" doc:"result JSON, relative to the workspace." example:"'.release-gates/verify-prod.json'"`
}

// FromContext sets expectBuilder to the job URL when the Map leaves it unset.
func (p *StepParams) FromContext(c params.Context) {
	if p.ExpectBuilder == "" {
		p.ExpectBuilder = c.JobURL
	}
}

func inputf(format string, args ...any) error {
	return result.Errorf(result.ClassInput, format, args...)
}

// Validate checks the cross-parameter rules (after FromContext); each message names the Jenkinsfile key.
func (p *StepParams) Validate() error {
	var missing []string
	add := func(cond bool, key string) {
		if cond {
			missing = append(missing, key)
		}
	}
	add(!p.Rollback && p.Image == "", "image")
	add(p.ExpectRepo == "", "expectRepo")
	add(p.ExpectBranch == "", "expectBranch")
	add(p.ExpectBuilder == "", "expectBuilder (or run in a job with JOB_URL)")
	add(len(p.CosignKeys) == 0, "cosignKeys")
	add(len(p.ReleaseKeys) == 0, "releaseKeys")
	add(p.TrustPolicy == "" || p.TrustStore == "", "trustPolicy and trustStore")
	if len(missing) > 0 {
		return inputf("missing %s: every release is checked for both signatures (cosign + notation), provenance and approval (see vars/verifyRelease.txt)",
			strings.Join(missing, ", "))
	}
	if p.Rollback && p.Image != "" {
		return inputf("rollback finds the image itself; drop image (pass current: the digest being replaced)")
	}
	if p.Rollback && (p.Index == "" || len(p.AuditPubs) == 0) {
		return inputf("rollback needs index (the evidence index written by earlier verifyRelease calls) and auditPubs")
	}
	if (p.Rollback || p.Index != "" || p.Ledger != "") && p.AuditKey == "" && p.AuditKeyCredentialsID == "" {
		return inputf("index, ledger and rollback records are signed: set auditKey or auditKeyCredentialsId")
	}
	if p.AuditKey != "" && p.AuditKeyCredentialsID != "" {
		return inputf("set auditKey or auditKeyCredentialsId, not both")
	}
	if p.VSAKey != "" && p.VSAKeyCredentialsID != "" {
		return inputf("set vsaKey or vsaKeyCredentialsId, not both")
	}
	if p.HasVSAKey() && p.Rollback {
		return inputf("a VSA is issued for the image verifyRelease verified: drop vsaKey/vsaKeyCredentialsId with rollback: true")
	}
	if strings.Contains(strings.ToLower(p.VSAKey), "pin-value") {
		return inputf("a pin-value in vsaKey is refused (it would be on the command line and in the log): use vsaPinCredentialsId")
	}
	if strings.Contains(strings.ToLower(p.AuditKey), "pin-value") {
		return inputf("a pin-value in auditKey is refused (it would be on the command line and in the log): use auditPinCredentialsId")
	}
	if p.LedgerHead != "" && p.Ledger == "" {
		return inputf("ledgerHead '%s' applies to a ledger: set ledger (the ledger attestRelease appended to)", p.LedgerHead)
	}
	if p.IndexHead != "" && !p.Rollback {
		return inputf("indexHead '%s' applies only with rollback: true", p.IndexHead)
	}
	if p.MinApprovals < 1 {
		return inputf("minApprovals must be a whole number of at least 1; got %d", p.MinApprovals)
	}
	for path, sig := range p.Blobs {
		if strings.TrimSpace(path) == "" || strings.TrimSpace(sig) == "" {
			return inputf("blobs maps each file to its signature file, e.g. blobs: ['bin/orders': 'bin/orders.sig']; got '%s': '%s'", path, sig)
		}
	}
	return nil
}

// StepName is the verifyRelease step's name.
const StepName = "verifyRelease"

// HasVSAKey reports whether the Map names a verifier key (then a verified release gets a VSA).
func (p *StepParams) HasVSAKey() bool { return p.VSAKey != "" || p.VSAKeyCredentialsID != "" }

// Env vars the verifyRelease step binds the verifier key's file and secrets to (the audit key has COSIGN_PASSWORD and PKCS11_PIN).
const (
	VSAKeyEnv      = "RG_VSA_KEY"
	VSAPasswordEnv = "RG_VSA_PASSWORD"
	VSAPINEnv      = "RG_VSA_PIN"
)

// AuditKeyEnv is the env var the verifyRelease step binds the audit key file to.
const AuditKeyEnv = "RG_AUDIT_KEY"

// Step declares the verifyRelease pipeline step.
var Step = params.Step{
	Name:   StepName,
	Helper: "release-evidence",
	Params: func() params.Validator { return &StepParams{} },
	Credentials: []params.Credential{
		{Param: "auditKeyCredentialsId", Kind: params.KindFile, Role: "auditKey", Variable: AuditKeyEnv},
		{Param: "auditPasswordCredentialsId", Kind: params.KindString, Role: "auditPassword", Variable: keys.PasswordEnv},
		{Param: "auditPinCredentialsId", Kind: params.KindString, Role: "auditPin", Variable: keys.PINEnv},
		{Param: "vsaKeyCredentialsId", Kind: params.KindFile, Role: "vsaKey", Variable: VSAKeyEnv},
		{Param: "vsaPasswordCredentialsId", Kind: params.KindString, Role: "vsaPassword", Variable: VSAPasswordEnv},
		{Param: "vsaPinCredentialsId", Kind: params.KindString, Role: "vsaPin", Variable: VSAPINEnv},
		{Param: "registryCredentialsId", Kind: params.KindUsernamePassword, Role: "registry", UsernameVariable: registry.UsernameEnv, PasswordVariable: registry.PasswordEnv},
	},
	Help: `verifyRelease: the deploy-time gate. With the release-evidence helper it checks, for one image by digest:
  signatures  a valid cosign signature (cosignKeys) and a valid Notary Project signature (trustPolicy/trustStore);
              blob signatures for blobs (blobKeys, default cosignKeys); no key in revokedKeyIds or archived/revoked in keyring.
  provenance  SLSA provenance signed with a releaseKeys key, naming expectRepo, expectBranch, a builder under
              expectBuilder (default env.JOB_URL) and, when given, expectCommit.
  approval    an approval attestation for environment with at least minApprovals distinct approvers.
Only then is the verified digest handed to the deploy closure (and returned). With index, a verified release is
recorded in the evidence index; with ledger, the outcome goes to the audit ledger (both signed with the audit key),
whose chain must first verify and still hold the ledger checkpoint attestRelease attached to the image.
With vsaKey (or vsaKeyCredentialsId), a verified release gets a signed SLSA VSA attached to the image (the admission
path: release-evidence verify-vsa, or the exported Kyverno policy).
With rollback: true it instead walks index newest first and returns the last release for environment whose
evidence still verifies (never current).

Needs an executor (call it inside node). The runner checks the Map against resources/steps/verifyRelease.json and
runs one labelled sh ("verifyRelease: run": release-evidence run). The audit key's secrets are bound as RG_AUDIT_KEY,
COSIGN_PASSWORD and PKCS11_PIN, the registry login as REGISTRY_USERNAME/REGISTRY_PASSWORD.

Returns the verified digest (repo@sha256:...); verifyRelease(config) { digest -> ... } calls the closure with it.
The result file (resultFile) also holds vsa: the VSA's ref, digest, key id and policy digest (null without vsaKey).

Fails the build with:
  verifyRelease: rejected: ...                          a signature, the provenance or the approval does not verify (exit 1)
  verifyRelease: bad input or configuration: ...        a bad parameter or a missing key file (exit 2)
  verifyRelease: infrastructure unavailable: ... (retry later)   the registry did not answer (exit 3)
  verifyRelease: unknown parameter 'x' ...              a key not listed below (before anything runs)`,
	Footer: `Example:
  verifyRelease(image: params.IMAGE, environment: 'prod', expectRepo: env.GIT_URL, expectBranch: 'main',
                cosignKeys: ['keys/release.pub'], releaseKeys: ['keys/attest.pub'],
                trustPolicy: 'trust/policy.json', trustStore: 'trust/store') { digest ->
      sh "kubectl set image deploy/orders orders=${digest}"
  }`,
}

// StepOptions carry what the params document adds to StepParams: the audit key file and its secrets' env names,
// the registry login and the trace id.
type StepOptions struct {
	AuditKeyFile     string
	AuditLoad        keys.LoadOptions
	RegistryUsername string
	RegistryPassword string
	TraceID          string
	Log              *log.Logger
	Record           func(result.Item) // called once per evidence check or rollback candidate
}

// StepOutcome is what the verifyRelease step reports.
type StepOutcome struct {
	Digest   string         // the verified digest ("" unless it passed)
	Checked  string         // the digest checked, also when it failed
	Data     map[string]any // result data: environment, skipped candidates
	Err      error
	Verified Outcome // the verified evidence (not with rollback)
	Options  Options // what it was verified with; LedgerKeys is the audit key that checked the ledger
}

// RunStep verifies the release (or finds the rollback target), then records the outcome in index and ledger.
func RunStep(ctx context.Context, p *StepParams, o StepOptions) StepOutcome {
	if o.Log == nil {
		o.Log = log.New(io.Discard, "", 0)
	}
	if o.Record == nil {
		o.Record = func(result.Item) {}
	}
	out := StepOutcome{Data: map[string]any{"environment": p.Environment}}
	vo, err := p.verifyOptions(ctx, o.Log)
	if err != nil {
		out.Err = err
		return out
	}
	rc := registry.New(registry.Options{PlainHTTP: p.PlainHTTP, Username: o.RegistryUsername, Password: o.RegistryPassword})
	rec := Recording{Index: p.Index, Ledger: p.Ledger, AuditKey: func() (*keys.Key, error) { return p.auditKey(ctx, o) }, TraceID: o.TraceID, Log: o.Log}
	if p.Rollback {
		pubs, err := keys.LoadPublics(ctx, p.AuditPubs, "auditPubs", keys.LoadOptions{})
		if err != nil {
			out.Err = err
			return out
		}
		got, tried, err := RollbackAndRecord(ctx, rc, RollbackOptions{Index: p.Index, IndexKeys: pubs, IndexHead: p.IndexHead, Current: p.Current, Verify: vo}, rec,
			func(it result.Item) { o.Record(it) })
		if err != nil {
			out.Err = err
			return out
		}
		out.Digest, out.Checked = got.Digest, got.Digest
		out.Data["digest"] = got.Digest
		out.Data["skipped"] = len(tried) - 1
		return out
	}
	vo.Image = p.Image
	got, done, err := VerifyAndRecord(ctx, rc, vo, rec, func(it result.Item) { o.Record(it) })
	out.Checked = got.Digest
	if done.IndexHead != "" {
		out.Data["index_head"] = done.IndexHead
	}
	if done.LedgerHead != "" {
		out.Data["ledger_head"] = done.LedgerHead
	}
	if err != nil {
		out.Err = err
		return out
	}
	if done.AuditKey != nil {
		vo.LedgerKeys = []crypto.PublicKey{done.AuditKey}
	}
	out.Verified, out.Options = got, vo
	out.Digest = got.Digest
	out.Data["digest"] = got.Digest
	return out
}

// Recording says where a verification's outcome is recorded: the evidence index (verified releases), the release's
// ledger (every outcome), both signed with the audit key, which is loaded only when something is recorded.
type Recording struct {
	Index    string
	Ledger   string
	AuditKey func() (*keys.Key, error)
	TraceID  string
	Log      *log.Logger
}

// Recorded is where the records went: the heads of the index and the ledger after the append ("" when not written),
// and the audit public key the ledger was checked with (nil when nothing was recorded).
type Recorded struct {
	IndexHead  string
	LedgerHead string
	AuditKey   crypto.PublicKey
}

func (r Recording) log() *log.Logger {
	if r.Log == nil {
		return log.New(io.Discard, "", 0)
	}
	return r.Log
}

// VerifyAndRecord verifies o's release (one item per evidence check; o.Ledger's whole chain, signed with the audit
// key, must verify first), then appends a verified release to the index and the outcome, verified or rejected, to
// the ledger, which must still end at o.ExpectedLedgerHead (a ledger refused by its chain or checkpoint is left as it is).
// A failed recording fails a verified release.
func VerifyAndRecord(ctx context.Context, rc *registry.Client, o Options, r Recording, each func(result.Item)) (Outcome, Recorded, error) {
	var done Recorded
	var ak *keys.Key
	if r.Index != "" || r.Ledger != "" {
		var err error
		if ak, err = r.AuditKey(); err != nil {
			return Outcome{}, done, err
		}
		defer ak.Close()
		o.LedgerKeys = []crypto.PublicKey{ak.Public()}
		done.AuditKey = ak.Public()
	}
	got, verr := Verify(ctx, rc, o, func(ch Check) { each(CheckItem(ch, r.log())) })
	if ak == nil {
		return got, done, verr
	}
	if verr == nil && r.Index != "" {
		e, err := Record(r.Index, ak.Signer, r.TraceID, got, o.Expect.Environment)
		if err != nil {
			return got, done, err
		}
		done.IndexHead = e.Hash
		r.log().Printf("recorded release #%d for %s in %s", e.Seq, o.Expect.Environment, r.Index)
	}
	if r.Ledger != "" && !ledgerRefused(got) { // a cut or replaced ledger is never extended
		b := ledger.Body{TraceID: r.TraceID, Kind: ledger.KindRelease, Source: "release-evidence verify", Status: "verified",
			Environment: o.Expect.Environment, Subject: got.Digest}
		if verr != nil {
			b.Kind, b.Status = ledger.KindResult, "rejected"
			b.Data = map[string]any{"message": verr.Error(), "failure_class": string(result.ClassOf(verr))}
		}
		es, err := ledger.AppendVerified(r.Ledger, ak.Signer, ledger.VerifyOptions{ExpectHead: o.ExpectedLedgerHead}, b)
		if err != nil {
			if verr == nil {
				verr = err
			}
			return got, done, verr
		}
		done.LedgerHead = es[0].Hash
	}
	return got, done, verr
}

// ledgerRefused reports whether the ledger's chain or its checkpoint failed in out's checks.
func ledgerRefused(out Outcome) bool {
	for _, c := range out.Checks {
		if (c.Name == "ledger" || c.Name == "ledger checkpoint") && c.Err != nil {
			return true
		}
	}
	return false
}

// RollbackAndRecord finds the rollback target (one item per candidate tried; the index, and the ledger's chain, are
// checked with ro.IndexKeys) and records the choice in the index and the ledger; the audit key is loaded only once
// there is a choice to record.
func RollbackAndRecord(ctx context.Context, rc *registry.Client, ro RollbackOptions, r Recording, each func(result.Item)) (Outcome, []Candidate, error) {
	lg := r.log()
	if len(ro.Verify.LedgerKeys) == 0 {
		ro.Verify.LedgerKeys = ro.IndexKeys
	}
	got, tried, err := FindRollback(ctx, rc, ro, func(cd Candidate) {
		it := result.Item{Name: cd.Digest, Kind: "candidate", Details: map[string]any{"seq": cd.Seq, "trace_id": cd.TraceID}}
		if cd.Err != nil {
			it.FailureClass, it.Message = result.ClassOf(cd.Err), cd.Err.Error()
			lg.Printf("skipping %s: %v", cd.Digest, cd.Err)
		} else {
			it.Status = result.StatusPassed
			lg.Printf("rollback target %s (release #%d, trace %s)", cd.Digest, cd.Seq, cd.TraceID)
		}
		each(it)
	})
	if err != nil {
		return got, tried, err
	}
	ak, err := r.AuditKey()
	if err != nil {
		return got, tried, err
	}
	defer ak.Close()
	for _, path := range []string{ro.Index, r.Ledger} {
		if path == "" {
			continue
		}
		if err := RecordRollback(path, ak.Signer, r.TraceID, ro.Verify.Expect.Environment, ro.Current, got, tried, ro.IndexKeys...); err != nil {
			return got, tried, err
		}
	}
	return got, tried, nil
}

func (p *StepParams) verifyOptions(ctx context.Context, lg *log.Logger) (Options, error) {
	var o Options
	var err error
	if o.CosignKeys, err = keys.LoadPublics(ctx, p.CosignKeys, "cosignKeys", keys.LoadOptions{}); err != nil {
		return o, err
	}
	if o.ReleaseKeys, err = keys.LoadPublics(ctx, p.ReleaseKeys, "releaseKeys", keys.LoadOptions{}); err != nil {
		return o, err
	}
	var relay []crypto.PublicKey
	if relay, err = keys.LoadPublics(ctx, p.RelayPublicKeys, "relayPublicKeys", keys.LoadOptions{}); err != nil {
		return o, err
	}
	if o.BlobKeys, err = keys.LoadPublics(ctx, p.BlobKeys, "blobKeys", keys.LoadOptions{}); err != nil {
		return o, err
	}
	if o.Notation, err = image.LoadVerifier(p.TrustPolicy, p.TrustStore); err != nil {
		return o, result.Errorf(result.ClassOf(err), "trustPolicy/trustStore: %w", err)
	}
	paths := make([]string, 0, len(p.Blobs))
	for k := range p.Blobs {
		paths = append(paths, k)
	}
	sort.Strings(paths)
	for _, k := range paths {
		o.Blobs = append(o.Blobs, Blob{Path: k, Signature: p.Blobs[k]})
	}
	o.RevokedIDs = p.RevokedKeyIDs
	if p.Keyring != "" {
		if o.RevokedKeys, err = KeyringRevocations(p.Keyring); err != nil {
			return o, err
		}
		lg.Printf("keyring %s: %d archived or revoked key(s) not trusted", p.Keyring, len(o.RevokedKeys))
	}
	o.Ledger, o.ExpectedLedgerHead = p.Ledger, p.LedgerHead
	o.Expect = Expect{Repository: p.ExpectRepo, Branch: p.ExpectBranch, BuilderPrefix: p.ExpectBuilder, Commit: p.ExpectCommit,
		Environment: p.Environment, MinApprovals: p.MinApprovals, RelayKeys: relay}
	return o, nil
}

func (p *StepParams) auditKey(ctx context.Context, o StepOptions) (*keys.Key, error) {
	ref, param := p.AuditKey, "auditKey"
	if ref == "" {
		ref, param = o.AuditKeyFile, "auditKeyCredentialsId"
	}
	r, err := keys.ParseRef(ref)
	if err == nil {
		var k *keys.Key
		if k, err = keys.Load(ctx, r, o.AuditLoad); err == nil {
			return k, nil
		}
	}
	return nil, result.Errorf(result.ClassOf(err), "%s: %w", param, err)
}

// CheckItem returns the result item of one evidence check and logs one line.
func CheckItem(ch Check, lg *log.Logger) result.Item {
	it := result.Item{Name: ch.Name, Kind: "evidence", DurationMS: ch.Duration.Milliseconds(), Details: ch.Details}
	if ch.Err != nil {
		it.FailureClass, it.Message = result.ClassOf(ch.Err), ch.Err.Error()
		lg.Printf("%s: %s: %v", ch.Name, it.FailureClass, ch.Err)
	} else if w, _ := ch.Details["warning"].(string); w != "" {
		it.Status, it.Message = result.StatusPassed, "warning: "+w
		lg.Printf("%s: passed with a warning: %s", ch.Name, w)
	} else {
		it.Status = result.StatusPassed
		lg.Printf("%s: passed", ch.Name)
	}
	return it
}

// StepSummary returns the verifyRelease console lines: the outcome with the digest, then one line per item.
func StepSummary(p *StepParams, status, digest, traceID string, items []result.Item) []string {
	what := p.Environment
	if p.Rollback {
		what = "rollback for " + p.Environment
	}
	if digest == "" {
		digest = "-"
	}
	lines := []string{fmt.Sprintf("verifyRelease: %s: %s %s (trace %s)", what, status, digest, traceID)}
	for _, it := range items {
		msg := ""
		if it.Message != "" {
			msg = ": " + it.Message
		}
		lines = append(lines, fmt.Sprintf("verifyRelease:   %s %s%s", it.Name, it.Status, msg))
	}
	return lines
}
