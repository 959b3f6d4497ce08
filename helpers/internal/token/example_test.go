package token_test

import (
	"fmt"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/token"
)

func Example() {
	key := []byte("an-example-button-secret-of-32-bytes!")
	tok, _ := token.Sign(key, token.Claims{
		BuildURL: "https://ci.example/job/payments/7/", InputID: "approve-prod", TraceID: "rg-1",
		Service: "payments", Environment: "prod", Branch: "main", Requester: "U01ALICE",
		Decision: token.DecisionApprove, Expires: time.Now().Add(time.Hour).Unix(),
	})
	c, err := token.Verify(key, tok, time.Now())
	fmt.Println(c.Service, c.Decision, err)
	_, err = token.Verify(key, tok, time.Now().Add(2*time.Hour))
	fmt.Println(err)
	// Output:
	// payments approve <nil>
	// token has expired
}
