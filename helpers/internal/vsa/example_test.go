package vsa_test

import (
	"fmt"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/vsa"
)

func ExampleStatement() {
	s, _ := vsa.Statement(vsa.Input{
		Image:  "registry.example/shop/orders@sha256:" + "ab12000000000000000000000000000000000000000000000000000000000000",
		Policy: map[string]string{"environment": "prod"},
		Time:   time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC),
	})
	fmt.Println(s.PredicateType)
	fmt.Println(s.Subject[0].Name, s.Subject[0].Digest["sha256"][:4])
	fmt.Println(s.Predicate.VerificationResult, s.Predicate.VerifiedLevels, s.Predicate.TimeVerified)
	// Output:
	// https://slsa.dev/verification_summary/v1
	// registry.example/shop/orders ab12
	// PASSED [SLSA_BUILD_LEVEL_2] 2026-12-01T12:00:00Z
}
