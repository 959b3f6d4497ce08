package policyexport_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/release-gates/release-gates/helpers/internal/policyexport"
)

// Example exports the Kyverno ImageValidatingPolicy of a trust bundle and lists its attestors and attestations.
func Example() {
	pub, _ := os.ReadFile("testdata/kyverno-example-cosign-key.yaml") // any PEM text works for the shape
	pem := pub[strings.Index(string(pub), "-----BEGIN PUBLIC KEY-----"):]
	pem = pem[:strings.Index(string(pem), "-----END PUBLIC KEY-----")+len("-----END PUBLIC KEY-----")]
	y, err := policyexport.Export(policyexport.Bundle{Name: "orders", Images: []string{"registry.example/orders*"},
		CosignKeys: []string{string(pem)}, ReleaseKeys: []string{string(pem)}, NotationSigners: []string{"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----"},
		Repository: "https://git.example/orders.git", Branch: "main", BuilderPrefix: "https://jenkins.example/job/orders/", Environment: "prod"},
		policyexport.FormatKyverno)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, line := range strings.Split(string(y), "\n") {
		if t := strings.TrimPrefix(strings.TrimSpace(line), "- "); strings.HasPrefix(t, "name:") || strings.HasPrefix(t, "kind:") {
			fmt.Println(t)
		}
	}
	// Output:
	// kind: ImageValidatingPolicy
	// name: orders
	// name: provenance
	// name: approval
	// name: cosign1
	// name: release1
	// name: notary
}
