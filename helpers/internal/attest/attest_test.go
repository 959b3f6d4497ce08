package attest

import (
	"context"
	"crypto"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/breaker/breakertest"
	"github.com/release-gates/release-gates/helpers/internal/decision"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/ledger"
	"github.com/release-gates/release-gates/helpers/internal/params"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func TestMain(m *testing.M) { breakertest.Main(m) }

var buildContext = params.Context{GitURL: "https://git.example.com/orders.git", GitCommit: strings.Repeat("ab", 20), Branch: "main",
	BuildURL: "https://ci.example.com/job/orders/7/"}

func decode(t *testing.T, doc string, c params.Context) (*Params, error) {
	t.Helper()
	var p Params
	if err := params.Decode(json.RawMessage(doc), &p); err != nil {
		return nil, err
	}
	p.FromContext(c)
	return &p, p.Validate()
}

func TestValidateNamesTheJenkinsfileKey(t *testing.T) {
	cases := []struct {
		doc  string
		ctx  params.Context
		want string
	}{
		{`{"releaseKey":"k","environment":"prod"}`, buildContext, "nothing to attest: set image"},
		{`{"releaseKey":"k","image":"r/i@sha256:x"}`, buildContext, "parameter 'environment' is required for the approval attestation (or pass approval: null to skip it)"},
		{`{"releaseKey":"k","image":"r/i","approval":null}`, params.Context{GitCommit: "c", BuildURL: "b"}, "missing repo (env.GIT_URL is not set), branch (env.BRANCH_NAME is not set)"},
		{`{"image":"r/i","environment":"prod"}`, buildContext, "set releaseKey or releaseKeyCredentialsId"},
		{`{"releaseKey":"k","releaseKeyCredentialsId":"c","image":"r/i","environment":"prod"}`, buildContext, "set releaseKey or releaseKeyCredentialsId, not both"},
		{`{"releaseKey":"k","auditKey":"a","auditKeyCredentialsId":"c","image":"r/i","environment":"prod"}`, buildContext, "set auditKey or auditKeyCredentialsId, not both"},
		{`{"releaseKey":"pkcs11:token=r;object=k;pin-value=s3cret-PIN-qx","image":"r/i","environment":"prod"}`, buildContext, "a pin-value in releaseKey is refused"},
		{`{"releaseKey":"k","auditKey":"pkcs11:token=a?pin-value=1","image":"r/i","environment":"prod"}`, buildContext, "a pin-value in auditKey is refused"},
		{`{"releaseKey":"k","auditKey":"a","ledger":"","image":"r/i","approval":""}`, buildContext, "an audit key needs a ledger to append to: set ledger"},
		{`{"releaseKey":"k","blobs":["bin/orders","dist/orders"],"approval":null}`, buildContext, "two blobs are named orders"},
		{`{"releaseKey":"k","blobs":[" "],"approval":null}`, buildContext, "blobs must list files"},
		{`{"releaseKey":"k","blobs":["a"],"approval":null,"gateResults":[""]}`, buildContext, "gateResults must list result files"},
		{`{"releaseKey":"k","imgae":"r/i"}`, buildContext, "unknown parameter 'imgae' (did you mean 'image'?)"},
		{`{"releaseKey":"k","image":"r/i","environment":"prod"}`, buildContext, "relayPublicKey is required to attest an approval: only approvers in the relay-signed decision record count"},
		{`{"releaseKey":"k","image":"r/i","environment":"prod","relayPublicKey":"r.pub","relayPublicKeyCredentialsId":"relay"}`, buildContext, "set relayPublicKey or relayPublicKeyCredentialsId, not both"},
		{`{"releaseKey":"k","image":"r/i","approval":null,"relayPublicKeyCredentialsId":"relay"}`, buildContext, "but approval is null: drop relayPublicKey"},
	}
	for _, c := range cases {
		t.Run(c.doc, func(t *testing.T) {
			_, err := decode(t, c.doc, c.ctx)
			if err == nil || !strings.Contains(err.Error(), c.want) || result.ClassOf(err) != result.ClassInput {
				t.Fatalf("err = %v (%s), want input error %q", err, result.ClassOf(err), c.want)
			}
			if strings.Contains(err.Error(), "s3cret-PIN-qx") {
				t.Fatal("the PIN is echoed")
			}
		})
	}
	p, err := decode(t, `{"releaseKey":"k","blobs":["a"],"approval":null}`, buildContext)
	if err != nil || p.Approval != "" || p.Repo != buildContext.GitURL || p.BuilderID != buildContext.BuildURL {
		t.Fatalf("approval: null and the context defaults: %+v, %v", p, err)
	}
}

// fixture is a workspace with a release and an audit key, a blob, a gate result and slackApproval's result.
type fixture struct {
	dir, releaseKey, auditKey, auditPub string
	relayPub                            string // the relay's decision public key; the workspace's record is signed with it
	relay                               *decision.Signer
}

func setup(t *testing.T) fixture {
	t.Helper()
	dir := t.TempDir()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chdir(wd) })
	t.Setenv("RG_TEST_RELEASE_PASSWORD", "r")
	t.Setenv("RG_TEST_AUDIT_PASSWORD", "a")
	for _, k := range []struct{ name, pass string }{{"release", "r"}, {"audit", "a"}} {
		if _, err := keys.GenerateFile(filepath.Join(dir, k.name), []byte(k.pass)); err != nil {
			t.Fatal(err)
		}
	}
	write := func(name, text string) {
		if err := os.MkdirAll(filepath.Dir(name), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(name, []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("bin/orders", "a Go binary, say")
	write(".release-gates/goBuildGate.json", `{"helper":"go-build-gate","verb":"run","status":"passed","trace_id":"rg-1","items":[{"name":"modverify","kind":"check","status":"passed"}]}`)
	write(".release-gates/slackApproval.json", `{"decision":"approved","environment":"prod","traceId":"rg-1","service":"orders","required":2,
		"approvers":[{"approver":"U02BOB","at":"2026-01-02T03:04:05Z"},{"approver":"U03CAROL"}],"auditFile":".release-gates/approval-audit.jsonl",
		"decisionRecord":".release-gates/slackApproval-decision.json","relayKeyId":"sha256:not-the-relay-key"}`)
	relay, err := decision.GenerateKey(filepath.Join(dir, "relay.key"))
	if err != nil {
		t.Fatal(err)
	}
	write("relay.pub", string(relay.PublicPEM()))
	sum := sha256.Sum256([]byte("a Go binary, say"))
	rec := decision.Record{RequestID: "req-1", TraceID: "rg-1", Service: "orders", Environment: "prod", Commit: buildContext.GitCommit,
		Digests: []string{"sha256:" + hex.EncodeToString(sum[:])}, Rule: decision.Rule{Service: "orders", Environment: "prod", Required: 2}, Decision: "approved"}
	for _, a := range []string{"U02BOB", "U03CAROL"} {
		rec.Approvers = append(rec.Approvers, decision.Approver{SlackID: a, Name: a, Decision: "approve", EventID: "1-" + a, At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	}
	env, err := relay.Sign(rec)
	if err != nil {
		t.Fatal(err)
	}
	write(".release-gates/slackApproval-decision.json", string(env))
	write(".release-gates/slackApproval-rule.json", `{"data":{"rule":{"allowSelfApproval":false}}}`)
	write(".release-gates/approval-audit.jsonl", `{"time":"2026-01-02T03:04:05Z","event":"approved","trace_id":"rg-1","user":"U02BOB","by":"bob","environment":"prod"}`+"\n")
	return fixture{dir: dir, releaseKey: filepath.Join(dir, "release.key"), auditKey: filepath.Join(dir, "audit.key"), auditPub: filepath.Join(dir, "audit.pub"),
		relayPub: filepath.Join(dir, "relay.pub"), relay: relay}
}

func (f fixture) run(t *testing.T, doc string) *Outcome {
	t.Helper()
	p, err := decode(t, doc, buildContext)
	if err != nil {
		t.Fatal(err)
	}
	return Run(context.Background(), p, RunOptions{AuditKeyFile: f.auditKey, RelayKeyFile: f.relayPub, ReleaseLoad: keys.LoadOptions{PasswordEnv: "RG_TEST_RELEASE_PASSWORD"},
		AuditLoad: keys.LoadOptions{PasswordEnv: "RG_TEST_AUDIT_PASSWORD"}, TraceID: "rg-1", Helper: "release-evidence", ResultFile: ".release-gates/attestRelease.json"})
}

func TestRunAttestsProvenanceAndTheApprovalAndChainsEverythingInTheLedger(t *testing.T) {
	f := setup(t)
	out := f.run(t, `{"blobs":["bin/orders"],"environment":"prod","releaseKey":"`+f.releaseKey+`","auditKeyCredentialsId":"audit-key","relayPublicKeyCredentialsId":"relay-pub"}`)
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	if strings.Join(out.Stages, ",") != "provenance,approval,audit" {
		t.Fatalf("stages %v", out.Stages)
	}
	for _, k := range []string{"provenance", "approval"} {
		if _, err := os.Stat(".release-gates/attestations/orders." + k + ".intoto.json"); err != nil {
			t.Fatal(err)
		}
	}
	m := out.Combined
	if m["ledger"] != ".release-gates/audit.jsonl" || m["ledgerHead"] == nil || strings.Join(m["approvers"].([]string), ",") != "U02BOB,U03CAROL" {
		t.Fatalf("combined %v", m)
	}
	pub, _, err := keys.LoadPublic(context.Background(), f.auditPub, keys.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	rep, err := ledger.Verify(".release-gates/audit.jsonl", ledger.VerifyOptions{Keys: []crypto.PublicKey{pub}, ExpectHead: m["ledgerHead"].(string)})
	if err != nil || rep.Records != 4 {
		t.Fatalf("ledger: %d records (want gate, two attestation results, one approval line): %v", rep.Records, err)
	}
	appr := out.Results["approval"].Items[0]
	if appr.Details["rule"] != "orders/prod" {
		t.Fatalf("approval item %+v", appr)
	}
	env, err := os.ReadFile(".release-gates/attestations/orders.approval.intoto.json")
	if err != nil {
		t.Fatal(err)
	}
	var dsse struct{ Payload []byte }
	if err := json.Unmarshal(env, &dsse); err != nil || !strings.Contains(string(dsse.Payload), `"user":"U02BOB","at":"2026-01-02T03:04:05Z"`) {
		t.Fatalf("the approval does not carry the time the relay recorded: %s (%v)", dsse.Payload, err)
	}
	if !strings.Contains(string(dsse.Payload), `"relayKeyId":"`+f.relay.KeyID+`"`) {
		t.Fatalf("the approval does not name the relay key that verified the record (relayPublicKeyCredentialsId): %s", dsse.Payload)
	}
	if sum := strings.Join(out.Summary(), "\n"); !strings.Contains(sum, "record(s) appended to .release-gates/audit.jsonl") || !strings.Contains(sum, "no gate result .release-gates/signArtifacts.json") {
		t.Fatalf("summary:\n%s", sum)
	}
	if a := out.Archive(); len(a) != 6 || a[len(a)-1] != ".release-gates/audit.jsonl" {
		t.Fatalf("archive %v", a)
	}
}

func TestRunRefusesAnApprovalThatDoesNotBackThisRelease(t *testing.T) {
	cases := []struct{ approval, want string }{
		{`{"decision":"rejected","environment":"prod","traceId":"rg-1","approvers":[{"approver":"U1"}]}`, "records decision 'rejected', not approved"},
		{`{"decision":"approved","environment":"staging","traceId":"rg-1","approvers":[{"approver":"U1"}]}`, "approves environment 'staging', not 'prod'"},
		{`{"decision":"approved","environment":"prod","traceId":"rg-old","approvers":[{"approver":"U1"}]}`, "belongs to trace rg-old, not this build's rg-1"},
		{`{"decision":"approved","environment":"prod","traceId":"rg-1","approvers":[]}`, "lists no approvers"},
	}
	for _, c := range cases {
		t.Run(c.want, func(t *testing.T) {
			f := setup(t)
			_ = os.WriteFile(".release-gates/slackApproval.json", []byte(c.approval), 0o644)
			out := f.run(t, `{"blobs":["bin/orders"],"environment":"prod","releaseKey":"`+f.releaseKey+`","relayPublicKey":"`+f.relayPub+`"}`)
			if out.Err == nil || !strings.Contains(out.Err.Error(), c.want) || result.ClassOf(out.Err).ExitCode() != result.ExitRejected || len(out.Stages) != 0 {
				t.Fatalf("err %v, stages %v", out.Err, out.Stages)
			}
			if _, err := os.Stat(".release-gates/attestations/orders.provenance.intoto.json"); err == nil {
				t.Fatal("attested although the approval does not back the release")
			}
		})
	}
	f := setup(t)
	_ = os.Remove(".release-gates/slackApproval.json")
	out := f.run(t, `{"blobs":["bin/orders"],"environment":"prod","releaseKey":"`+f.releaseKey+`","relayPublicKey":"`+f.relayPub+`"}`)
	if out.Err == nil || !strings.Contains(out.Err.Error(), "approval result .release-gates/slackApproval.json not found") || result.ClassOf(out.Err) != result.ClassInput {
		t.Fatalf("missing approval: %v", out.Err)
	}
}

func TestRunStillRecordsAFailedAttemptInTheLedger(t *testing.T) {
	f := setup(t)
	out := f.run(t, `{"blobs":["bin/orders"],"environment":"prod","releaseKey":"`+filepath.Join(f.dir, "missing.key")+`","auditKeyCredentialsId":"audit-key","relayPublicKey":"`+f.relayPub+`"}`)
	if out.Failed != "provenance" || result.ClassOf(out.Err) != result.ClassInput || !strings.HasPrefix(out.Message(), "attest provenance: releaseKey: reading key file ") {
		t.Fatalf("failed %q: %v", out.Failed, out.Err)
	}
	if strings.Join(out.Stages, ",") != "provenance,audit" || out.Results["audit"].ExitCode != 0 {
		t.Fatalf("stages %v, audit %+v", out.Stages, out.Results["audit"])
	}
	if out.Combined["exit_code"] != result.ExitInput || out.Combined["ledgerHead"] == nil {
		t.Fatalf("combined %v", out.Combined)
	}
}

func TestRunNeverAttestsTheApproversOfAWorkspaceFileWithoutARelaySignedRecord(t *testing.T) {
	forged := `{"decision":"approved","environment":"prod","traceId":"rg-1","service":"orders","required":2,
		"approvers":[{"approver":"U02BOB"},{"approver":"U03CAROL"},{"approver":"U09MALLORY"}]}`
	f := setup(t)
	_ = os.WriteFile(".release-gates/slackApproval.json", []byte(forged), 0o644)
	// Without the relay's key, nothing runs.
	if _, err := decode(t, `{"blobs":["bin/orders"],"environment":"prod","releaseKey":"`+f.releaseKey+`"}`, buildContext); err == nil ||
		result.ClassOf(err).ExitCode() != result.ExitInput || !strings.Contains(err.Error(), "relayPublicKey is required to attest an approval") {
		t.Fatalf("no relay key: %v (class %s), want exit 2 naming relayPublicKey", err, result.ClassOf(err))
	}
	// With it, a file that names no record is refused before anything is signed.
	out := f.run(t, `{"blobs":["bin/orders"],"environment":"prod","releaseKey":"`+f.releaseKey+`","relayPublicKey":"`+f.relayPub+`"}`)
	if out.Err == nil || result.ClassOf(out.Err).ExitCode() != result.ExitInput || !strings.Contains(out.Err.Error(), "names no decisionRecord") || len(out.Stages) != 0 {
		t.Fatalf("no record: %v (class %s), stages %v; want exit 2", out.Err, result.ClassOf(out.Err), out.Stages)
	}
	if len(out.Combined["approvers"].([]string)) != 0 {
		t.Fatalf("the workspace file's approvers are reported: %v", out.Combined["approvers"])
	}
	for _, k := range []string{"provenance", "approval"} {
		if _, err := os.Stat(".release-gates/attestations/orders." + k + ".intoto.json"); err == nil {
			t.Fatalf("%s attested without a relay-signed record", k)
		}
	}
}
