package relay

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/decision"
	"github.com/release-gates/release-gates/helpers/internal/store"
	"github.com/release-gates/release-gates/helpers/internal/testing/jenkinsfake"
)

func TestTwoApproversClickingAtTheSameInstantAreBothCountedAndJenkinsIsAnsweredOnce(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		e.jenkins.ReArmDelay = 300 * time.Millisecond // the pipeline is still on its way to the input
		resp := e.mustRequest(nil)
		if resp.Submitter != relayUser || resp.Rule.Required != 2 || len(resp.Requesters) != 1 || resp.Requesters[0] != "U01ALICE" {
			t.Fatalf("response %+v", resp)
		}
		e.arm(resp)
		var wg sync.WaitGroup
		codes := make([]int, 2)
		for i, u := range []string{"U02BOB", "U03CAROL"} {
			wg.Add(1)
			go func(i int, u string) {
				defer wg.Done()
				codes[i] = e.click(u, "approve", resp.RequestID, "1700000300.000100")
			}(i, u)
		}
		wg.Wait()
		if codes[0] != 200 || codes[1] != 200 {
			t.Fatalf("acks %v", codes)
		}
		if n := e.relay.Metrics().Clicks(OutcomeCounted); n != 2 {
			t.Fatalf("counted %d clicks, want 2 (answers: %s)", n, e.answers.all())
		}
		sub := e.waitSubmission(resp)
		time.Sleep(100 * time.Millisecond) // a second, wrong submission would land now
		if subs := e.jenkins.Submissions(); len(subs) != 1 {
			t.Fatalf("submissions %+v, want exactly one", subs)
		}
		if e.jenkins.NotPendingPosts() != 0 {
			t.Fatalf("the relay posted %d times to an input that was not pending", e.jenkins.NotPendingPosts())
		}
		if sub.User != relayUser || sub.Params[ParamDecision] != "approved" || sub.Params[ParamRequestID] != resp.RequestID {
			t.Fatalf("submission %+v", sub)
		}
		if a := sub.Params[ParamApprovers]; a != "U02BOB,U03CAROL" && a != "U03CAROL,U02BOB" {
			t.Fatalf("approvers %q", a)
		}
		rec, err := decision.Verify([]byte(sub.Params[ParamRecord]), e.signer.PublicKey())
		if err != nil || rec.Decision != "approved" || len(rec.Approvers) != 2 || rec.Requesters[0] != "U01ALICE" || rec.Rule.Required != 2 ||
			rec.Commit != e.body(nil).Commit || rec.Digests[0] != e.body(nil).Digests[0] || rec.TraceID != "rg-trace-1" {
			t.Fatalf("record %+v %v", rec, err)
		}
		for _, a := range rec.Approvers {
			if a.EventID == "" || a.At.IsZero() || a.Name == "" {
				t.Fatalf("approver %+v", a)
			}
		}
		eventually(t, "the message without buttons", func() bool {
			u := e.slack.lastUpdate()
			return strings.Contains(u, "Approved") && strings.Contains(u, "2 of 2") && !strings.Contains(u, "rg_approve")
		})
	})
}

func TestProgressIsShownAfterTheFirstApproval(t *testing.T) {
	e := newEnv(t, "sqlite:"+filepath.Join(t.TempDir(), "r.db"))
	resp := e.mustRequest(nil)
	if c := e.click("U02BOB", "approve", resp.RequestID, "1.1"); c != 200 {
		t.Fatal(c)
	}
	eventually(t, "progress 1 of 2", func() bool {
		u := e.slack.lastUpdate()
		return strings.Contains(u, "1 of 2: bob approved") && strings.Contains(u, "rg_approve")
	})
	if !strings.Contains(e.answers.all(), "1 of 2") {
		t.Fatalf("answers %s", e.answers.all())
	}
}

func TestClicksThatMustNotCount(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		prod := e.mustRequest(nil)
		cases := []struct {
			name, user, action, id, ts, outcome, answer string
		}{
			{"the requester may not approve (four eyes)", "U01ALICE", "approve", prod.RequestID, "2.1", OutcomeDenied, "four-eyes"},
			{"a non-approver is refused", "U09EVE", "approve", prod.RequestID, "2.2", OutcomeDenied, "not an approver"},
			{"an approver of another environment is refused", "U04DAVE", "approve", prod.RequestID, "2.3", OutcomeDenied, "not an approver"},
			{"a button naming no request is refused", "U02BOB", "approve", "00000000000000000000000000000000", "2.4", OutcomeUnknown, "no approval request"},
			{"the first approval counts", "U02BOB", "approve", prod.RequestID, "2.5", OutcomeCounted, "1 of 2"},
			{"the same approver twice counts once", "U02BOB", "approve", prod.RequestID, "2.6", OutcomeDuplicate, "already answered"},
			{"a replayed event counts once", "U02BOB", "approve", prod.RequestID, "2.5", OutcomeReplayed, ""},
			{"a reject decides", "U03CAROL", "reject", prod.RequestID, "2.7", OutcomeCounted, "rejected"},
			{"a click on a decided request changes nothing", "U01ALICE", "reject", prod.RequestID, "2.8", OutcomeClosed, "already rejected"},
		}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				before := e.relay.Metrics().Clicks(tc.outcome)
				if c := e.click(tc.user, tc.action, tc.id, tc.ts); c != 200 {
					t.Fatalf("ack %d", c)
				}
				if e.relay.Metrics().Clicks(tc.outcome) != before+1 {
					t.Fatalf("outcome not %s (answers %s)", tc.outcome, e.answers.all())
				}
				if tc.answer != "" {
					eventually(t, "answer "+tc.answer, func() bool { return strings.Contains(e.answers.all(), tc.answer) })
				}
			})
		}
		cl, _ := e.relay.cfg.Store.Clicks(context.Background(), prod.RequestID)
		if len(cl) != 2 {
			t.Fatalf("stored clicks %+v", cl)
		}
		e.arm(prod)
		sub := e.waitSubmission(prod)
		if sub.Params[ParamDecision] != "rejected" || sub.Params[ParamApprovers] != "U02BOB,U03CAROL" {
			t.Fatalf("submission %+v", sub.Params)
		}
	})
}

func TestABadSignatureIsRefusedWith401AndNothingIsStored(t *testing.T) {
	e := newEnv(t, "sqlite:"+filepath.Join(t.TempDir(), "r.db"))
	resp := e.mustRequest(nil)
	body := payload("U02BOB", "approve", resp.RequestID, "3.1")
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/slack/interactions", strings.NewReader(body))
	sign(req, body+"x")
	r, err := http.DefaultClient.Do(req)
	if err != nil || r.StatusCode != 401 {
		t.Fatalf("%v %v", r, err)
	}
	big := strings.Repeat("a", 70<<10)
	req, _ = http.NewRequest(http.MethodPost, e.srv.URL+"/slack/interactions", strings.NewReader(big))
	sign(req, big)
	if r, _ := http.DefaultClient.Do(req); r.StatusCode != 413 {
		t.Fatalf("oversized body: %d", r.StatusCode)
	}
	if cl, _ := e.relay.cfg.Store.Clicks(context.Background(), resp.RequestID); len(cl) != 0 {
		t.Fatalf("stored %+v", cl)
	}
}

func TestRequestsTheRelayRefuses(t *testing.T) {
	e := newEnv(t, "sqlite:"+filepath.Join(t.TempDir(), "r.db"))
	e.jenkins.StartBuild("/job/orders/8", "alice")
	e.jenkins.FinishBuild("/job/orders/8")
	e.jenkins.StartBuild("/job/orders/9", "mallory")
	e.jenkins.StartSCMBuild("/job/orders/10", "alice@example.com")
	revoked := e.controllers()[0]
	revoked.Name, revoked.Revoked, revoked.TokenSHA256 = "old", true, sha256.Sum256([]byte("revoked-token"))
	e.relay.cfg.Controllers = append(e.relay.cfg.Controllers, revoked)
	cases := []struct {
		name   string
		bearer string
		mod    func(*ApprovalRequest)
		code   int
		want   string
	}{
		{"no credential", "", nil, 401, "credential"},
		{"an unknown credential", "nope", nil, 401, "credential"},
		{"a revoked credential", "revoked-token", nil, 403, "credential"},
		{"a build on another host", ctlToken, func(a *ApprovalRequest) { a.BuildURL = "http://evil.example/job/orders/7/" }, 403, "not a build of the configured Jenkins"},
		{"dot segments", ctlToken, func(a *ApprovalRequest) { a.BuildURL = e.jurl + "/x/../job/orders/7/" }, 403, "dot"},
		{"encoded dots", ctlToken, func(a *ApprovalRequest) { a.BuildURL = e.jurl + "/%2e%2e/job/orders/7/" }, 403, "encoded"},
		{"userinfo", ctlToken, func(a *ApprovalRequest) {
			a.BuildURL = strings.Replace(e.jurl, "http://", "http://u:p@", 1) + build + "/"
		}, 403, "user info"},
		{"a build that finished", ctlToken, func(a *ApprovalRequest) { a.BuildURL = e.jurl + "/job/orders/8/" }, 409, "not running"},
		{"a build Jenkins does not know", ctlToken, func(a *ApprovalRequest) { a.BuildURL = e.jurl + "/job/orders/99/" }, 422, "has no build"},
		{"a requester rbac.yaml cannot name", ctlToken, func(a *ApprovalRequest) { a.BuildURL = e.jurl + "/job/orders/9/" }, 422, "mallory"},
		{"no rule for the environment", ctlToken, func(a *ApprovalRequest) { a.Environment = "qa" }, 422, "no approval rule"},
		{"a branch the rule does not take", ctlToken, func(a *ApprovalRequest) { a.Branch = "feature/x" }, 422, "may not be released"},
		{"a malformed requester", ctlToken, func(a *ApprovalRequest) { a.Requesters = []string{"u01bob"} }, 400, "not a Slack user id"},
		{"a malformed digest", ctlToken, func(a *ApprovalRequest) { a.Digests = []string{"md5:00"} }, 400, "digests"},
		{"a channel name", ctlToken, func(a *ApprovalRequest) { a.Channel = "#deploys" }, 400, "channel"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, _, bad := e.request(tc.bearer, e.body(tc.mod))
			if code != tc.code || !strings.Contains(bad.Error, tc.want) {
				t.Fatalf("%d %+v, want %d ~%q", code, bad, tc.code, tc.want)
			}
		})
	}
	if e.slack.posts != 0 {
		t.Fatalf("a refused request posted %d messages", e.slack.posts)
	}
	// An SCM-triggered build: the commit author, mapped through identities, is the requester; the step may add more.
	resp := e.mustRequest(func(a *ApprovalRequest) { a.BuildURL = e.jurl + "/job/orders/10/"; a.Requesters = []string{"U03CAROL"} })
	if len(resp.Requesters) != 2 || resp.Requesters[0] != "U01ALICE" || resp.Requesters[1] != "U03CAROL" {
		t.Fatalf("requesters %v", resp.Requesters)
	}
	if _, err := New(Config{Store: e.relay.cfg.Store, RBAC: e.relay.cfg.RBAC, Slack: e.slack, Responder: e.answers, Signer: e.signer, Audit: e.relay.cfg.Audit}); err == nil {
		t.Fatal("a relay without a Jenkins controller started")
	}
}

func TestJenkinsDownWhenTheQuorumIsMetIsAnsweredOnceItReturns(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		resp := e.mustRequest(nil)
		e.arm(resp)
		e.jenkins.FailNext(1 << 30)
		e.click("U02BOB", "approve", resp.RequestID, "4.1")
		e.click("U03CAROL", "approve", resp.RequestID, "4.2")
		eventually(t, "failed delivery attempts", func() bool { return e.relay.Metrics().Deliveries(DeliveryFailed) >= 2 })
		e.jenkins.FailNext(0)
		sub := e.waitSubmission(resp)
		if sub.Params[ParamDecision] != "approved" || len(e.jenkins.Submissions()) != 1 {
			t.Fatalf("submissions %+v", e.jenkins.Submissions())
		}
	})
}

func TestADecisionTakenBeforeARestartIsDeliveredAfterIt(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		resp := e.mustRequest(nil)
		e.click("U02BOB", "approve", resp.RequestID, "5.1")
		e.click("U03CAROL", "approve", resp.RequestID, "5.2")
		time.Sleep(100 * time.Millisecond)
		e.stop() // the input is not pending yet: nothing could be delivered
		if len(e.jenkins.Submissions()) != 0 || e.jenkins.NotPendingPosts() != 0 {
			t.Fatal("delivered to an input that was not pending")
		}
		e.arm(resp)
		e.start()
		if sub := e.waitSubmission(resp); sub.Params[ParamDecision] != "approved" {
			t.Fatalf("%+v", sub)
		}
	})
}

func TestExpiryAndEscalationRunOnTheRelaysClock(t *testing.T) {
	backends(t, func(t *testing.T, dsn string) {
		e := newEnv(t, dsn)
		resp := e.mustRequest(func(a *ApprovalRequest) { a.Timeout = "90m" }) // capped at the rule's 1h
		if d := time.Until(resp.Deadline); d > time.Hour || d < 59*time.Minute {
			t.Fatalf("deadline in %s, want the rule's 1h cap", d)
		}
		e.click("U02BOB", "approve", resp.RequestID, "6.1")
		e.advance(11 * time.Minute)
		eventually(t, "one escalation", func() bool {
			e.slack.mu.Lock()
			defer e.slack.mu.Unlock()
			return len(e.slack.replies) == 1 && strings.Contains(e.slack.replies[0], "<!subteam^S01RELEASE>")
		})
		e.advance(time.Hour)
		e.arm(resp)
		sub := e.waitSubmission(resp)
		if sub.Params[ParamDecision] != "expired" || sub.Params[ParamApprovers] != "U02BOB" {
			t.Fatalf("%+v", sub.Params)
		}
		if c := e.click("U03CAROL", "approve", resp.RequestID, "6.2"); c != 200 || e.relay.Metrics().Clicks(OutcomeClosed) != 1 {
			t.Fatal("a click after expiry was not refused")
		}
		eventually(t, "the expired message", func() bool {
			u := e.slack.lastUpdate()
			return strings.Contains(u, "Expired") && !strings.Contains(u, "rg_approve")
		})
		if len(e.slack.replies) != 1 {
			t.Fatalf("escalated %d times", len(e.slack.replies))
		}
	})
}

func TestAnUnreachableDatabaseAnswers503AndAcksNothing(t *testing.T) {
	e := newEnv(t, "sqlite:"+filepath.Join(t.TempDir(), "r.db"))
	resp := e.mustRequest(nil)
	_ = e.relay.cfg.Store.Close()
	if c := e.click("U02BOB", "approve", resp.RequestID, "7.1"); c != http.StatusServiceUnavailable {
		t.Fatalf("ack %d, want 503", c)
	}
	r, _ := http.Get(e.srv.URL + "/readyz")
	if r.StatusCode != 503 {
		t.Fatalf("readyz %d", r.StatusCode)
	}
}

func TestMetricsPassPromtool(t *testing.T) {
	e := newEnv(t, "sqlite:"+filepath.Join(t.TempDir(), "r.db"))
	resp := e.mustRequest(nil)
	e.click("U02BOB", "approve", resp.RequestID, "8.1")
	if r, _ := http.Get(e.srv.URL + "/readyz"); r.StatusCode != 200 {
		t.Fatalf("readyz %d", r.StatusCode)
	}
	r, err := http.Get(e.srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	cmd := exec.Command("promtool", "check", "metrics")
	cmd.Stdin = r.Body
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("promtool: %v: %s", err, out)
	}
}

func TestTwoReplicasOnOnePostgreSQLShareTheTallyAndAnswerOnce(t *testing.T) {
	dsn := pg.NewDB(t)
	a := newEnv(t, dsn)
	b := &env{t: t, dsn: dsn, jenkins: a.jenkins, jurl: a.jurl, slack: a.slack, answers: a.answers, signer: a.signer, audit: a.audit}
	b.start()
	const n = 5
	var resps []ApprovalResponse
	for i := 0; i < n; i++ {
		build := fmt.Sprintf("/job/orders/%d", 20+i)
		a.jenkins.StartBuild(build, "alice")
		resps = append(resps, a.mustRequest(func(r *ApprovalRequest) { r.BuildURL = a.jurl + build + "/" }))
		a.jenkins.Arm(build, jenkinsfake.Input{ID: resps[i].InputID, Submitter: relayUser, Params: resps[i].InputParams})
	}
	var wg sync.WaitGroup
	for i, r := range resps {
		for j, u := range []string{"U02BOB", "U03CAROL"} {
			wg.Add(1)
			go func(e *env, u, id, ts string) {
				defer wg.Done()
				if c := e.click(u, "approve", id, ts); c != 200 {
					t.Errorf("ack %d", c)
				}
			}([]*env{a, b}[(i+j)%2], u, r.RequestID, fmt.Sprintf("9%d.%d", i, j))
			// the same Slack event delivered to the other replica too (a retry through the load balancer)
			wg.Add(1)
			go func(e *env, u, id, ts string) {
				defer wg.Done()
				e.click(u, "approve", id, ts)
			}([]*env{b, a}[(i+j)%2], u, r.RequestID, fmt.Sprintf("9%d.%d", i, j))
		}
	}
	wg.Wait()
	eventually(t, "every decision delivered", func() bool { return len(a.jenkins.Submissions()) == n })
	time.Sleep(200 * time.Millisecond)
	if subs := a.jenkins.Submissions(); len(subs) != n || a.jenkins.NotPendingPosts() != 0 {
		t.Fatalf("%d submissions, %d posts to inputs not pending; want %d and 0", len(subs), a.jenkins.NotPendingPosts(), n)
	}
	sum := func(o string) uint64 { return a.relay.Metrics().Clicks(o) + b.relay.Metrics().Clicks(o) }
	// A repeated event is refused as a replay, or as closed when it arrives after the decision.
	if counted, repeated := sum(OutcomeCounted), sum(OutcomeReplayed)+sum(OutcomeDuplicate)+sum(OutcomeClosed); counted != 2*n || repeated != 2*n {
		t.Fatalf("%d counted and %d repeated events refused, want %d and %d", counted, repeated, 2*n, 2*n)
	}
	// GET /v1/approvals/{id} reports the decision with its record to the controller that asked.
	req, _ := http.NewRequest(http.MethodGet, b.srv.URL+"/v1/approvals/"+resps[0].RequestID, nil)
	req.Header.Set("Authorization", "Bearer "+ctlToken)
	r, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	var got ApprovalResponse
	_ = json.NewDecoder(r.Body).Decode(&got)
	if got.State != store.StateApproved || len(got.Record) == 0 {
		t.Fatalf("GET: %+v", got)
	}
	if _, err := decision.Verify(got.Record, a.signer.PublicKey()); err != nil {
		t.Fatal(err)
	}
}

func TestARateLimitedRedrawStillLeavesTheMessageRight(t *testing.T) {
	e := newEnv(t, "sqlite:"+filepath.Join(t.TempDir(), "r.db"))
	resp := e.mustRequest(nil)
	e.slack.srv.Limit("chat.update", 0, 2, 1) // the next two redraws are refused with 429, Retry-After 1 s
	for i, u := range []string{"U02BOB", "U03CAROL"} {
		if c := e.click(u, "approve", resp.RequestID, fmt.Sprintf("9.%d", i)); c != 200 {
			t.Fatalf("click ack %d", c)
		}
	}
	eventually(t, "the approved message in Slack", func() bool {
		m, ok := e.slack.srv.Message(resp.Channel, resp.TS)
		return ok && strings.Contains(string(m.Blocks), "Approved") && strings.Contains(string(m.Blocks), "2 of 2") && !strings.Contains(string(m.Blocks), "rg_approve")
	})
	limited := 0
	for _, c := range e.slack.srv.Calls("chat.update") {
		if c.Status == http.StatusTooManyRequests {
			limited++
		}
	}
	if limited != 2 {
		t.Fatalf("%d chat.update calls were rate limited, want 2 (the retries went through)", limited)
	}
}

func TestAMessageSlackRefusesIsAnInputErrorThatNamesInvalidBlocks(t *testing.T) {
	e := newEnv(t, "sqlite:"+filepath.Join(t.TempDir(), "r.db"))
	code, _, bad := e.request(ctlToken, e.body(func(a *ApprovalRequest) {
		for i := 0; i < 200; i++ { // 200 mentions overflow the 2000-character "Requested by" field
			a.Requesters = append(a.Requesters, fmt.Sprintf("U%08d", i))
		}
	}))
	if code != http.StatusUnprocessableEntity || !strings.Contains(bad.Error, "invalid_blocks") || !strings.Contains(bad.Error, "requesters") {
		t.Fatalf("answer %d %+v, want 422 naming invalid_blocks and the requesters", code, bad)
	}
	if n := len(e.slack.srv.Calls("chat.postMessage")); n != 1 {
		t.Fatalf("Slack was called %d times; a refused message is not retried", n)
	}
}

func TestClicksInABurstCostOneRedraw(t *testing.T) {
	e := newEnv(t, "sqlite:"+filepath.Join(t.TempDir(), "r.db"))
	// The two clicks must land within RedrawDelay of each other: 4 s, not the 1 s default, however slowly a loaded
	// machine commits the first one.
	e.stop()
	e.redraw = 4 * time.Second
	e.start()
	resp := e.mustRequest(nil)
	for i, u := range []string{"U02BOB", "U03CAROL"} {
		if c := e.click(u, "approve", resp.RequestID, fmt.Sprintf("10.%d", i)); c != 200 {
			t.Fatalf("click ack %d", c)
		}
	}
	eventually(t, "the approved message", func() bool {
		m, _ := e.slack.srv.Message(resp.Channel, resp.TS)
		return strings.Contains(string(m.Blocks), "Approved")
	})
	time.Sleep(e.redraw + 500*time.Millisecond) // a stale "1 of 2" redraw would land now
	m, _ := e.slack.srv.Message(resp.Channel, resp.TS)
	if n := len(e.slack.srv.Calls("chat.update")); n != 1 || m.Updates != 1 || !strings.Contains(string(m.Blocks), "Approved") {
		t.Fatalf("%d chat.update calls (message updated %d times), want the one closing redraw", n, m.Updates)
	}
}

func TestAReplicaThatCachedARequestStillRefusesAClickAfterAnotherReplicaDecidedIt(t *testing.T) {
	dsn := pg.NewDB(t)
	a := newEnv(t, dsn)
	b := &env{t: t, dsn: dsn, jenkins: a.jenkins, jurl: a.jurl, slack: a.slack, answers: a.answers, signer: a.signer, audit: a.audit}
	b.start()
	a.jenkins.StartBuild("/job/orders/40", "alice")
	resp := a.mustRequest(func(r *ApprovalRequest) { r.BuildURL = a.jurl + "/job/orders/40/" })
	a.jenkins.Arm("/job/orders/40", jenkinsfake.Input{ID: resp.InputID, Submitter: relayUser, Params: resp.InputParams})
	if c := b.click("U02BOB", "approve", resp.RequestID, "40.1"); c != 200 || b.relay.Metrics().Clicks(OutcomeCounted) != 1 {
		t.Fatalf("first approval on replica b: ack %d, answers %s", c, a.answers.all())
	}
	if c := a.click("U03CAROL", "reject", resp.RequestID, "40.2"); c != 200 || a.relay.Metrics().Clicks(OutcomeCounted) != 1 {
		t.Fatalf("deciding reject on replica a: ack %d, answers %s", c, a.answers.all())
	}
	// b saw the request pending; its click check must still find it closed.
	if c := b.click("U01ALICE", "reject", resp.RequestID, "40.3"); c != 200 || b.relay.Metrics().Clicks(OutcomeClosed) != 1 {
		t.Fatalf("click on b after a decided: ack %d, closed %d, answers %s", c, b.relay.Metrics().Clicks(OutcomeClosed), a.answers.all())
	}
	eventually(t, "the answer to the stale click", func() bool { return strings.Contains(a.answers.all(), "already rejected") })
	if cl, _ := b.relay.cfg.Store.Clicks(context.Background(), resp.RequestID); len(cl) != 2 {
		t.Fatalf("stored clicks %+v, want Bob's and Carol's only", cl)
	}
	eventually(t, "the decision delivered", func() bool { return len(a.jenkins.Submissions()) == 1 })
}
