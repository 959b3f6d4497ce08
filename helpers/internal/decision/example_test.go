package decision_test

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/release-gates/release-gates/helpers/internal/decision"
)

// The relay signs a decision; a pipeline verifies it with the relay's public key alone.
func Example() {
	dir, _ := os.MkdirTemp("", "decision-example")
	defer os.RemoveAll(dir)
	signer, _ := decision.GenerateKey(filepath.Join(dir, "decision.pem"))
	env, _ := signer.Sign(decision.Record{RequestID: "r1", Service: "orders", Environment: "prod", Decision: "approved",
		Approvers: []decision.Approver{{SlackID: "U02BOB", Name: "bob", Decision: "approve", EventID: "1.2-U02BOB"}}})
	pub, _ := decision.ParsePublicKey(signer.PublicPEM())
	rec, err := decision.Verify(env, pub)
	fmt.Println(rec.Decision, rec.Approvers[0].Name, err)
	// Output: approved bob <nil>
}
