package release_test

import (
	"context"
	"crypto"
	"encoding/base64"
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/decision"
	"github.com/release-gates/release-gates/helpers/internal/release"
	"github.com/release-gates/release-gates/helpers/internal/release/releasetest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// signedRecord returns a Spec.DecisionRecord that signs, with s, an approved prod record by approvers for the digest (or for digest when set).
func signedRecord(t *testing.T, s *decision.Signer, digest string, approvers ...string) func(string) []byte {
	return func(d string) []byte {
		if digest != "" {
			d = digest
		}
		r := decision.Record{RequestID: "req-1", TraceID: "rg-1", Service: "orders", Environment: releasetest.Env, Commit: "", Digests: []string{d},
			Rule: decision.Rule{Service: "orders", Environment: releasetest.Env, Required: 2}, Decision: "approved", DecidedAt: time.Unix(2, 0).UTC()}
		for _, a := range approvers {
			r.Approvers = append(r.Approvers, decision.Approver{SlackID: a, Name: a, Decision: "approve", EventID: "1-" + a, At: time.Unix(1, 0).UTC()})
		}
		env, err := s.Sign(r)
		if err != nil {
			t.Fatal(err)
		}
		return env
	}
}

func TestVerifyCountsOnlyTheApproversOfARelaySignedDecisionRecord(t *testing.T) {
	e := setup(t)
	relay, err := decision.GenerateKey(filepath.Join(t.TempDir(), "relay.key"))
	if err != nil {
		t.Fatal(err)
	}
	other, _ := decision.GenerateKey(filepath.Join(t.TempDir(), "other.key"))
	forged := func(d string) []byte { // the record's payload edited to add an approver; the signature is the relay's
		var env decision.Envelope
		_ = json.Unmarshal(signedRecord(t, relay, "", "U1")(d), &env)
		body, _ := base64.StdEncoding.DecodeString(env.Payload)
		body = []byte(strings.Replace(string(body), `"approvers":[`, `"approvers":[{"slackId":"U9","name":"mallory","decision":"approve","eventId":"x","at":"1970-01-01T00:00:01Z"},`, 1))
		env.Payload = base64.StdEncoding.EncodeToString(body)
		b, _ := json.Marshal(env)
		return b
	}
	cases := []struct {
		name string
		rec  func(string) []byte
		want string // "" passes
	}{
		{"signed by the relay, two approvers", signedRecord(t, relay, "", "U1", "U2"), ""},
		{"no record embedded", nil, "embeds no relay-signed decision record"},
		{"an edited record", forged, "signature does not verify"},
		{"a record signed by another key", signedRecord(t, other, "", "U1", "U2"), "signature does not verify"},
		{"a record for another digest", signedRecord(t, relay, "sha256:"+strings.Repeat("0", 64), "U1", "U2"), "does not cover sha256:"},
		{"a record with one approver (the attestation lists two)", signedRecord(t, relay, "", "U1"), "1 distinct approver(s)"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.build(t, releasetest.Spec{DecisionRecord: c.rec})
			o := e.options(t, r)
			o.Expect.RelayKeys = []crypto.PublicKey{relay.PublicKey()}
			_, err := release.Verify(context.Background(), e.rc, o, nil)
			if c.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || result.ClassOf(err).ExitCode() != result.ExitRejected || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v (class %s), want exit 1 containing %q", err, result.ClassOf(err), c.want)
			}
		})
	}
}
