package ledger_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/release-gates/release-gates/helpers/internal/ledger"
)

// Example appends two records to a release's chain, verifies it, then shows what an edit does.
func Example() {
	dir, _ := os.MkdirTemp("", "ledger-example-")
	defer os.RemoveAll(dir)
	path := filepath.Join(dir, "audit.jsonl")
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)

	_, _ = ledger.Append(path, key,
		ledger.Body{TraceID: "rg-1", Kind: ledger.KindGate, Source: "go-build-gate run", Status: "passed"},
		ledger.Body{TraceID: "rg-1", Kind: ledger.KindApproval, Status: "approved", Environment: "prod"})
	rep, err := ledger.Verify(path, ledger.VerifyOptions{Keys: []crypto.PublicKey{key.Public()}})
	fmt.Println(rep.Records, err)

	b, _ := os.ReadFile(path)
	_ = os.WriteFile(path, []byte(strings.Replace(string(b), `"approved"`, `"rejected"`, 1)), 0o644)
	_, err = ledger.Verify(path, ledger.VerifyOptions{Keys: []crypto.PublicKey{key.Public()}})
	fmt.Println(strings.TrimPrefix(err.Error(), "ledger "+path+": "))
	// Output:
	// 2 <nil>
	// record 2 is bad: signature does not verify (edited or inserted)
}
