package main

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/testing/jenkinsfake"
)

// TestSlacksRetryOfTheDecidingClickIsAReplayNotARefusal redelivers the deciding click's event, as Slack does when the
// ack was late: it must be recognised as the same event (a replay, silent), not refused as a click on a decided
// request, which tells the approver whose click decided it "your click changed nothing" and audits a denial.
func TestSlacksRetryOfTheDecidingClickIsAReplayNotARefusal(t *testing.T) {
	w := newWorld(t)
	addr, log := w.startRelayLogged()
	code, r, msg := w.request(t, addr, "", ctlToken)
	if code != 0 {
		t.Fatalf("request exit %d: %s", code, msg)
	}
	id, input := r["requestId"].(string), r["inputId"].(string)
	w.jenkins.Arm("/job/payments/7", jenkinsfake.Input{ID: input, Submitter: relayUser, Params: []string{"decision", "approvers", "approverNames", "requestId", "decisionRecord"}})
	carol := clickBody("U03CAROL", id, "6.2")
	for _, body := range []string{clickBody("U02BOB", id, "6.1"), carol} {
		if c := deliverInteraction(t, addr, body, 0); c != 200 {
			t.Fatalf("ack %d\n%s", c, log())
		}
	}
	if c := deliverInteraction(t, addr, carol, 1); c != 200 {
		t.Fatalf("Slack's retry of the deciding click: ack %d, want 200", c)
	}
	// The relay audits a refusal before it acks, so the audit file is complete here.
	f, err := os.Open(filepath.Join(w.dir, "audit.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	for sc := bufio.NewScanner(f); sc.Scan(); {
		var rec struct{ Event, User, Reason string }
		_ = json.Unmarshal(sc.Bytes(), &rec)
		if rec.User == "U03CAROL" && rec.Event == "denied" {
			t.Errorf("Slack's retry of Carol's deciding click was audited as a denial (%q) and answered as a click that changed nothing", rec.Reason)
		}
	}
	if got := metric(t, addr, `rg_relay_clicks_total{outcome="replayed"}`); got != 1 {
		t.Errorf("replayed = %v, want 1 (closed = %v)", got, metric(t, addr, `rg_relay_clicks_total{outcome="closed"}`))
	}
	w.waitDelivered(t, addr, input, log)
}
