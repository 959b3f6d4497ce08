package relay

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/decision"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// stepDoc writes a slackApproval params document (params merged over a valid Map) and reads it back.
func stepDoc(t *testing.T, dir string, p map[string]any, input any, env map[string]string) (*StepDoc, error) {
	t.Helper()
	base := map[string]any{"relayUrl": "https://approvals.example.com", "relayPublicKey": filepath.Join(dir, "relay.pub"), "service": "payments",
		"environment": "prod", "version": "1.4.0", "resultFile": filepath.Join(dir, "slackApproval.json")}
	for k, v := range p {
		if v == nil {
			delete(base, k)
		} else {
			base[k] = v
		}
	}
	doc := map[string]any{"step": StepName, "params": base, "secrets": map[string]string{},
		"context": map[string]any{"buildUrl": "https://ci.example.com/job/payments/7/", "gitCommit": "abc123", "branch": "main", "traceId": "rg-1"}}
	if input != nil {
		doc["input"] = input
	}
	b, _ := json.Marshal(doc)
	path := filepath.Join(dir, "slackApproval.params.json")
	if err := os.WriteFile(path, b, 0o600); err != nil {
		t.Fatal(err)
	}
	return ReadStepParams(path, func(k string) string { return env[k] })
}

func TestStepParamsErrorsNameTheJenkinsfileKey(t *testing.T) {
	dir := t.TempDir()
	for _, c := range []struct {
		p    map[string]any
		env  map[string]string
		want string
	}{
		{map[string]any{"requester": "U1"}, nil, "unknown parameter 'requester'"},
		{map[string]any{"relayUrl": nil}, nil, "relayUrl is required"},
		{map[string]any{"relayUrl": "approvals.example.com"}, nil, "relayUrl 'approvals.example.com'"},
		{map[string]any{"timeout": "soon"}, nil, "timeout must be a duration like '24h'"},
		{map[string]any{"timeout": "0s"}, nil, "timeout must be a duration"},
		{map[string]any{"unstash": []string{"keys"}}, nil, "unstash applies to the node(agentLabel) blocks"},
		{map[string]any{"service": nil}, nil, "parameter 'service' is required"},
		{map[string]any{"digests": "sha256:x"}, nil, "digests"},
	} {
		_, err := stepDoc(t, dir, c.p, nil, c.env)
		if err == nil || !strings.Contains(err.Error(), c.want) || result.ClassOf(err) != result.ClassInput {
			t.Errorf("%v: err %v, want %q (input class)", c.p, err, c.want)
		}
	}
	d, err := stepDoc(t, dir, map[string]any{"relayUrl": nil, "timeout": "1h30m"}, nil, map[string]string{RelayURLEnv: "https://relay.internal"})
	if err != nil || d.Params.RelayURL != "https://relay.internal" || d.Params.Commit != "abc123" || d.Params.Branch != "main" || d.Params.RelayCredentialsID != "release-gates-relay" {
		t.Fatalf("defaults from env and context: %v %+v", err, d)
	}
	ret, summary := d.RequestReturns(&ApprovalResponse{RequestID: "r1", InputID: "Rg1", Submitter: "slack-relay", Deadline: time.Unix(0, 0).UTC()})
	if ret["backstopSeconds"] != int64(5400+BackstopSeconds) || ret["timeout"] != "1h30m" || !strings.Contains(summary[0], "request r1") ||
		!strings.Contains(ret["inputMessage"].(string), "payments 1.4.0 to prod") {
		t.Fatalf("request returns %+v %v", ret, summary)
	}
}

func TestStepVerifyReturnsTheSignedDecisionAndWritesItOnEveryOutcome(t *testing.T) {
	dir := t.TempDir()
	signer, err := decision.GenerateKey(filepath.Join(dir, "relay.key"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "relay.pub"), signer.PublicPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	at := time.Date(2026, 12, 1, 10, 0, 0, 0, time.UTC)
	sign := func(rec decision.Record) string {
		b, err := signer.Sign(rec)
		if err != nil {
			t.Fatal(err)
		}
		return string(b)
	}
	rec := decision.Record{RequestID: "r1", TraceID: "rg-1", Service: "payments", Environment: "prod", Version: "1.4.0", Decision: "approved",
		Requesters: []string{"U01ALICE"}, Approvers: []decision.Approver{{SlackID: "U02BOB", Name: "bob", Decision: "approve", EventID: "e1", At: at},
			{SlackID: "U03CAROL", Name: "carol", Decision: "approve", EventID: "e2", At: at}}}
	request := map[string]any{"requestId": "r1", "channel": "C0", "ts": "1.1", "keyId": signer.KeyID, "rule": map[string]any{"required": 2, "allowSelfApproval": false}}
	verify := func(answer any) (*VerifyOutcome, map[string]any) {
		t.Helper()
		d, err := stepDoc(t, dir, nil, map[string]any{"answer": answer, "request": request}, nil)
		if err != nil {
			t.Fatal(err)
		}
		out := d.Verify()
		var written map[string]any
		b, err := os.ReadFile(filepath.Join(dir, "slackApproval.json"))
		if err != nil || json.Unmarshal(b, &written) != nil {
			t.Fatalf("resultFile not written: %v", err)
		}
		return out, written
	}

	out, written := verify(map[string]any{"requestId": "r1", "decisionRecord": sign(rec)})
	if out.Err != nil || written["decision"] != "approved" || written["required"] != float64(2) || written["relayKeyId"] != signer.KeyID ||
		strings.Join(toStrings(out.Returns["approverNames"]), ",") != "bob,carol" || !strings.Contains(out.Summary[0], "bob and carol (2 of 2)") {
		t.Fatalf("approved: %v %+v", out.Err, written)
	}
	if a := written["approvers"].([]any)[0].(map[string]any); a["approver"] != "U02BOB" || a["approverName"] != "bob" || a["at"] != "2026-12-01T10:00:00Z" {
		t.Fatalf("approver %+v", a)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "slackApproval-rule.json")); err != nil || !strings.Contains(string(b), `"allowSelfApproval": false`) {
		t.Fatalf("rule file (attestRelease reads it): %v %s", err, b)
	}
	if b, _ := os.ReadFile(filepath.Join(dir, "slackApproval-decision.json")); func() error { _, err := decision.Verify(b, signer.PublicKey()); return err }() != nil {
		t.Fatalf("the kept decision record does not verify: %s", b)
	}

	rejected := rec
	rejected.Decision, rejected.Approvers = "rejected", []decision.Approver{{SlackID: "U04DAVE", Name: "dave", Decision: "reject", At: at}}
	out, written = verify(map[string]any{"requestId": "r1", "decisionRecord": sign(rejected)})
	if result.ClassOf(out.Err) != result.ClassPolicy || out.Err.Error() != "the relay decided rejected (request r1, by dave)" || written["decision"] != "rejected" {
		t.Fatalf("rejected: %v %+v", out.Err, written)
	}

	forged := strings.Replace(sign(rec), `"payload":"`, `"payload":"AAAA`, 1)
	for name, answer := range map[string]any{
		"forged":        map[string]any{"requestId": "r1", "decisionRecord": forged},
		"no record":     map[string]any{"decision": "approved", "requestId": "r1"},
		"other request": map[string]any{"requestId": "r2", "decisionRecord": sign(rec)},
		"not a map":     "proceed",
	} {
		out, written = verify(answer)
		if result.ClassOf(out.Err) != result.ClassTamper || written["decision"] != "unverified" {
			t.Errorf("%s: %v (class %s) %+v", name, out.Err, result.ClassOf(out.Err), written)
		}
		if name != "forged" && !strings.Contains(out.Err.Error(), "answered without the relay's decision for request r1") {
			t.Errorf("%s: %v", name, out.Err)
		}
	}
	other := rec
	other.Environment = "staging"
	if out, _ = verify(map[string]any{"requestId": "r1", "decisionRecord": sign(other)}); out.Err == nil || !strings.Contains(out.Err.Error(), "environment 'staging', not 'prod'") {
		t.Fatalf("another environment's record: %v", out.Err)
	}
}
