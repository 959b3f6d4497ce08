package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/hsm/softhsmtest"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/peertest"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/release/releasetest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// run drives release-evidence in-process; the result file goes right after the verb path.
func run(t *testing.T, verbs int, args ...string) (int, result.Result, string, string) {
	t.Helper()
	rf := filepath.Join(t.TempDir(), "result.json")
	full := append([]string{"release-evidence", "--trace-id", "rg-cli-test"}, args[:verbs]...)
	full = append(append(full, "--result-file", rf), args[verbs:]...)
	var out, errb bytes.Buffer
	code := app.Run(context.Background(), newApp(), full, &out, &errb)
	var r result.Result
	b, err := os.ReadFile(rf)
	if err != nil {
		t.Fatalf("no result file (exit %d): %s", code, errb.String())
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return code, r, out.String(), errb.String()
}

type fixture struct {
	kit      *releasetest.Kit
	rc       *registry.Client
	host     string
	pass     string
	auditKey string // a pkcs11: URI on the shared SoftHSM token: no scrypt on every call
	auditPub string
}

var (
	hsmOnce        sync.Once
	hsmURI, hsmPEM string
	hsmErr         error
)

// hsmAuditKey returns the audit key on the shared SoftHSM token (created once per process) and sets PKCS11_PIN.
func hsmAuditKey(t *testing.T) (string, string) {
	t.Helper()
	tok := softhsmtest.Shared(t)
	t.Setenv(keys.PINEnv, tok.PIN)
	hsmOnce.Do(func() {
		hsmURI = tok.URI("cli-audit", []byte{0x77})
		ref, err := keys.ParseRef(hsmURI)
		if err != nil {
			hsmErr = err
			return
		}
		k, err := keys.GeneratePKCS11(context.Background(), ref, keys.LoadOptions{})
		if err != nil {
			hsmErr = err
			return
		}
		defer k.Close()
		b, err := k.PublicPEM()
		hsmPEM, hsmErr = string(b), err
	})
	if hsmErr != nil {
		t.Fatal(hsmErr)
	}
	return hsmURI, hsmPEM
}

func setup(t *testing.T) fixture {
	t.Helper()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	kit, err := releasetest.NewKit(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	uri, pem := hsmAuditKey(t)
	return fixture{kit: kit, rc: registry.New(registry.Options{PlainHTTP: true, Backoff: time.Millisecond}),
		host: strings.TrimPrefix(srv.URL, "http://"), pass: filepath.Join(kit.Dir, "key.pass"),
		auditKey: uri, auditPub: writeFile(t, kit.Dir, "hsm-audit.pub", pem)}
}

func (f fixture) build(t *testing.T, s releasetest.Spec) releasetest.Release {
	t.Helper()
	r, err := f.kit.Build(context.Background(), f.rc, f.host, "orders", s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (f fixture) evidenceArgs(env string) []string {
	return []string{"--plain-http", "--cosign-key", f.kit.CosignPub, "--trust-policy", f.kit.TrustPolicy, "--trust-store", f.kit.TrustStore,
		"--release-key", f.kit.ReleasePub, "--expect-repo", releasetest.Repo, "--expect-branch", releasetest.Branch,
		"--expect-builder", releasetest.Builder, "--environment", env, "--min-approvals", "2", "--relay-pub", f.kit.RelayPub,
		"--audit-key", f.auditKey}
}

// recordArgs writes the relay-signed decision record approving rel for prod by approvers and returns the
// `attest approval` flags that attest it.
func (f fixture) recordArgs(t *testing.T, rel releasetest.Release, approvers ...string) []string {
	t.Helper()
	s := rel.Spec
	s.Approvers = approvers
	_, d, _ := strings.Cut(rel.Digest, "@")
	env, err := f.kit.Record(s, d, time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	return []string{"--decision-record", writeFile(t, t.TempDir(), "decision.json", string(env)), "--relay-pub", f.kit.RelayPub}
}

func writeFile(t *testing.T, dir, name, body string) string {
	t.Helper()
	p := filepath.Join(dir, name)
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestAuditAppendIngestsResultsAndApprovalsAndVerifyCatchesAnEdit(t *testing.T) {
	f := setup(t)
	if err := f.kit.WriteKeyFiles(); err != nil {
		t.Fatal(err)
	}
	f.auditPub = f.kit.AuditPub // this test signs with the file key, as a password-bound credential
	dir := t.TempDir()
	ledgerPath := filepath.Join(dir, "audit.jsonl")
	gate := writeFile(t, dir, "gate.json", `{"helper":"go-build-gate","verb":"run","status":"passed","trace_id":"rg-7","items":[{"name":"modverify","status":"passed"}]}`)
	slack := writeFile(t, dir, "slack.jsonl", `{"time":"2026-01-02T03:04:05Z","event":"approved","trace_id":"rg-7","user":"alice","environment":"prod"}`+"\n")
	code, r, _, stderr := run(t, 2, "audit", "append", "--ledger", ledgerPath, "--from-result", gate, "--from-audit", slack,
		"--audit-key", f.kit.AuditKeyFile, "--audit-password-file", f.pass)
	if code != 0 || len(r.Items) != 2 || r.Items[0].Details["trace_id"] != "rg-7" {
		t.Fatalf("append: exit %d %+v %s", code, r, stderr)
	}
	code, _, _, _ = run(t, 2, "audit", "append", "--ledger", ledgerPath, "--kind", "gate", "--status", "passed", "--audit-key", f.kit.AuditKeyFile, "--audit-password-file", f.pass)
	if code != 0 {
		t.Fatal("append one event failed")
	}
	if code, r, _, _ := run(t, 2, "audit", "verify", "--ledger", ledgerPath, "--pub", f.auditPub); code != 0 || r.Data["records"] != float64(3) {
		t.Fatalf("verify: exit %d %+v", code, r.Data)
	}
	b, _ := os.ReadFile(ledgerPath)
	os.WriteFile(ledgerPath, bytes.Replace(b, []byte(`alice`), []byte(`mallory`), 1), 0o644)
	code, r, _, _ = run(t, 2, "audit", "verify", "--ledger", ledgerPath, "--pub", f.auditPub)
	if code != result.ExitRejected || r.FailureClass != result.ClassTamper || !strings.Contains(r.Message, "record 2 is bad") {
		t.Fatalf("tampered: exit %d %s %s", code, r.FailureClass, r.Message)
	}
	for name, args := range map[string][]string{
		"a missing ledger":   {"audit", "verify", "--ledger", filepath.Join(dir, "none.jsonl"), "--pub", f.auditPub},
		"nothing to append":  {"audit", "append", "--ledger", ledgerPath, "--audit-key", f.kit.AuditKeyFile},
		"a wrong password":   {"audit", "append", "--ledger", ledgerPath, "--kind", "x", "--audit-key", f.kit.AuditKeyFile, "--audit-password-file", gate},
		"an unknown flag":    {"audit", "verify", "--ledger", ledgerPath, "--pubkey", f.auditPub},
		"a result that isnt": {"audit", "append", "--ledger", ledgerPath, "--from-result", slack, "--audit-key", f.kit.AuditKeyFile},
	} {
		t.Run(name, func(t *testing.T) {
			if code, r, _, _ := run(t, 2, args...); code != result.ExitInput {
				t.Fatalf("exit %d: %s", code, r.Message)
			}
		})
	}
}

func TestAuditAppendSignsWithAnHSMKey(t *testing.T) {
	tok := softhsmtest.Shared(t)
	t.Setenv(keys.PINEnv, tok.PIN)
	uri := tok.URI("audit-key", []byte{0x61})
	ref, err := keys.ParseRef(uri)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.GeneratePKCS11(context.Background(), ref, keys.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pem, _ := k.PublicPEM()
	k.Close()
	dir := t.TempDir()
	pub := writeFile(t, dir, "audit.pub", string(pem))
	ledgerPath := filepath.Join(dir, "audit.jsonl")
	if code, r, _, stderr := run(t, 2, "audit", "append", "--ledger", ledgerPath, "--kind", "gate", "--status", "passed", "--audit-key", uri); code != 0 {
		t.Fatalf("exit %d: %s %s", code, r.Message, stderr)
	}
	if code, r, _, _ := run(t, 2, "audit", "verify", "--ledger", ledgerPath, "--pub", pub); code != 0 {
		t.Fatalf("verify: %s", r.Message)
	}
}

func TestAttestThenVerifyPrintsOnlyTheDigestAndRecordsTheRelease(t *testing.T) {
	f := setup(t)
	rel := f.build(t, releasetest.Spec{NoProvenance: true, NoApproval: true})
	dir := t.TempDir()
	ledgerPath, index := filepath.Join(dir, "audit.jsonl"), filepath.Join(dir, "releases.jsonl")
	gate := writeFile(t, dir, "gate.json", `{"helper":"go-build-gate","verb":"run","status":"passed","items":[{"name":"apidiff","status":"passed"}]}`)
	if err := f.kit.WriteKeyFiles(); err != nil {
		t.Fatal(err)
	}
	keyArgs := []string{"--plain-http", "--release-key", f.kit.ReleaseKeyFile, "--release-password-file", f.pass,
		"--ledger", ledgerPath, "--audit-key", f.auditKey}
	code, r, _, stderr := run(t, 2, append([]string{"attest", "provenance", "--image", rel.Digest, "--blob", rel.Blob, "--out-dir", dir,
		"--builder-id", releasetest.Builder + "42/", "--repo", releasetest.Repo, "--branch", "main", "--commit", strings.Repeat("c", 40),
		"--gate-result", gate}, keyArgs...)...)
	if code != 0 || len(r.Items) != 2 || r.Items[0].Details["location"] == "" {
		t.Fatalf("attest provenance: exit %d %s %s", code, r.Message, stderr)
	}
	blobAtt := filepath.Join(dir, filepath.Base(rel.Blob)+".provenance.intoto.json")
	cmd := exec.Command(peertest.Tool(t, "cosign"), "verify-blob-attestation", "--key", f.kit.ReleasePub, "--signature", blobAtt,
		"--type", "slsaprovenance1", "--insecure-ignore-tlog=true", rel.Blob)
	cmd.Env = append(os.Environ(), "TUF_ROOT="+t.TempDir())
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("stock cosign rejects the blob attestation the CLI wrote: %v\n%s", err, out)
	}
	if code, r, _, _ := run(t, 2, append(append([]string{"attest", "approval", "--image", rel.Digest, "--environment", "prod", "--rule", "prod-two",
		"--min-approvals", "2"}, f.recordArgs(t, rel, "alice")...), keyArgs...)...); code != result.ExitRejected || r.FailureClass != result.ClassPolicy {
		t.Fatalf("an approval under its rule was attested: exit %d %s", code, r.Message)
	}
	if code, r, _, _ := run(t, 2, append(append([]string{"attest", "approval", "--image", rel.Digest, "--environment", "prod", "--rule", "prod-two",
		"--min-approvals", "2"}, f.recordArgs(t, rel, "alice", "bob")...), keyArgs...)...); code != 0 {
		t.Fatalf("attest approval: exit %d %s", code, r.Message)
	}
	args := append([]string{"verify", "--image", rel.Digest, "--blob", rel.Blob + "=" + rel.BlobSig, "--index", index, "--ledger", ledgerPath}, f.evidenceArgs("prod")...)
	code, r, stdout, stderr := run(t, 1, args...)
	if code != 0 || stdout != rel.Digest+"\n" || r.Data["digest"] != rel.Digest || r.TraceID != "rg-cli-test" {
		t.Fatalf("verify: exit %d stdout %q %s\n%s", code, stdout, r.Message, stderr)
	}
	if code, r, _, _ := run(t, 2, "audit", "verify", "--ledger", index, "--pub", f.auditPub); code != 0 || r.Data["records"] != float64(1) {
		t.Fatalf("index: %d %v", code, r.Data)
	}
	code, r, _, _ = run(t, 2, "audit", "verify", "--ledger", ledgerPath, "--pub", f.auditPub)
	if code != 0 || r.Data["records"] != float64(4) { // provenance image + blob, approval, release
		t.Fatalf("ledger: %d %v", code, r.Data)
	}

	t.Run("and renders the report from that chain", func(t *testing.T) {
		html, md, prom := filepath.Join(dir, "report.html"), filepath.Join(dir, "summary.md"), filepath.Join(dir, "release.prom")
		code, r, _, _ := run(t, 1, "report", "--ledger", ledgerPath, "--pub", f.auditPub, "--title", "orders", "--html", html, "--markdown", md, "--metrics", prom)
		if code != 0 || r.Data["outcome"] != "passed" {
			t.Fatalf("report: exit %d %s", code, r.Message)
		}
		h, _ := os.ReadFile(html)
		m, _ := os.ReadFile(md)
		if !strings.Contains(string(h), rel.Digest) || !strings.Contains(string(m), "Verified release") {
			t.Fatalf("report lacks the digest or the stage:\n%s", m)
		}
	})
}

func TestVerifyRejectsEachBadReleaseWithExitOneAndNoDigest(t *testing.T) {
	f := setup(t)
	cases := []struct {
		name  string
		spec  releasetest.Spec
		extra []string
		want  string
	}{
		{"a missing notation signature", releasetest.Spec{NoNotation: true}, nil, "notation: no signature found"},
		{"provenance from another branch", releasetest.Spec{Branch: "dev"}, nil, `branch is "dev"`},
		{"provenance from another builder", releasetest.Spec{Builder: "https://other.example/job/x/1/"}, nil, "builder is"},
		{"provenance for another commit", releasetest.Spec{}, []string{"--expect-commit", "deadbeef"}, "commit is"},
		{"a missing approval", releasetest.Spec{NoApproval: true}, nil, "no approval attestation for environment prod"},
		{"an approval for another environment", releasetest.Spec{Environment: "staging"}, nil, "approvals found for: staging"},
		{"an approval under N", releasetest.Spec{Approvers: []string{"alice"}, MinApprovals: 1}, nil, "needs 2"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			rel := f.build(t, c.spec)
			args := append(append([]string{"verify", "--image", rel.Digest}, f.evidenceArgs("prod")...), c.extra...)
			code, r, stdout, _ := run(t, 1, args...)
			if code != result.ExitRejected || stdout != "" || r.Data["digest"] != nil || !strings.Contains(r.Message, c.want) {
				t.Fatalf("exit %d stdout %q data %v: %s", code, stdout, r.Data, r.Message)
			}
		})
	}
	t.Run("a revoked key", func(t *testing.T) {
		rel := f.build(t, releasetest.Spec{})
		id, _ := keys.KeyID(f.kit.ReleaseKey.Public())
		code, r, stdout, _ := run(t, 1, append([]string{"verify", "--image", rel.Digest, "--revoked-key-id", id}, f.evidenceArgs("prod")...)...)
		if code != result.ExitRejected || stdout != "" || !strings.Contains(r.Message, "revoked: release key") {
			t.Fatalf("exit %d: %s", code, r.Message)
		}
	})
	t.Run("a missing trust policy is bad input", func(t *testing.T) {
		code, _, _, _ := run(t, 1, "verify", "--image", "x@sha256:"+strings.Repeat("0", 64), "--environment", "prod")
		if code != result.ExitInput {
			t.Fatalf("exit %d", code)
		}
	})
}

func TestRollbackChoosesTheNewestReleaseThatStillVerifies(t *testing.T) {
	f := setup(t)
	index := filepath.Join(t.TempDir(), "releases.jsonl")
	good := f.build(t, releasetest.Spec{TraceID: "rg-good"})
	current := f.build(t, releasetest.Spec{TraceID: "rg-current"})
	for _, r := range []releasetest.Release{good, current} {
		if code, res, _, _ := run(t, 1, append([]string{"verify", "--image", r.Digest, "--index", index}, f.evidenceArgs("prod")...)...); code != 0 {
			t.Fatalf("verify %s: %s", r.Digest, res.Message)
		}
	}
	// A release recorded in the index whose notation signature is missing now (e.g. cleaned up) must be skipped.
	broken := f.build(t, releasetest.Spec{TraceID: "rg-broken", NoNotation: true})
	if code, res, _, _ := run(t, 2, "audit", "append", "--ledger", index, "--kind", "release", "--status", "verified", "--environment", "prod",
		"--subject", broken.Digest, "--audit-key", f.auditKey); code != 0 {
		t.Fatal(res.Message)
	}
	args := append([]string{"rollback", "--index", index, "--index-pub", f.auditPub, "--current", current.Digest}, f.evidenceArgs("prod")...)
	code, r, stdout, stderr := run(t, 1, args...)
	if code != 0 || stdout != good.Digest+"\n" || r.Data["skipped"] != float64(1) {
		t.Fatalf("rollback: exit %d stdout %q %s\n%s", code, stdout, r.Message, stderr)
	}
	code, r, _, _ = run(t, 2, "audit", "verify", "--ledger", index, "--pub", f.auditPub)
	if code != 0 || r.Data["records"] != float64(4) {
		t.Fatalf("rollback not recorded: %v", r.Data)
	}
	t.Run("with no candidate left it fails with exit 1", func(t *testing.T) {
		args := append([]string{"rollback", "--index", index, "--index-pub", f.auditPub, "--current", current.Digest}, f.evidenceArgs("staging")...)
		code, r, stdout, _ := run(t, 1, args...)
		if code != result.ExitRejected || stdout != "" || !strings.Contains(r.Message, "no earlier release for environment staging") {
			t.Fatalf("exit %d %q: %s", code, stdout, r.Message)
		}
	})
}
