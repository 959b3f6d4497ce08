package main

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/release/releasetest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// auditChain appends n gate records to a fresh ledger and returns its path, its lines and its head.
func (f fixture) auditChain(t *testing.T, n int) (string, [][]byte, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	head := ""
	for i := 0; i < n; i++ {
		code, r, _, _ := run(t, 2, "audit", "append", "--ledger", path, "--kind", "gate", "--status", "passed", "--audit-key", f.auditKey)
		if code != 0 {
			t.Fatalf("audit append: %s", r.Message)
		}
		head, _ = r.Data["head"].(string)
	}
	b, _ := os.ReadFile(path)
	return path, bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n")), head
}

func writeLines(t *testing.T, path string, lines [][]byte) {
	t.Helper()
	if err := os.WriteFile(path, append(bytes.Join(lines, []byte("\n")), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyRefusesATamperedCutOrReorderedLedgerAndNeverAppendsToIt(t *testing.T) {
	f := setup(t)
	rel := f.build(t, releasetest.Spec{})
	verify := func(t *testing.T, extra ...string) (int, result.Result, string) {
		args := append(append([]string{"verify", "--image", rel.Digest}, f.evidenceArgs("prod")...), extra...)
		code, r, stdout, _ := run(t, 1, args...)
		return code, r, stdout
	}
	t.Run("an intact ledger at its expected head passes and moves the head", func(t *testing.T) {
		path, _, head := f.auditChain(t, 3)
		code, r, stdout := verify(t, "--ledger", path, "--ledger-head", head)
		if code != 0 || stdout != rel.Digest+"\n" {
			t.Fatalf("exit %d: %s", code, r.Message)
		}
		code, a, _, _ := run(t, 2, "audit", "verify", "--ledger", path, "--pub", f.auditPub, "--expect-head", r.Data["ledger_head"].(string))
		if code != 0 || a.Data["records"] != float64(4) {
			t.Fatalf("after verify the ledger does not end at the reported ledger_head: exit %d %s", code, a.Message)
		}
	})
	cases := []struct {
		name   string
		tamper func(l [][]byte, head string) ([][]byte, []string)
		want   string
	}{
		{"a tampered line", func(l [][]byte, _ string) ([][]byte, []string) {
			l[1] = bytes.Replace(l[1], []byte(`"passed"`), []byte(`"failed"`), 1)
			return l, nil
		}, "record 2 is bad: signature does not verify"},
		{"a deleted line", func(l [][]byte, _ string) ([][]byte, []string) {
			return append(append([][]byte{}, l[:1]...), l[2:]...), nil
		}, "record 2 is bad: seq is 3, want 2"},
		{"reordered lines", func(l [][]byte, _ string) ([][]byte, []string) {
			l[1], l[2] = l[2], l[1]
			return l, nil
		}, "record 2 is bad: seq is 3, want 2"},
		{"a truncated last line", func(l [][]byte, _ string) ([][]byte, []string) {
			l[2] = l[2][:len(l[2])/3]
			return l, nil
		}, "record 3 is bad: not a ledger record"},
		{"a cut-off tail", func(l [][]byte, head string) ([][]byte, []string) {
			return l[:2], []string{"--ledger-head", head}
		}, "but the expected head is %HEAD%"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path, lines, head := f.auditChain(t, 3)
			l, extra := c.tamper(lines, head)
			writeLines(t, path, l)
			before, _ := os.ReadFile(path)
			code, r, stdout := verify(t, append([]string{"--ledger", path}, extra...)...)
			want := strings.Replace(c.want, "%HEAD%", head, 1)
			if code != result.ExitRejected || stdout != "" || r.FailureClass != result.ClassTamper || !strings.Contains(r.Message, want) {
				t.Fatalf("exit %d stdout %q class %s: %s; want exit 1 containing %q", code, stdout, r.FailureClass, r.Message, want)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Fatal("verify appended to a ledger that does not verify")
			}
		})
	}
	t.Run("an expected head that does not match names both heads", func(t *testing.T) {
		path, _, head := f.auditChain(t, 2)
		code, r, _, _ := run(t, 2, "audit", "append", "--ledger", path, "--kind", "gate", "--status", "passed", "--audit-key", f.auditKey)
		if code != 0 {
			t.Fatal(r.Message)
		}
		actual := r.Data["head"].(string)
		code, v, _ := verify(t, "--ledger", path, "--ledger-head", head)
		if code != result.ExitRejected || !strings.Contains(v.Message, actual) || !strings.Contains(v.Message, head) {
			t.Fatalf("exit %d: %s; want both %s and %s named", code, v.Message, actual, head)
		}
	})
}

func TestRollbackRefusesATamperedLedgerOrAnIndexCutBeforeItsHead(t *testing.T) {
	f := setup(t)
	index := filepath.Join(t.TempDir(), "releases.jsonl")
	var indexHeads []string
	for _, s := range []releasetest.Spec{{TraceID: "rg-old"}, {TraceID: "rg-new"}} {
		r := f.build(t, s)
		code, res, _, _ := run(t, 1, append([]string{"verify", "--image", r.Digest, "--index", index}, f.evidenceArgs("prod")...)...)
		if code != 0 {
			t.Fatalf("verify: %s", res.Message)
		}
		indexHeads = append(indexHeads, res.Data["index_head"].(string))
	}
	rollback := func(t *testing.T, extra ...string) (int, result.Result) {
		args := append(append([]string{"rollback", "--index", index, "--index-pub", f.auditPub}, f.evidenceArgs("prod")...), extra...)
		code, r, _, _ := run(t, 1, args...)
		return code, r
	}
	t.Run("a tampered ledger", func(t *testing.T) {
		path, lines, _ := f.auditChain(t, 3)
		lines[0], lines[1] = lines[1], lines[0]
		writeLines(t, path, lines)
		if code, r := rollback(t, "--ledger", path); code != result.ExitRejected || !strings.Contains(r.Message, "record 1 is bad") {
			t.Fatalf("exit %d: %s", code, r.Message)
		}
	})
	t.Run("an index whose newest release was cut off", func(t *testing.T) {
		b, _ := os.ReadFile(index)
		lines := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
		writeLines(t, index, lines[:1])
		code, r := rollback(t, "--index-head", indexHeads[1])
		if code != result.ExitRejected || !strings.Contains(r.Message, indexHeads[1]) {
			t.Fatalf("exit %d: %s", code, r.Message)
		}
		writeLines(t, index, lines)
		if code, r := rollback(t, "--index-head", indexHeads[1]); code != 0 {
			t.Fatalf("the intact index at its head: exit %d %s", code, r.Message)
		}
	})
}

func TestVerifyStartsAMissingLedgerButNotOneWithAnExpectedHead(t *testing.T) {
	f := setup(t)
	rel := f.build(t, releasetest.Spec{})
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	args := append([]string{"verify", "--image", rel.Digest, "--ledger", path}, f.evidenceArgs("prod")...)
	code, r, _, _ := run(t, 1, append(args, "--ledger-head", strings.Repeat("a", 64))...)
	if code != result.ExitRejected || !strings.Contains(r.Message, "is missing, but the expected head is") {
		t.Fatalf("a deleted ledger with an expected head: exit %d %s", code, r.Message)
	}
	if code, r, _, _ := run(t, 1, args...); code != 0 || r.Data["ledger_head"] == nil {
		t.Fatalf("a new ledger: exit %d %s", code, r.Message)
	}
}
