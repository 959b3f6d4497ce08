package policyexport_test

import (
	"fmt"
	"os"
	"strings"

	"github.com/release-gates/release-gates/helpers/internal/policyexport"
)

// Example exports the Kyverno policy of a trust bundle and lists the kinds of its image checks.
func Example() {
	pub, _ := os.ReadFile("testdata/kyverno-example-cosign-key.yaml") // any PEM text works for the shape
	pem := pub[strings.Index(string(pub), "-----BEGIN PUBLIC KEY-----"):]
	pem = pem[:strings.Index(string(pem), "-----END PUBLIC KEY-----")+len("-----END PUBLIC KEY-----")]
	y, err := policyexport.Export(policyexport.Bundle{Name: "orders", Images: []string{"registry.example/orders*"},
		CosignKeys: []string{string(pem)}, ReleaseKeys: []string{string(pem)}, NotationCerts: []string{"-----BEGIN CERTIFICATE-----\n-----END CERTIFICATE-----"},
		Repository: "https://git.example/orders.git", Branch: "main", BuilderPrefix: "https://jenkins.example/job/orders/", Environment: "prod"},
		policyexport.FormatKyverno)
	if err != nil {
		fmt.Println(err)
		return
	}
	for _, line := range strings.Split(string(y), "\n") {
		if t := strings.TrimSpace(line); strings.HasPrefix(t, "- type:") || strings.HasPrefix(t, "type: ") || strings.HasPrefix(t, "kind:") {
			fmt.Println(t)
		}
	}
	// Output:
	// kind: ClusterPolicy
	// type: Cosign
	// type: Notary
}
