package token

import (
	"errors"
	"strings"
	"testing"
	"time"
)

var testKey = []byte("0123456789abcdef0123456789abcdef")

func claims() Claims {
	return Claims{BuildURL: "http://127.0.0.1:8080/job/pay/7/", InputID: "approve-prod", TraceID: "rg-1", Service: "payments", Environment: "prod", Branch: "main", Requester: "U1", Decision: DecisionApprove, Expires: time.Now().Add(time.Hour).Unix()}
}

func TestVerifyAcceptsOnlyIntactUnexpiredTokensSignedWithTheKey(t *testing.T) {
	good, err := Sign(testKey, claims())
	if err != nil {
		t.Fatal(err)
	}
	exp := claims()
	exp.Expires = time.Now().Add(-time.Second).Unix()
	expired, err := Sign(testKey, exp)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := Sign([]byte(strings.Repeat("k", 32)), claims())
	rej := claims()
	rej.Decision = DecisionReject
	rejTok, _ := Sign(testKey, rej)
	// Graft the reject payload onto the approve signature: a decision swap must not verify.
	swapped := rejTok[:strings.LastIndexByte(rejTok, '.')] + good[strings.LastIndexByte(good, '.'):]
	cases := []struct {
		name string
		tok  string
		want error
	}{
		{"a fresh token verifies", good, nil},
		{"an expired token is refused", expired, ErrExpired},
		{"a token signed with another key is refused", otherKey, ErrSignature},
		{"a swapped decision is refused", swapped, ErrSignature},
		{"a flipped payload byte is refused", flip(good, 10), ErrSignature},
		{"garbage is malformed", "hello", ErrMalformed},
		{"a missing signature is malformed", "v1.abc", ErrMalformed},
		{"an oversized token is malformed", "v1." + strings.Repeat("a", MaxLen), ErrMalformed},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c, err := Verify(testKey, tc.tok, time.Now())
			if tc.want == nil {
				if err != nil || c.Service != "payments" || c.Decision != DecisionApprove || c.Branch != "main" {
					t.Fatalf("Verify = %+v, %v", c, err)
				}
				return
			}
			if !errors.Is(err, tc.want) {
				t.Fatalf("Verify error = %v, want %v", err, tc.want)
			}
		})
	}
}

func TestSignRefusesShortKeysAndIncompleteClaims(t *testing.T) {
	if _, err := Sign([]byte("short"), claims()); !errors.Is(err, ErrShortKey) {
		t.Fatalf("short key: %v", err)
	}
	c := claims()
	c.Decision = "maybe"
	if _, err := Sign(testKey, c); !errors.Is(err, ErrMalformed) {
		t.Fatalf("bad decision: %v", err)
	}
}

func flip(s string, i int) string {
	b := []byte(s)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

func FuzzVerify(f *testing.F) {
	good, _ := Sign(testKey, claims())
	f.Add(good)
	f.Add("v1..")
	f.Add("v1.e30.AAAA")
	f.Fuzz(func(t *testing.T, tok string) {
		c, err := Verify(testKey, tok, time.Now())
		if err == nil && c.Validate() != nil {
			t.Fatalf("accepted invalid claims %+v", c)
		}
		if err == nil && tok != good {
			// Any other accepted token would be a MAC forgery.
			if _, perr := Parse(tok); perr != nil {
				t.Fatalf("verified but unparsable: %q", tok)
			}
		}
		_, _ = Parse(tok)
	})
}
