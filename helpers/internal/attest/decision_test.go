package attest

import (
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/decision"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// relayRecord signs an approved prod record for digests by U02BOB and U03CAROL with s and writes it where slackApproval does.
func relayRecord(t *testing.T, s *decision.Signer, digests []string, edit func(string) string) {
	t.Helper()
	r := decision.Record{RequestID: "req-1", TraceID: "rg-1", Service: "orders", Environment: "prod", Commit: buildContext.GitCommit[:12], Digests: digests,
		Rule: decision.Rule{Service: "orders", Environment: "prod", Required: 2}, Decision: "approved", DecidedAt: time.Unix(9, 0).UTC()}
	for _, a := range []string{"U02BOB", "U03CAROL"} {
		r.Approvers = append(r.Approvers, decision.Approver{SlackID: a, Name: a, Decision: "approve", EventID: "1-" + a, At: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)})
	}
	env, err := s.Sign(r)
	if err != nil {
		t.Fatal(err)
	}
	if edit != nil {
		var e decision.Envelope
		_ = json.Unmarshal(env, &e)
		body, _ := base64.StdEncoding.DecodeString(e.Payload)
		e.Payload = base64.StdEncoding.EncodeToString([]byte(edit(string(body))))
		env, _ = json.Marshal(e)
	}
	if err := os.WriteFile(".release-gates/slackApproval-decision.json", env, 0o644); err != nil {
		t.Fatal(err)
	}
	// The workspace file claims a third approver: only the signed record counts.
	if err := os.WriteFile(".release-gates/slackApproval.json", []byte(`{"decision":"approved","environment":"prod","traceId":"rg-1","service":"orders","required":2,
		"approvers":[{"approver":"U02BOB"},{"approver":"U03CAROL"},{"approver":"U09MALLORY"}],"decisionRecord":".release-gates/slackApproval-decision.json","relayKeyId":"`+s.KeyID+`"}`), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestRunEmbedsTheRelaySignedDecisionRecordAndRefusesOneThatDoesNotBackTheRelease(t *testing.T) {
	sum := sha256.Sum256([]byte("a Go binary, say"))
	blob := "sha256:" + hex.EncodeToString(sum[:])
	keyDir := t.TempDir()
	relay, err := decision.GenerateKey(filepath.Join(keyDir, "relay.key"))
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(keyDir, "relay.pub")
	if err := os.WriteFile(pub, relay.PublicPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	other, _ := decision.GenerateKey(filepath.Join(keyDir, "other.key"))
	addMallory := func(s string) string {
		return strings.Replace(s, `"approvers":[`, `"approvers":[{"slackId":"U09MALLORY","name":"m","decision":"approve","eventId":"x","at":"2026-01-02T03:04:05Z"},`, 1)
	}
	cases := []struct {
		name    string
		signer  *decision.Signer
		digests []string
		edit    func(string) string
		env     string // attest for this environment (the workspace file says so too); "" prod
		want    string // "" attests
	}{
		{"signed by the relay for this blob", relay, []string{blob}, nil, "", ""},
		{"an edited record", relay, []string{blob}, addMallory, "", "signature does not verify"},
		{"a record signed by another key", other, []string{blob}, nil, "", "signature does not verify"},
		{"a record for another digest", relay, []string{"sha256:" + strings.Repeat("0", 64)}, nil, "", "does not cover " + blob},
		{"a prod record for a staging attestation", relay, []string{blob}, nil, "staging", `it approves environment "prod", not "staging"`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			f := setup(t)
			relayRecord(t, c.signer, c.digests, c.edit)
			env := "prod"
			if c.env != "" {
				env = c.env
				b, _ := os.ReadFile(".release-gates/slackApproval.json")
				_ = os.WriteFile(".release-gates/slackApproval.json", []byte(strings.Replace(string(b), `"environment":"prod"`, `"environment":"`+env+`"`, 1)), 0o644)
			}
			out := f.run(t, `{"blobs":["bin/orders"],"environment":"`+env+`","releaseKey":"`+f.releaseKey+`","relayPublicKey":"`+pub+`"}`)
			if c.want != "" {
				if out.Err == nil || !strings.Contains(out.Err.Error(), c.want) || result.ClassOf(out.Err).ExitCode() != result.ExitRejected || len(out.Stages) != 0 {
					t.Fatalf("err %v (class %s), stages %v; want exit 1 containing %q", out.Err, result.ClassOf(out.Err), out.Stages, c.want)
				}
				if _, err := os.Stat(".release-gates/attestations/orders.provenance.intoto.json"); err == nil {
					t.Fatal("attested although the decision record does not back the release")
				}
				return
			}
			if out.Err != nil {
				t.Fatal(out.Err)
			}
			if got := strings.Join(out.Combined["approvers"].([]string), ","); got != "U02BOB,U03CAROL" {
				t.Fatalf("approvers %s: the workspace file's extra approver counted", got)
			}
			b, err := os.ReadFile(".release-gates/attestations/orders.approval.intoto.json")
			if err != nil {
				t.Fatal(err)
			}
			var dsse struct{ Payload []byte }
			var st struct {
				Predicate struct {
					Approvers      []struct{ User string }
					RelayKeyID     string          `json:"relayKeyId"`
					DecisionRecord json.RawMessage `json:"decisionRecord"`
				}
			}
			if err := json.Unmarshal(b, &dsse); err != nil || json.Unmarshal(dsse.Payload, &st) != nil {
				t.Fatalf("approval envelope: %v", err)
			}
			if len(st.Predicate.Approvers) != 2 || st.Predicate.RelayKeyID != relay.KeyID {
				t.Fatalf("predicate %+v", st.Predicate)
			}
			rec, err := decision.Verify(st.Predicate.DecisionRecord, relay.PublicKey())
			if err != nil || rec.RequestID != "req-1" {
				t.Fatalf("the embedded record does not verify: %v", err)
			}
		})
	}
}
