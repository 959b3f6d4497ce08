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
	return editedRecord(t, s, digest, nil, approvers...)
}

// editedRecord is signedRecord with edit applied to the record before it is signed.
func editedRecord(t *testing.T, s *decision.Signer, digest string, edit func(*decision.Record), approvers ...string) func(string) []byte {
	return func(d string) []byte {
		if digest != "" {
			d = digest
		}
		r := decision.Record{RequestID: "req-1", TraceID: "rg-1", Service: "orders", Environment: releasetest.Env, Commit: "", Digests: []string{d},
			Rule: decision.Rule{Service: "orders", Environment: releasetest.Env, Required: 2}, Decision: "approved", DecidedAt: time.Unix(2, 0).UTC()}
		for _, a := range approvers {
			r.Approvers = append(r.Approvers, decision.Approver{SlackID: a, Name: a, Decision: "approve", EventID: "1-" + a, At: time.Unix(1, 0).UTC()})
		}
		if edit != nil {
			edit(&r)
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
		name   string
		rec    func(string) []byte
		expect func(*release.Expect, releasetest.Release)
		want   string // "" passes
	}{
		{"signed by the relay, two approvers", signedRecord(t, relay, "", "U1", "U2"), nil, ""},
		{"no record embedded", nil, nil, "embeds no relay-signed decision record, so none of its approvers count"},
		{"an edited record", forged, nil, "signature does not verify"},
		{"a record signed by another key", signedRecord(t, other, "", "U1", "U2"), nil, "signature does not verify"},
		{"a record for another digest", signedRecord(t, relay, "sha256:"+strings.Repeat("0", 64), "U1", "U2"), nil, "does not cover sha256:"},
		{"a record with one approver (the attestation lists two)", signedRecord(t, relay, "", "U1"), nil, "1 distinct approver(s)"},
		{"a rejected decision", editedRecord(t, relay, "", func(r *decision.Record) { r.Decision = "rejected" }, "U1", "U2"), nil, `decision is "rejected"`},
		{"an expired decision", editedRecord(t, relay, "", func(r *decision.Record) { r.Decision = "expired" }, "U1", "U2"), nil, `decision is "expired"`},
		{"a record for another commit than expectCommit", editedRecord(t, relay, "", func(r *decision.Record) { r.Commit = "9e8d7c6b5a4f3e2d" }, "U1", "U2"),
			func(x *release.Expect, r releasetest.Release) { x.Commit = r.Spec.Commit }, `it approves commit "9e8d7c6b5a4f3e2d", not "`},
		{"a record for another service than expectService", signedRecord(t, relay, "", "U1", "U2"), func(x *release.Expect, _ releasetest.Release) { x.Service = "payments" },
			`it approves service "orders", not "payments"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := e.build(t, releasetest.Spec{DecisionRecord: c.rec, NoDecisionRecord: c.rec == nil})
			o := e.options(t, r)
			o.Expect.RelayKeys = []crypto.PublicKey{relay.PublicKey()}
			if c.expect != nil {
				c.expect(&o.Expect, r)
			}
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

func TestVerifyWithoutARelayKeyIsBadInput(t *testing.T) {
	e := setup(t)
	r := e.build(t, releasetest.Spec{Approvers: []string{"U1", "U2", "U9"}, NoDecisionRecord: true})
	o := e.options(t, r)
	o.Expect.RelayKeys = nil
	_, err := release.Verify(context.Background(), e.rc, o, nil)
	if err == nil || result.ClassOf(err).ExitCode() != result.ExitInput || !strings.Contains(err.Error(), "relayPublicKeys") {
		t.Fatalf("err = %v (class %s), want exit 2 naming relayPublicKeys", err, result.ClassOf(err))
	}
}
