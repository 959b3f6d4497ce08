package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/release/releasetest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func (f fixture) verifyDoc(t *testing.T, p map[string]any) string {
	t.Helper()
	base := map[string]any{"plainHttp": true, "cosignKeys": []string{f.kit.CosignPub}, "trustPolicy": f.kit.TrustPolicy, "trustStore": f.kit.TrustStore,
		"releaseKeys": []string{f.kit.ReleasePub}, "expectRepo": releasetest.Repo, "expectBranch": releasetest.Branch, "environment": "prod", "minApprovals": 2,
		"relayPublicKeys": []string{f.kit.RelayPub}}
	for k, v := range p {
		base[k] = v
	}
	b, err := json.Marshal(map[string]any{"step": "verifyRelease", "params": base, "context": map[string]any{"jobUrl": releasetest.Builder}, "secrets": map[string]any{}})
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, t.TempDir(), "verifyRelease.params.json", string(b))
}

func TestRunVerifiesTheReleaseTheStepsDocumentNamesAndRecordsIt(t *testing.T) {
	f := setup(t)
	rel := f.build(t, releasetest.Spec{})
	index := filepath.Join(t.TempDir(), "releases.jsonl")
	code, r, stdout, stderr := run(t, 1, "run", "--params", f.verifyDoc(t, map[string]any{"image": rel.Digest, "index": index, "auditKey": f.auditKey}))
	if code != 0 || stdout != rel.Digest+"\n" {
		t.Fatalf("exit %d: %s\n%s", code, r.Message, stderr)
	}
	if r.Returns["digest"] != rel.Digest || r.Returns["status"] != "passed" || !strings.HasPrefix(r.Summary[0], "verifyRelease: prod: passed "+rel.Digest) {
		t.Fatalf("returns %v, summary %q", r.Returns, r.Summary)
	}
	if b, err := os.ReadFile(index); err != nil || !strings.Contains(string(b), rel.Digest) {
		t.Fatalf("the verified release is not in the index: %v", err)
	}
	// Rollback through the same contract finds it again.
	code, r, stdout, _ = run(t, 1, "run", "--params", f.verifyDoc(t, map[string]any{"rollback": true, "index": index, "auditPubs": []string{f.auditPub}, "auditKey": f.auditKey}))
	if code != 0 || stdout != rel.Digest+"\n" || r.Returns["rollback"] != true {
		t.Fatalf("rollback exit %d: %s", code, r.Message)
	}
}

func TestRunChecksTheLedgerHeadTheStepsDocumentNames(t *testing.T) {
	f := setup(t)
	rel := f.build(t, releasetest.Spec{})
	path, _, head := f.auditChain(t, 2)
	code, r, _, _ := run(t, 1, "run", "--params", f.verifyDoc(t, map[string]any{"image": rel.Digest, "ledger": path, "ledgerHead": head, "auditKey": f.auditKey}))
	if code != 0 || r.Data["ledger_head"] == nil || r.Data["ledger_head"] == head {
		t.Fatalf("exit %d: %s; ledger_head %v must move on from %s", code, r.Message, r.Data["ledger_head"], head)
	}
	code, r, stdout, _ := run(t, 1, "run", "--params", f.verifyDoc(t, map[string]any{"image": rel.Digest, "ledger": path, "ledgerHead": head, "auditKey": f.auditKey}))
	if code != result.ExitRejected || stdout != "" || !strings.Contains(r.Message, head) {
		t.Fatalf("a ledger that no longer ends at ledgerHead: exit %d: %s", code, r.Message)
	}
}

func TestRunRefusesBadDocumentsWithTheJenkinsfileKey(t *testing.T) {
	f := setup(t)
	cases := []struct {
		doc  string
		want string
	}{
		{f.verifyDoc(t, map[string]any{"image": "r/i@sha256:" + strings.Repeat("0", 64), "ledger": "l.jsonl"}), "index, ledger and rollback records are signed: set auditKey"},
		{f.verifyDoc(t, map[string]any{"image": "r/i", "expectBrnach": "main"}), "unknown parameter 'expectBrnach' (did you mean 'expectBranch'?)"},
		{writeFile(t, t.TempDir(), "p.json", `{"step":"goBuildGate","params":{}}`), "takes the attestRelease or verifyRelease step's params, not goBuildGate's"},
		{writeFile(t, t.TempDir(), "p.json", `{"step":"attestRelease","params":{"blobs":["a"],"approval":null}}`), "missing repo (env.GIT_URL is not set)"},
	}
	for _, c := range cases {
		code, r, stdout, _ := run(t, 1, "run", "--params", c.doc)
		if code != result.ExitInput || !strings.Contains(r.Message, c.want) || stdout != "" {
			t.Errorf("exit %d: %s; want exit 2 with %q", code, r.Message, c.want)
		}
	}
}
