package ledger

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

func newKey(t *testing.T) *ecdsa.PrivateKey {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// chain writes a ledger of n records and returns its path and lines.
func chain(t *testing.T, k crypto.Signer, n int) (string, [][]byte) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	for i := 0; i < n; i++ {
		if _, err := Append(path, k, Body{TraceID: "rg-1", Kind: KindGate, Status: "passed", Data: map[string]any{"i": i}}); err != nil {
			t.Fatal(err)
		}
	}
	b, _ := os.ReadFile(path)
	return path, bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))
}

func write(t *testing.T, path string, lines [][]byte) {
	t.Helper()
	if err := os.WriteFile(path, append(bytes.Join(lines, []byte("\n")), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestAnUntouchedChainVerifiesAndReportsItsHead(t *testing.T) {
	k := newKey(t)
	path, lines := chain(t, k, 4)
	rep, err := Verify(path, VerifyOptions{Keys: []crypto.PublicKey{k.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	if rep.Records != 4 || rep.Head != hashLine(lines[3]) || rep.Entries[0].Prev != Genesis || rep.Entries[3].TraceID != "rg-1" {
		t.Fatalf("report = %+v", rep)
	}
	if _, err := Verify(path, VerifyOptions{Keys: []crypto.PublicKey{k.Public()}, ExpectHead: rep.Head}); err != nil {
		t.Fatalf("expected head: %v", err)
	}
}

func TestVerifyNamesTheFirstBadRecordForEveryKindOfTampering(t *testing.T) {
	k := newKey(t)
	other := newKey(t)
	cases := []struct {
		name   string
		tamper func(t *testing.T, path string, lines [][]byte) VerifyOptions
		want   string
	}{
		{"an edited record", func(t *testing.T, path string, l [][]byte) VerifyOptions {
			l[2] = bytes.Replace(l[2], []byte(`"passed"`), []byte(`"failed"`), 1)
			write(t, path, l)
			return VerifyOptions{}
		}, "record 3 is bad: signature does not verify"},
		{"a deleted record", func(t *testing.T, path string, l [][]byte) VerifyOptions {
			write(t, path, append(append([][]byte{}, l[:1]...), l[2:]...))
			return VerifyOptions{}
		}, "record 2 is bad: seq is 3, want 2"},
		{"two reordered records", func(t *testing.T, path string, l [][]byte) VerifyOptions {
			l[1], l[2] = l[2], l[1]
			write(t, path, l)
			return VerifyOptions{}
		}, "record 2 is bad: seq is 3, want 2"},
		{"a record inserted with a foreign key", func(t *testing.T, path string, l [][]byte) VerifyOptions {
			p2 := filepath.Join(t.TempDir(), "x.jsonl")
			ins, _ := Append(p2, other, Body{Kind: KindApproval, TraceID: "rg-1", Status: "approved"})
			_ = ins
			b, _ := os.ReadFile(p2)
			write(t, path, append(append(append([][]byte{}, l[:2]...), bytes.TrimRight(b, "\n")), l[2:]...))
			return VerifyOptions{}
		}, "record 3 is bad: signed by key"},
		{"a record inserted and signed with the audit key", func(t *testing.T, path string, l [][]byte) VerifyOptions {
			p2 := filepath.Join(t.TempDir(), "x.jsonl")
			write(t, p2, l[:2])
			if _, err := Append(p2, k, Body{Kind: KindApproval, TraceID: "rg-1", Status: "approved"}); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(p2)
			write(t, path, append(bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n")), l[2:]...))
			return VerifyOptions{}
		}, "record 4 is bad: seq is 3, want 4"},
		{"a record re-signed after its prev hash was changed", func(t *testing.T, path string, l [][]byte) VerifyOptions {
			p2 := filepath.Join(t.TempDir(), "x.jsonl")
			write(t, p2, l[:1])
			if _, err := Append(p2, k, Body{Kind: KindGate, TraceID: "rg-1", Status: "passed"}); err != nil {
				t.Fatal(err)
			}
			b, _ := os.ReadFile(p2)
			forged := bytes.Split(bytes.TrimRight(b, "\n"), []byte("\n"))[1]
			l[1] = forged // same seq, valid signature, but record 3 links to the original record 2
			write(t, path, l)
			return VerifyOptions{}
		}, "record 3 is bad: prev hash does not match record 2"},
		{"a cut-off tail", func(t *testing.T, path string, l [][]byte) VerifyOptions {
			head := hashLine(l[3])
			write(t, path, l[:3])
			return VerifyOptions{ExpectHead: head}
		}, "records were cut off the end"},
		{"a half-written last line", func(t *testing.T, path string, l [][]byte) VerifyOptions {
			l[3] = l[3][:len(l[3])/2]
			write(t, path, l)
			return VerifyOptions{}
		}, "record 4 is bad: not a ledger record"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path, lines := chain(t, k, 4)
			opts := c.tamper(t, path, lines)
			opts.Keys = []crypto.PublicKey{k.Public()}
			_, err := Verify(path, opts)
			if err == nil || result.ClassOf(err) != result.ClassTamper || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v (class %s), want tamper containing %q", err, result.ClassOf(err), c.want)
			}
		})
	}
}

func TestVerifyRefusesAChainSignedByAnotherKey(t *testing.T) {
	k := newKey(t)
	path, _ := chain(t, k, 2)
	_, err := Verify(path, VerifyOptions{Keys: []crypto.PublicKey{newKey(t).Public()}})
	if result.ClassOf(err) != result.ClassTamper || !strings.Contains(err.Error(), "record 1 is bad") {
		t.Fatalf("err = %v", err)
	}
}

func TestAppendRefusesToExtendACutShortLedger(t *testing.T) {
	k := newKey(t)
	path, lines := chain(t, k, 2)
	if err := os.WriteFile(path, append(bytes.Join(lines, []byte("\n")), []byte("\n{\"body\":")...), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err := Append(path, k, Body{Kind: KindGate})
	if result.ClassOf(err) != result.ClassTamper {
		t.Fatalf("err = %v", err)
	}
}

func TestConcurrentAppendsFormOneValidChain(t *testing.T) {
	k := newKey(t)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	var wg sync.WaitGroup
	errs := make(chan error, 40)
	for g := 0; g < 8; g++ {
		wg.Add(1)
		go func(g int) {
			defer wg.Done()
			for i := 0; i < 5; i++ {
				if _, err := Append(path, k, Body{Kind: KindSign, TraceID: "rg-c", Data: map[string]any{"g": g, "i": i}}); err != nil {
					errs <- err
				}
			}
		}(g)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	rep, err := Verify(path, VerifyOptions{Keys: []crypto.PublicKey{k.Public()}})
	if err != nil || rep.Records != 40 {
		t.Fatalf("records = %d, err = %v", rep.Records, err)
	}
}

func TestIngestedResultsAndAuditLinesKeepTheirTraceID(t *testing.T) {
	dir := t.TempDir()
	res := filepath.Join(dir, "r.json")
	os.WriteFile(res, []byte(`{"helper":"go-build-gate","verb":"run","status":"passed","trace_id":"rg-9","items":[{"name":"apidiff","status":"passed"}]}`), 0o644)
	aud := filepath.Join(dir, "slack.jsonl")
	os.WriteFile(aud, []byte(`{"time":"2026-01-02T03:04:05Z","event":"approved","trace_id":"rg-9","user":"U1","environment":"prod"}`+"\n"), 0o644)
	b, err := FromResult(res)
	if err != nil || b.Kind != KindGate || b.TraceID != "rg-9" || b.Source != "go-build-gate run" {
		t.Fatalf("result body = %+v, %v", b, err)
	}
	a, err := FromAudit(aud)
	if err != nil || len(a) != 1 || a[0].Kind != KindApproval || a[0].TraceID != "rg-9" || a[0].Environment != "prod" || a[0].Data["user"] != "U1" {
		t.Fatalf("audit bodies = %+v, %v", a, err)
	}
	combined := filepath.Join(dir, "signArtifacts.json")
	os.WriteFile(combined, []byte(`{"helper":"sign-artifacts","verb":"signArtifacts","status":"passed","trace_id":"rg-9","items":[{"name":"img","kind":"image","status":"passed"}],`+
		`"results":{"imageSign":{"data":{"key_id":"3f1c9a0b7d2e4f65"}}}}`), 0o644)
	if b, err := FromResult(combined); err != nil || b.Kind != KindSign || b.Data["data"].(map[string]any)["key_id"] != "3f1c9a0b7d2e4f65" {
		t.Fatalf("combined signArtifacts result: %+v, %v", b, err)
	}
	for _, bad := range []string{`{"x":1}`, `not json`} {
		os.WriteFile(res, []byte(bad), 0o644)
		if _, err := FromResult(res); result.ClassOf(err) != result.ClassInput {
			t.Fatalf("FromResult(%s) err = %v", bad, err)
		}
	}
}

func TestAnAttestResultBecomesOneAttestationRecordPerAttestation(t *testing.T) {
	res := filepath.Join(t.TempDir(), "attest.json")
	os.WriteFile(res, []byte(`{"helper":"release-evidence","verb":"attest approval","status":"passed","trace_id":"rg-9","items":[`+
		`{"name":"r/orders@sha256:ab","kind":"approval","status":"passed","details":{"subject":"r/orders@sha256:ab","predicate_type":"https://release-gates.dev/approval/v1","key_id":"k1","location":"r/orders:sha256-ab.att","environment":"prod","approvers":["U2","U3"],"trace_id":"rg-9"}},`+
		`{"name":"dist/orders","kind":"approval","status":"passed","details":{"subject":"sha256:cd","predicate_type":"https://release-gates.dev/approval/v1","key_id":"k1","location":"out/orders.approval.intoto.json","environment":"prod"}}]}`), 0o644)
	bodies, err := FromResults(res)
	if err != nil || len(bodies) != 2 {
		t.Fatalf("bodies = %+v, %v", bodies, err)
	}
	b := bodies[0]
	if b.Kind != KindAttestation || b.Subject != "r/orders@sha256:ab" || b.Environment != "prod" || b.TraceID != "rg-9" ||
		b.Source != "release-evidence attest approval" || b.Data["key_id"] != "k1" || b.Data["predicate_type"] == nil {
		t.Fatalf("first body = %+v", b)
	}
	if bodies[1].Subject != "sha256:cd" {
		t.Fatalf("blob attestation subject = %q", bodies[1].Subject)
	}
}

func TestAppendRefusesALedgerThatDoesNotVerifyAndLeavesItUntouched(t *testing.T) {
	k := newKey(t)
	cases := []struct {
		name   string
		tamper func(l [][]byte) ([][]byte, VerifyOptions)
		want   string
	}{
		{"an edited record", func(l [][]byte) ([][]byte, VerifyOptions) {
			l[1] = bytes.Replace(l[1], []byte(`"passed"`), []byte(`"failed"`), 1)
			return l, VerifyOptions{}
		}, "record 2 is bad: signature does not verify"},
		{"a deleted record", func(l [][]byte) ([][]byte, VerifyOptions) {
			return append(append([][]byte{}, l[:1]...), l[2:]...), VerifyOptions{}
		}, "record 2 is bad: seq is 3, want 2"},
		{"two reordered records", func(l [][]byte) ([][]byte, VerifyOptions) {
			l[0], l[1] = l[1], l[0]
			return l, VerifyOptions{}
		}, "record 1 is bad: seq is 2, want 1"},
		{"a cut-off tail", func(l [][]byte) ([][]byte, VerifyOptions) {
			return l[:2], VerifyOptions{ExpectHead: hashLine(l[2])}
		}, "but the expected head is " + "%HEAD%"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			path, lines := chain(t, k, 3)
			want := strings.Replace(c.want, "%HEAD%", hashLine(lines[2]), 1)
			l, opts := c.tamper(lines)
			write(t, path, l)
			before, _ := os.ReadFile(path)
			_, err := AppendVerified(path, k, opts, Body{Kind: KindRelease, Status: "verified"})
			if result.ClassOf(err) != result.ClassTamper || !strings.Contains(err.Error(), "refusing to append") || !strings.Contains(err.Error(), want) {
				t.Fatalf("err = %v (class %s), want tamper containing %q", err, result.ClassOf(err), want)
			}
			if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
				t.Fatal("the refused ledger was changed")
			}
		})
	}
}

func TestAppendAcceptsRecordsOfAnExtraKeyAndTheExpectedHead(t *testing.T) {
	old, k := newKey(t), newKey(t)
	path, lines := chain(t, old, 2)
	if _, err := Append(path, k, Body{Kind: KindGate}); result.ClassOf(err) != result.ClassTamper {
		t.Fatalf("a chain signed by a key Append was not given: err = %v", err)
	}
	es, err := AppendVerified(path, k, VerifyOptions{Keys: []crypto.PublicKey{old.Public()}, ExpectHead: hashLine(lines[1])}, Body{Kind: KindGate})
	if err != nil || len(es) != 1 || es[0].Seq != 3 || es[0].Prev != hashLine(lines[1]) {
		t.Fatalf("entries = %+v, err = %v", es, err)
	}
}
