package provenance_test

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"fmt"
	"strings"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/provenance"
)

// Example builds SLSA v1 provenance for a blob, signs it as DSSE and opens it again with the public key.
func Example() {
	key, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	subj, _ := provenance.SubjectOf("orders-linux-amd64", "sha256:"+strings.Repeat("ab", 32))
	stmt, err := provenance.Provenance([]provenance.Subject{subj}, provenance.Build{
		BuilderID: "https://jenkins.example/job/orders/7/", Repository: "https://git.example/orders.git", Branch: "main",
		Commit: strings.Repeat("c", 40), TraceID: "rg-1", FinishedOn: time.Unix(0, 0)})
	if err != nil {
		fmt.Println(err)
		return
	}
	envelope, _ := provenance.Sign(stmt, key)
	payload, predicateType, err := provenance.Open(envelope, []crypto.PublicKey{key.Public()})
	decoded, _ := provenance.Decode[provenance.SLSA](payload)
	fmt.Println(predicateType, err)
	fmt.Println(decoded.Predicate.RunDetails.Builder.ID, decoded.Predicate.RunDetails.Metadata.InvocationID)
	// Output:
	// https://slsa.dev/provenance/v1 <nil>
	// https://jenkins.example/job/orders/7/ rg-1
}
