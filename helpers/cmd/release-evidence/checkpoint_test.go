package main

import (
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/ledger"
	"github.com/release-gates/release-gates/helpers/internal/provenance"
	"github.com/release-gates/release-gates/helpers/internal/release/releasetest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// attestDoc writes the attestRelease step's params document for image: provenance and ledger (the approval is the
// release kit's), the release key from a file, the audit key on the shared SoftHSM token.
func (f fixture) attestDoc(t *testing.T, image, ledgerPath string) string {
	t.Helper()
	t.Setenv("RG_TEST_RELEASE_PASSWORD", releasetest.KeyPassword)
	dir := t.TempDir()
	var gates []string
	for _, name := range []string{"goBuildGate", "signArtifacts"} {
		gates = append(gates, writeFile(t, dir, name+".json", `{"helper":"go-build-gate","verb":"run","status":"passed","trace_id":"rg-cli-test","items":[{"name":"`+name+`","status":"passed"}]}`))
	}
	doc := map[string]any{"step": "attestRelease", "params": map[string]any{"image": image, "approval": nil, "environment": "prod", "plainHttp": true,
		"releaseKey": f.kit.ReleaseKeyFile, "auditKey": f.auditKey, "ledger": ledgerPath, "gateResults": gates,
		"outDir": filepath.Join(t.TempDir(), "att"), "repo": releasetest.Repo, "branch": releasetest.Branch, "commit": strings.Repeat("c", 40)},
		"context": map[string]any{"buildUrl": releasetest.Builder + "42/"},
		"secrets": map[string]any{"releasePassword": "RG_TEST_RELEASE_PASSWORD", "auditPin": keys.PINEnv}}
	b, err := json.Marshal(doc)
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, t.TempDir(), "attestRelease.params.json", string(b))
}

func itemNamed(r result.Result, name string) *result.Item {
	for i := range r.Items {
		if r.Items[i].Name == name {
			return &r.Items[i]
		}
	}
	return nil
}

// TestVerifyRefusesALedgerCutBeforeTheReleasesCheckpointWithoutLedgerHead: attestRelease attaches a signed ledger
// checkpoint (once, however often it runs), stock cosign verifies it, and verifyRelease, given only the ledger,
// refuses the ledger once records up to the checkpoint are cut off, reordered or replaced.
func TestVerifyRefusesALedgerCutBeforeTheReleasesCheckpointWithoutLedgerHead(t *testing.T) {
	f := setup(t)
	rel := f.build(t, releasetest.Spec{NoProvenance: true})
	if err := f.kit.WriteKeyFiles(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	var heads []string
	for run_ := 0; run_ < 2; run_++ { // attestRelease, then again in the same build (a retried stage)
		code, r, _, stderr := run(t, 1, "run", "--params", f.attestDoc(t, rel.Digest, path))
		if code != 0 {
			t.Fatalf("attestRelease run %d: exit %d %s\n%s", run_, code, r.Message, stderr)
		}
		it := itemNamed(r, rel.Digest)
		var stages []string
		for _, s := range r.Data["stages"].([]any) {
			stages = append(stages, s.(string))
		}
		if strings.Join(stages, ",") != "provenance,audit,checkpoint" {
			t.Fatalf("stages %v", stages)
		}
		for _, i := range r.Items {
			if i.Kind == "checkpoint" {
				it = &i
			}
		}
		if it == nil || it.Kind != "checkpoint" || it.Details["predicate_type"] != ledger.CheckpointPredicateType {
			t.Fatalf("no checkpoint item: %+v", r.Items)
		}
		heads = append(heads, it.Details["ledger_head"].(string))
	}
	if got := attestations(t, f, rel.Digest); got[ledger.CheckpointPredicateType] != 1 {
		t.Fatalf("attestations after two attestRelease runs: %v, want one ledger checkpoint", got)
	}
	out, err := cosignPeer(t, "cosign", nil, "verify-attestation", "--key", f.kit.ReleasePub, "--type", ledger.CheckpointPredicateType, rel.Digest)
	if err != nil {
		t.Fatalf("stock cosign verify-attestation of the checkpoint: %v\n%s", err, out)
	}
	var env struct{ Payload []byte }
	for _, l := range strings.Split(out, "\n") {
		if strings.HasPrefix(l, "{") && json.Unmarshal([]byte(l), &env) == nil {
			break
		}
	}
	if !strings.Contains(string(env.Payload), `"head":"`+heads[0]+`"`) {
		t.Fatalf("stock cosign printed no checkpoint with head %s:\n%s", heads[0], out)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.SplitAfter(string(b), "\n")
	lines = lines[:len(lines)-1] // each ends with its newline
	n := 0                       // the checkpoint's record count: the first run's records
	for i, l := range lines {
		if strings.Contains(l, heads[0]) {
			n = i // the record after the checkpoint's names it as prev
			break
		}
	}
	if n < 3 || n >= len(lines) {
		t.Fatalf("the second run appended nothing after the checkpoint's head %s (%d records)", heads[0], len(lines))
	}
	verify := func(t *testing.T, ledgerLines []string) (int, result.Result) {
		t.Helper()
		p := filepath.Join(t.TempDir(), "audit.jsonl")
		if ledgerLines != nil {
			if err := os.WriteFile(p, []byte(strings.Join(ledgerLines, "")), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		code, r, _, _ := run(t, 1, "run", "--params", f.verifyDoc(t, map[string]any{"image": rel.Digest, "ledger": p, "auditKey": f.auditKey}))
		after, _ := os.ReadFile(p)
		if refused := code == result.ExitRejected; refused && string(after) != strings.Join(ledgerLines, "") {
			t.Fatalf("a refused ledger was written to (exit %d): %s", code, r.Message)
		} else if !refused && len(after) <= len(strings.Join(ledgerLines, "")) {
			t.Fatalf("a verified release's outcome was not appended (exit %d): %s", code, r.Message)
		}
		return code, r
	}
	t.Run("the whole ledger, and one with records appended after the checkpoint, verify", func(t *testing.T) {
		code, r := verify(t, lines)
		it := itemNamed(r, "ledger checkpoint")
		if code != 0 || it == nil || it.Status != result.StatusPassed || it.Message != "" || it.Details["head"] != heads[0] {
			t.Fatalf("exit %d %s; item %+v", code, r.Message, it)
		}
		if code, r := verify(t, lines[:n]); code != 0 { // exactly up to the checkpoint
			t.Fatalf("the ledger up to the checkpoint: exit %d %s", code, r.Message)
		}
	})
	for _, c := range []struct {
		name  string
		lines []string
		want  string
	}{
		{"the tail cut off before the checkpoint", lines[:n-1], "records were cut off the end"},
		{"only the first record left", lines[:1], "records were cut off the end"},
		{"the whole ledger deleted", nil, "has 0 record(s)"},
	} {
		t.Run(c.name, func(t *testing.T) {
			code, r := verify(t, c.lines)
			if code != result.ExitRejected || !strings.Contains(r.Message, c.want) || !strings.Contains(r.Message, heads[0]) {
				t.Fatalf("exit %d: %s; want exit 1 with %q naming the checkpoint's head %s", code, r.Message, c.want, heads[0])
			}
		})
	}
	t.Run("another release's ledger in its place", func(t *testing.T) {
		other, _, _ := f.auditChain(t, n+1)
		b, _ := os.ReadFile(other)
		code, r := verify(t, strings.SplitAfter(string(b), "\n"))
		if code != result.ExitRejected || !strings.Contains(r.Message, "cut, reordered or replaced") || !strings.Contains(r.Message, heads[0]) {
			t.Fatalf("exit %d: %s", code, r.Message)
		}
	})
	t.Run("an explicit ledgerHead still decides", func(t *testing.T) {
		code, r, _, _ := run(t, 1, "run", "--params", f.verifyDoc(t, map[string]any{"image": rel.Digest, "ledger": writeFile(t, t.TempDir(), "l.jsonl", strings.Join(lines, "")),
			"ledgerHead": heads[1], "auditKey": f.auditKey}))
		if code != 0 || itemNamed(r, "ledger checkpoint") != nil {
			t.Fatalf("exit %d %s", code, r.Message)
		}
	})
	t.Run("the checkpoint removed, while the provenance says it was attached", func(t *testing.T) {
		// replace the prod checkpoint by a staging one (cosign's replace: one per predicate type), signed with the release key
		stmt := provenance.Statement[ledger.Checkpoint]{Type: provenance.StatementType, PredicateType: ledger.CheckpointPredicateType,
			Subject:   []provenance.Subject{{Name: "orders", Digest: map[string]string{"sha256": strings.TrimPrefix(rel.Digest[strings.LastIndex(rel.Digest, "@")+1:], "sha256:")}}},
			Predicate: ledger.Checkpoint{Ledger: heads[0], Records: 1, Head: heads[0], Environment: "staging", TraceID: "rg-cli-test"}}
		env, err := provenance.Sign(stmt, f.kit.ReleaseKey)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := provenance.Attach(context.Background(), f.rc, resolveTarget(t, f.rc, rel.Digest), env, ledger.CheckpointPredicateType, f.kit.ReleaseKey.Public(), true); err != nil {
			t.Fatal(err)
		}
		code, r := verify(t, lines)
		if code != result.ExitRejected || !strings.Contains(r.Message, "the provenance says attestRelease attached a ledger checkpoint, but none for prod verifies") {
			t.Fatalf("exit %d: %s", code, r.Message)
		}
	})
}

// TestVerifyWarnsAboutAReleaseWithoutALedgerCheckpoint: a release attested before checkpoints verifies with its
// ledger as before, with a warning item; one whose provenance says a checkpoint was attached is refused without it.
func TestVerifyWarnsAboutAReleaseWithoutALedgerCheckpoint(t *testing.T) {
	f := setup(t)
	rel := f.build(t, releasetest.Spec{})
	path, _, _ := f.auditChain(t, 2)
	code, r, _, _ := run(t, 1, "run", "--params", f.verifyDoc(t, map[string]any{"image": rel.Digest, "ledger": path, "auditKey": f.auditKey}))
	it := itemNamed(r, "ledger checkpoint")
	if code != 0 || it == nil || it.Status != result.StatusPassed || !strings.Contains(it.Message, "warning: the release carries no ledger checkpoint") {
		t.Fatalf("exit %d %s; item %+v", code, r.Message, it)
	}
	if !strings.Contains(strings.Join(r.Summary, "\n"), "ledger checkpoint passed: warning:") {
		t.Fatalf("the warning is not on the console: %q", r.Summary)
	}
}
