package attest

import (
	"path/filepath"
	"strings"

	"github.com/release-gates/release-gates/helpers/internal/params"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Params is the attestRelease step's Map; one field per parameter.
type Params struct {
	Image                        string   `json:"image" doc:"image to attest: repo@sha256:... (a tag is resolved once); usually the digest signArtifacts signed." example:"'registry.example.com/orders@sha256:...'"`
	Blobs                        []string `json:"blobs" default:"[]" doc:"files to attest; their envelopes go to outDir/<name>.<kind>.intoto.json." example:"['bin/orders', 'go.sum']"`
	OutDir                       string   `json:"outDir" default:"\".release-gates/attestations\"" doc:"where blob attestations are written." example:"'dist/attestations'"`
	Environment                  string   `json:"environment" need:"required with approval" doc:"the environment approved for." example:"'prod'"`
	Approval                     string   `json:"approval" default:"\".release-gates/slackApproval.json\"" null:"empty" doc:"slackApproval's result file; null (or '') attests no approval." example:"null"`
	RelayPublicKey               string   `json:"relayPublicKey" doc:"the relay's decision public key (PEM): the approval's relay-signed decision record must verify with it and back this image, environment and commit; it is embedded in the approval attestation. Unset: no record is embedded." example:"'keys/relay.pub'"`
	Rule                         string   `json:"rule" doc:"approval rule name; default '<service>/<environment>' of the approval." example:"'orders-prod'"`
	GateResults                  []string `json:"gateResults" default:"[\".release-gates/goBuildGate.json\",\".release-gates/signArtifacts.json\"]" doc:"earlier steps' result files recorded in the provenance and the ledger; missing ones are skipped." example:"['.release-gates/goBuildGate.json']"`
	Repo                         string   `json:"repo" doc:"git repository URL; default env.GIT_URL." example:"'https://git.example.com/shop/orders.git'"`
	Commit                       string   `json:"commit" doc:"full commit id; default env.GIT_COMMIT." example:"'3f1c9a0b...'"`
	Branch                       string   `json:"branch" doc:"branch; default env.BRANCH_NAME." example:"'main'"`
	BuilderID                    string   `json:"builderId" doc:"builder id (the Jenkins build URL); default env.BUILD_URL." example:"'https://ci.example.com/job/orders/42/'"`
	Module                       string   `json:"module" doc:"Go module path." example:"'example.com/orders'"`
	GoVersion                    string   `json:"goVersion" doc:"Go toolchain version." example:"'go1.26.8'"`
	GOOS                         string   `json:"goos" doc:"target GOOS." example:"'linux'"`
	GOARCH                       string   `json:"goarch" doc:"target GOARCH." example:"'amd64'"`
	ReleaseKey                   string   `json:"releaseKey" need:"required unless releaseKeyCredentialsId" doc:"release (attestation) signing key: a path, file:// or pkcs11: URI (no pin-value)." example:"'pkcs11:token=release;object=attest?module-path=/usr/lib/softhsm/libsofthsm2.so'"`
	ReleaseKeyCredentialsID      string   `json:"releaseKeyCredentialsId" need:"required unless releaseKey" doc:"file credential holding the encrypted release key (bound as RG_RELEASE_KEY)." example:"'release-key'"`
	ReleasePasswordCredentialsID string   `json:"releasePasswordCredentialsId" doc:"secret text: the release key password (bound as COSIGN_PASSWORD)." example:"'release-password'"`
	ReleasePinCredentialsID      string   `json:"releasePinCredentialsId" doc:"secret text: the release key's PKCS#11 PIN (bound as PKCS11_PIN)." example:"'hsm-pin'"`
	Ledger                       string   `json:"ledger" default:"\".release-gates/audit.jsonl\"" doc:"audit ledger the evidence is appended to (with an audit key); with an image, a ledger checkpoint (its head, signed with the release key) is attached to the image for verifyRelease." example:"'.release-gates/orders-audit.jsonl'"`
	AuditKey                     string   `json:"auditKey" doc:"audit key: a path, file:// or pkcs11: URI (no pin-value); unset (and no auditKeyCredentialsId): no ledger." example:"'keys/audit.key'"`
	AuditKeyCredentialsID        string   `json:"auditKeyCredentialsId" doc:"file credential holding the encrypted audit key (bound as RG_AUDIT_KEY)." example:"'audit-key'"`
	AuditPasswordCredentialsID   string   `json:"auditPasswordCredentialsId" doc:"secret text: the audit key password (bound as RG_AUDIT_PASSWORD)." example:"'audit-password'"`
	AuditPinCredentialsID        string   `json:"auditPinCredentialsId" doc:"secret text: the audit key's PKCS#11 PIN (bound as RG_AUDIT_PIN)." example:"'audit-pin'"`
	RegistryCredentialsID        string   `json:"registryCredentialsId" doc:"username/password credential for the registry (bound as REGISTRY_USERNAME/REGISTRY_PASSWORD)." example:"'registry-push'"`
	PlainHTTP                    bool     `json:"plainHttp" default:"false" doc:"allow plain HTTP to the registry." example:"true"`
	ResultFile                   string   `json:"resultFile" default:"\".release-gates/attestRelease.json\"" doc:"result JSON; each stage writes <base>-<provenance|approval|audit|checkpoint>.json beside it." example:"'.release-gates/attest.json'"`
}

// FromContext fills repo, commit, branch and builderId from the build context where the Map leaves them unset.
func (p *Params) FromContext(c params.Context) {
	def := func(v *string, d string) {
		if *v == "" {
			*v = d
		}
	}
	def(&p.Repo, c.GitURL)
	def(&p.Commit, c.GitCommit)
	def(&p.Branch, c.Branch)
	def(&p.BuilderID, c.BuildURL)
}

func inputf(format string, args ...any) error {
	return result.Errorf(result.ClassInput, format, args...)
}

// Validate checks the cross-parameter rules (after FromContext); each message names the Jenkinsfile key.
func (p *Params) Validate() error {
	if p.Image == "" && len(p.Blobs) == 0 {
		return inputf("nothing to attest: set image (usually the digest signArtifacts signed) and/or blobs (see vars/attestRelease.txt)")
	}
	var missing []string
	for _, m := range []struct{ key, env, val string }{{"repo", "GIT_URL", p.Repo}, {"commit", "GIT_COMMIT", p.Commit}, {"branch", "BRANCH_NAME", p.Branch}, {"builderId", "BUILD_URL", p.BuilderID}} {
		if m.val == "" {
			missing = append(missing, m.key+" (env."+m.env+" is not set)")
		}
	}
	if len(missing) > 0 {
		return inputf("missing %s: the provenance names the source and the builder (see vars/attestRelease.txt)", strings.Join(missing, ", "))
	}
	if p.ReleaseKey == "" && p.ReleaseKeyCredentialsID == "" {
		return inputf("attestations are signed with the release key: set releaseKey or releaseKeyCredentialsId")
	}
	if p.ReleaseKey != "" && p.ReleaseKeyCredentialsID != "" {
		return inputf("set releaseKey or releaseKeyCredentialsId, not both")
	}
	if p.AuditKey != "" && p.AuditKeyCredentialsID != "" {
		return inputf("set auditKey or auditKeyCredentialsId, not both")
	}
	for _, k := range []struct{ key, val, pin string }{{"releaseKey", p.ReleaseKey, "releasePinCredentialsId"}, {"auditKey", p.AuditKey, "auditPinCredentialsId"}} {
		if strings.Contains(strings.ToLower(k.val), "pin-value") {
			return inputf("a pin-value in %s is refused (it would be on the command line and in the log): use %s", k.key, k.pin)
		}
	}
	if p.Approval != "" && p.Environment == "" {
		return inputf("parameter 'environment' is required for the approval attestation (or pass approval: null to skip it)")
	}
	if p.RelayPublicKey != "" && p.Approval == "" {
		return inputf("relayPublicKey checks the approval's decision record, but approval is null: drop relayPublicKey or set approval")
	}
	if p.HasAuditKey() && p.Ledger == "" {
		return inputf("an audit key needs a ledger to append to: set ledger")
	}
	names := map[string]bool{}
	for _, b := range p.Blobs {
		if strings.TrimSpace(b) == "" {
			return inputf("blobs must list files, e.g. blobs: ['bin/orders', 'go.sum']; got ''")
		}
		n := filepath.Base(b)
		if names[n] {
			return inputf("two blobs are named %s: their attestations would overwrite each other in outDir '%s'", n, p.OutDir)
		}
		names[n] = true
	}
	for _, g := range p.GateResults {
		if strings.TrimSpace(g) == "" {
			return inputf("gateResults must list result files, e.g. gateResults: ['.release-gates/goBuildGate.json']")
		}
	}
	return nil
}

// HasAuditKey reports whether the Map names an audit key (then the evidence goes to the ledger).
func (p *Params) HasAuditKey() bool { return p.AuditKey != "" || p.AuditKeyCredentialsID != "" }

// Env vars the attestRelease step's credentials are bound to; the audit key's secrets have their own names, since both keys are bound for the one call.
const (
	ReleaseKeyEnv      = "RG_RELEASE_KEY"
	AuditKeyEnv        = "RG_AUDIT_KEY"
	AuditPasswordEnv   = "RG_AUDIT_PASSWORD"
	AuditPINEnv        = "RG_AUDIT_PIN"
	ReleasePasswordEnv = "COSIGN_PASSWORD"
	ReleasePINEnv      = "PKCS11_PIN"
)

// Step declares the attestRelease pipeline step.
var Step = params.Step{
	Name:   "attestRelease",
	Helper: "release-evidence",
	Params: func() params.Validator { return &Params{} },
	Credentials: []params.Credential{
		{Param: "releaseKeyCredentialsId", Kind: params.KindFile, Role: "releaseKey", Variable: ReleaseKeyEnv},
		{Param: "releasePasswordCredentialsId", Kind: params.KindString, Role: "releasePassword", Variable: ReleasePasswordEnv},
		{Param: "releasePinCredentialsId", Kind: params.KindString, Role: "releasePin", Variable: ReleasePINEnv},
		{Param: "auditKeyCredentialsId", Kind: params.KindFile, Role: "auditKey", Variable: AuditKeyEnv},
		{Param: "auditPasswordCredentialsId", Kind: params.KindString, Role: "auditPassword", Variable: AuditPasswordEnv},
		{Param: "auditPinCredentialsId", Kind: params.KindString, Role: "auditPin", Variable: AuditPINEnv},
		{Param: "registryCredentialsId", Kind: params.KindUsernamePassword, Role: "registry", UsernameVariable: "REGISTRY_USERNAME", PasswordVariable: "REGISTRY_PASSWORD"},
	},
	Help: `attestRelease: signs the release evidence verifyRelease checks, with the release-evidence helper:
  provenance  SLSA v1 provenance (https://slsa.dev/provenance/v1) naming the source (repo, commit, branch), the builder
              (the Jenkins build URL) and the gate results, for the image (attached as cosign does, sha256-<hex>.att)
              and each blob (outDir/<name>.provenance.intoto.json).
  approval    from slackApproval's result file: who approved, when, under which rule (approval attestation), unless
              approval is null.
  ledger      with an audit key, the gate results, the attestation results and the approval's audit lines are
              appended to the signed, hash-chained audit ledger; with an image, a ledger checkpoint (the ledger's
              head and record count, https://release-gates.dev/ledger-checkpoint/v1, signed with the release key)
              is attached to it, so verifyRelease refuses a ledger cut off before it without ledgerHead.

Needs an executor (call it inside node, after slackApproval, on the agent that holds its result). The runner checks
the Map against resources/steps/attestRelease.json and runs one labelled sh ("attestRelease: run":
release-evidence run). The helper checks that the approval belongs to this build (decision approved, the same
environment, this build's trace id, at least one approver) before signing anything. The release key's secrets are
bound as RG_RELEASE_KEY, COSIGN_PASSWORD and PKCS11_PIN; the audit key's as RG_AUDIT_KEY, RG_AUDIT_PASSWORD and
RG_AUDIT_PIN; the params file names only these variables.

Returns a Map: status, exit_code, message, trace_id, items (one per attestation), attestations (their locations),
approvers, ledger and ledgerHead (null without an audit key), resultFiles, results (provenance, approval, audit, checkpoint).

Fails the build with:
  attestRelease: rejected: ...                          the approval does not back this release, or too few approvers (exit 1)
  attestRelease: bad input or configuration: ...        a bad parameter, a missing file or key password (exit 2)
  attestRelease: infrastructure unavailable: ... (retry later)   the registry or HSM did not answer (exit 3)
  attestRelease: unknown parameter 'x' ...              a key not listed below (before anything runs)`,
	Footer: `Example:
  def att = attestRelease(image: signed.results.imageSign.items[0].details.digest, environment: 'prod',
                          releaseKeyCredentialsId: 'release-key', releasePasswordCredentialsId: 'release-password',
                          auditKeyCredentialsId: 'audit-key', auditPasswordCredentialsId: 'audit-password')
  echo "attested ${att.items.size()}; ledger head ${att.ledgerHead}"`,
}
