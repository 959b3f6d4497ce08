package rbac_test

import (
	"fmt"

	"github.com/release-gates/release-gates/helpers/internal/rbac"
)

func ExampleConfig_Check() {
	cfg, err := rbac.Parse([]byte(`version: 1
users: {U01ALICE: alice, U02BOB: bob}
approvals:
  - {service: "payments", environment: prod, approvers: [U01ALICE, U02BOB], required: 1, branches: [main]}
`))
	if err != nil {
		panic(err)
	}
	fmt.Println(cfg.Check(rbac.Request{User: "U02BOB", Service: "payments", Environment: "prod", Branch: "main", Requester: "U01ALICE"}).Allowed)
	fmt.Println(cfg.Check(rbac.Request{User: "U01ALICE", Service: "payments", Environment: "prod", Branch: "main", Requester: "U01ALICE"}).Reason)
	// Output:
	// true
	// U01ALICE requested this release and may not approve it (four-eyes rule)
}
