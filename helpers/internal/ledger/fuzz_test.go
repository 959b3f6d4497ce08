package ledger

import (
	"bytes"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"os"
	"path/filepath"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// FuzzVerifyReader feeds arbitrary bytes to the ledger parser: it must never panic, and anything but a chain that
// verifies must come back as tamper (or input, for unreadable data) without a head past the bad record.
func FuzzVerifyReader(f *testing.F) {
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	dir := f.TempDir()
	path := filepath.Join(dir, "seed.jsonl")
	if _, err := Append(path, k, Body{Kind: KindGate, TraceID: "rg-f", Status: "passed"}, Body{Kind: KindApproval, TraceID: "rg-f"}); err != nil {
		f.Fatal(err)
	}
	seed, _ := os.ReadFile(path)
	f.Add(seed)
	f.Add([]byte(`{"body":{"seq":1},"key_id":"x","sig":"AA=="}` + "\n"))
	f.Add([]byte("\n\n"))
	f.Add(bytes.Repeat([]byte("{"), 100))
	pubs := []crypto.PublicKey{k.Public()}
	f.Fuzz(func(t *testing.T, b []byte) {
		rep, err := VerifyReader(bytes.NewReader(b), "fuzz", VerifyOptions{Keys: pubs})
		if err != nil {
			if c := result.ClassOf(err); c != result.ClassTamper && c != result.ClassInput {
				t.Fatalf("class %s: %v", c, err)
			}
			return
		}
		if rep.Records != len(rep.Entries) {
			t.Fatalf("records %d, entries %d", rep.Records, len(rep.Entries))
		}
	})
}
