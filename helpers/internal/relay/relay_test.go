package relay

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/release-gates/release-gates/helpers/internal/audit"
	"github.com/release-gates/release-gates/helpers/internal/jenkins"
	"github.com/release-gates/release-gates/helpers/internal/rbac"
	rgslack "github.com/release-gates/release-gates/helpers/internal/slack"
	"github.com/release-gates/release-gates/helpers/internal/token"
)

const (
	signingSecret = "8f742231b10e8888abcd99yyyzzz85a5"
	jenkinsUser   = "ci-bot"
	jenkinsToken  = "11aa22bb33cc44dd"
)

var buttonKey = []byte("button-secret-0123456789abcdef0123")

// syncBuffer is a concurrency-safe audit sink.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) records(t *testing.T) []audit.Record {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []audit.Record
	for _, line := range strings.Split(strings.TrimSpace(b.buf.String()), "\n") {
		if line == "" {
			continue
		}
		var r audit.Record
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("audit line %q: %v", line, err)
		}
		out = append(out, r)
	}
	return out
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// env is one relay wired to a Jenkins stand-in and a response_url sink.
type env struct {
	t        testing.TB
	relay    *Relay
	srv      *httptest.Server
	jenkins  *jenkins.StandIn
	jsrv     *httptest.Server
	answers  chan string
	respURL  string
	auditBuf *syncBuffer
}

func newEnv(t testing.TB) *env {
	t.Helper()
	cfg, err := rbac.Load(filepath.Join("..", "..", "..", "resources", "rbac.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, jenkins: jenkins.NewStandIn(jenkinsUser, jenkinsToken), answers: make(chan string, 16), auditBuf: &syncBuffer{}}
	e.jenkins.RequireCrumb = true
	e.jenkins.AddInput("/job/payments/7", "approve-prod", ParamApprover, ParamApproverName, ParamEventID, ParamComment, ParamDecision, ParamTraceID)
	e.jsrv = httptest.NewServer(e.jenkins)
	t.Cleanup(e.jsrv.Close)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m struct {
			Replace *bool  `json:"replace_original"`
			Text    string `json:"text"`
		}
		if err := json.NewDecoder(r.Body).Decode(&m); err != nil || m.Replace == nil || *m.Replace {
			t.Errorf("response_url got a bad answer: %v", err)
		}
		e.answers <- m.Text
	}))
	t.Cleanup(sink.Close)
	e.respURL = sink.URL + "/actions/T1/123/abc"
	fast := func() backoff.BackOff {
		b := backoff.NewExponentialBackOff()
		b.InitialInterval, b.MaxElapsedTime = time.Millisecond, 300*time.Millisecond
		return b
	}
	e.relay, err = New(Config{
		SigningSecret: signingSecret, ButtonKey: buttonKey, RBAC: cfg,
		Jenkins:   &jenkins.Client{User: jenkinsUser, Token: jenkinsToken, Retry: fast},
		Responder: &rgslack.Responder{}, Audit: audit.New(e.auditBuf),
		JenkinsURL: e.jsrv.URL, Workers: 2, Queue: 16,
	})
	if err != nil {
		t.Fatal(err)
	}
	e.srv = httptest.NewServer(e.relay.Handler())
	t.Cleanup(func() { e.srv.Close(); e.relay.Close() })
	return e
}

func (e *env) token(decision string, mutate func(*token.Claims)) string {
	c := token.Claims{BuildURL: e.jsrv.URL + "/job/payments/7/", InputID: "approve-prod", TraceID: "rg-trace-1", Service: "payments", Environment: "prod", Branch: "main", Requester: "U01ALICE", Decision: decision, Expires: time.Now().Add(time.Hour).Unix()}
	if mutate != nil {
		mutate(&c)
	}
	tok, err := token.Sign(buttonKey, c)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

// payload is a block_actions payload shaped like Slack's.
func (e *env) payload(user, actionID, value, actionTS string) string {
	p := map[string]any{
		"type":         "block_actions",
		"user":         map[string]any{"id": user, "username": strings.ToLower(user), "team_id": "T1"},
		"api_app_id":   "A1",
		"team":         map[string]any{"id": "T1", "domain": "acme"},
		"container":    map[string]any{"type": "message", "message_ts": "1700000000.000100", "channel_id": "C0DEPLOY", "is_ephemeral": false},
		"channel":      map[string]any{"id": "C0DEPLOY", "name": "deploys"},
		"trigger_id":   "1.2.3",
		"response_url": e.respURL,
		"actions": []map[string]any{{
			"type": "button", "action_id": actionID, "block_id": rgslack.BlockActions, "value": value,
			"text": map[string]any{"type": "plain_text", "text": "Approve"}, "action_ts": actionTS,
		}},
	}
	b, _ := json.Marshal(p)
	return url.Values{"payload": {string(b)}}.Encode()
}

// sign returns the headers Slack would send for body at ts.
func sign(secret, body string, ts time.Time) http.Header {
	sts := strconv.FormatInt(ts.Unix(), 10)
	m := hmac.New(sha256.New, []byte(secret))
	fmt.Fprintf(m, "v0:%s:%s", sts, body)
	h := http.Header{}
	h.Set("Content-Type", "application/x-www-form-urlencoded")
	h.Set("X-Slack-Request-Timestamp", sts)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(m.Sum(nil)))
	return h
}

func (e *env) post(body string, h http.Header) int {
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/slack/interactions", strings.NewReader(body))
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode
}

func (e *env) answer() string {
	select {
	case a := <-e.answers:
		return a
	case <-time.After(10 * time.Second):
		e.t.Fatal("no answer through response_url")
		return ""
	}
}

func (e *env) noAnswer() {
	select {
	case a := <-e.answers:
		e.t.Fatalf("unexpected answer %q", a)
	case <-time.After(100 * time.Millisecond):
	}
}

func TestAnApprovedClickResumesJenkinsWithWhoAndWhy(t *testing.T) {
	for _, decision := range []string{token.DecisionApprove, token.DecisionReject} {
		t.Run(decision, func(t *testing.T) {
			e := newEnv(t)
			action := map[string]string{token.DecisionApprove: rgslack.ActionApprove, token.DecisionReject: rgslack.ActionReject}[decision]
			body := e.payload("U02BOB", action, e.token(decision, nil), "1700000100.123456")
			if code := e.post(body, sign(signingSecret, body, time.Now())); code != http.StatusOK {
				t.Fatalf("status %d", code)
			}
			if a := e.answer(); !strings.Contains(a, "Jenkins has resumed") {
				t.Fatalf("answer %q", a)
			}
			subs := e.jenkins.Submissions()
			if len(subs) != 1 || subs[0].Action != "submit" || subs[0].InputID != "Approve-prod" || subs[0].Proceed == "" {
				t.Fatalf("submissions %+v", subs)
			}
			want := map[string]string{ParamApprover: "U02BOB", ParamApproverName: "bob", ParamEventID: "1700000100.123456-U02BOB", ParamDecision: decision, ParamTraceID: "rg-trace-1"}
			for k, v := range want {
				if subs[0].Params[k] != v {
					t.Fatalf("param %s = %q, want %q (all %v)", k, subs[0].Params[k], v, subs[0].Params)
				}
			}
			if !strings.Contains(subs[0].Params[ParamComment], "bob") {
				t.Fatalf("comment %q", subs[0].Params[ParamComment])
			}
			recs := e.auditBuf.records(t)
			last := recs[len(recs)-1]
			if last.User != "U02BOB" || last.TraceID != "rg-trace-1" || last.Team != "T1" || last.Channel != "C0DEPLOY" || last.MessageTS != "1700000000.000100" || last.ActionTS != "1700000100.123456" || last.InputID != "approve-prod" || !strings.Contains(last.BuildURL, "/job/payments/7/") {
				t.Fatalf("audit %+v", last)
			}
			if strings.Contains(e.auditBuf.String(), signingSecret) || strings.Contains(e.auditBuf.String(), "v1.") || strings.Contains(e.auditBuf.String(), jenkinsToken) {
				t.Fatal("audit contains a secret or a raw token")
			}
		})
	}
}

func TestBadClicksNeverReachJenkins(t *testing.T) {
	cases := []struct {
		name       string
		send       func(e *env) int
		wantStatus int
		wantAnswer string // "" means no answer expected
		wantAudit  audit.Event
		outcome    string
	}{
		{"a forged signature is refused with 401", func(e *env) int {
			body := e.payload("U02BOB", rgslack.ActionApprove, e.token("approve", nil), "1.1")
			return e.post(body, sign("not-the-secret", body, time.Now()))
		}, 401, "", audit.EventForged, OutcomeForged},
		{"a timestamp more than 5 minutes old is refused with 401", func(e *env) int {
			body := e.payload("U02BOB", rgslack.ActionApprove, e.token("approve", nil), "1.1")
			return e.post(body, sign(signingSecret, body, time.Now().Add(-6*time.Minute)))
		}, 401, "", audit.EventForged, OutcomeStale},
		{"a timestamp from the future is refused with 401", func(e *env) int {
			body := e.payload("U02BOB", rgslack.ActionApprove, e.token("approve", nil), "1.1")
			return e.post(body, sign(signingSecret, body, time.Now().Add(6*time.Minute)))
		}, 401, "", audit.EventForged, OutcomeStale},
		{"missing signature headers are refused with 401", func(e *env) int {
			body := e.payload("U02BOB", rgslack.ActionApprove, e.token("approve", nil), "1.1")
			return e.post(body, http.Header{"Content-Type": {"application/x-www-form-urlencoded"}})
		}, 401, "", audit.EventForged, OutcomeForged},
		{"a body edited after signing is refused with 401", func(e *env) int {
			body := e.payload("U04DAVE", rgslack.ActionApprove, e.token("approve", nil), "1.1")
			h := sign(signingSecret, body, time.Now())
			return e.post(strings.Replace(body, "U04DAVE", "U02BOB", 1), h)
		}, 401, "", audit.EventForged, OutcomeForged},
		{"an oversized body is refused with 413", func(e *env) int {
			body := "payload=" + strings.Repeat("a", 70<<10)
			return e.post(body, sign(signingSecret, body, time.Now()))
		}, 413, "", "", OutcomeTooLarge},
		{"a tampered token is denied", func(e *env) int {
			tok := e.token("approve", nil)
			tok = tok[:10] + string('A'+(tok[10]-'A'+1)%26) + tok[11:]
			body := e.payload("U02BOB", rgslack.ActionApprove, tok, "1.1")
			return e.post(body, sign(signingSecret, body, time.Now()))
		}, 200, "could not be verified", audit.EventDenied, OutcomeTampered},
		{"a reject token on the approve button is denied", func(e *env) int {
			body := e.payload("U02BOB", rgslack.ActionApprove, e.token("reject", nil), "1.1")
			return e.post(body, sign(signingSecret, body, time.Now()))
		}, 200, "could not be verified", audit.EventDenied, OutcomeTampered},
		{"an expired token is refused", func(e *env) int {
			body := e.payload("U02BOB", rgslack.ActionApprove, e.token("approve", func(c *token.Claims) { c.Expires = time.Now().Add(-time.Minute).Unix() }), "1.1")
			return e.post(body, sign(signingSecret, body, time.Now()))
		}, 200, "expired", audit.EventExpired, OutcomeExpired},
		{"a user who is not an approver is denied", func(e *env) int {
			body := e.payload("U04DAVE", rgslack.ActionApprove, e.token("approve", nil), "1.1")
			return e.post(body, sign(signingSecret, body, time.Now()))
		}, 200, "not an approver", audit.EventDenied, OutcomeDenied},
		{"the requester approving their own release is denied", func(e *env) int {
			body := e.payload("U01ALICE", rgslack.ActionApprove, e.token("approve", nil), "1.1")
			return e.post(body, sign(signingSecret, body, time.Now()))
		}, 200, "four-eyes", audit.EventDenied, OutcomeDenied},
		{"a branch not allowed for the environment is denied", func(e *env) int {
			body := e.payload("U02BOB", rgslack.ActionApprove, e.token("approve", func(c *token.Claims) { c.Branch = "feature/x" }), "1.1")
			return e.post(body, sign(signingSecret, body, time.Now()))
		}, 200, "may not be released", audit.EventDenied, OutcomeDenied},
		{"a click for a finished build is answered so", func(e *env) int {
			body := e.payload("U02BOB", rgslack.ActionApprove, e.token("approve", func(c *token.Claims) { c.BuildURL = strings.Replace(c.BuildURL, "/7/", "/6/", 1) }), "1.1")
			return e.post(body, sign(signingSecret, body, time.Now()))
		}, 200, "already finished", audit.EventDenied, OutcomeAccepted},
		{"a token for another Jenkins is denied", func(e *env) int {
			body := e.payload("U02BOB", rgslack.ActionApprove, e.token("approve", func(c *token.Claims) { c.BuildURL = "http://127.0.0.2:1/job/payments/7/" }), "1.1")
			return e.post(body, sign(signingSecret, body, time.Now()))
		}, 200, "could not be verified", audit.EventDenied, OutcomeTampered},
		{"a down Jenkins is retried, then the clicker is told", func(e *env) int {
			e.jenkins.FailNext(1 << 20)
			body := e.payload("U02BOB", rgslack.ActionApprove, e.token("approve", nil), "1.1")
			return e.post(body, sign(signingSecret, body, time.Now()))
		}, 200, "NOT recorded", audit.EventFailed, OutcomeAccepted},
		{"an unparsable payload is a 400", func(e *env) int {
			body := "payload=%7Bnot-json"
			return e.post(body, sign(signingSecret, body, time.Now()))
		}, 400, "", "", OutcomeBadPayload},
		{"someone else's button is ignored", func(e *env) int {
			body := e.payload("U02BOB", "other_action", "x", "1.1")
			return e.post(body, sign(signingSecret, body, time.Now()))
		}, 200, "", "", OutcomeIgnored},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t)
			if code := tc.send(e); code != tc.wantStatus {
				t.Fatalf("status %d, want %d", code, tc.wantStatus)
			}
			if tc.wantAnswer != "" {
				if a := e.answer(); !strings.Contains(a, tc.wantAnswer) {
					t.Fatalf("answer %q, want ~%q", a, tc.wantAnswer)
				}
			} else {
				e.noAnswer()
			}
			if subs := e.jenkins.Submissions(); len(subs) != 0 {
				t.Fatalf("Jenkins got %+v", subs)
			}
			if got := e.relay.Metrics().Requests(tc.outcome); got != 1 {
				t.Fatalf("outcome %s counted %d times", tc.outcome, got)
			}
			recs := e.auditBuf.records(t)
			if tc.wantAudit == "" {
				if len(recs) != 0 {
					t.Fatalf("unexpected audit %+v", recs)
				}
				return
			}
			if len(recs) != 1 || recs[0].Event != tc.wantAudit || recs[0].Reason == "" {
				t.Fatalf("audit %+v, want one %s with a reason", recs, tc.wantAudit)
			}
		})
	}
}

func TestReplaysAreAuditedAndTheFirstDecisionWins(t *testing.T) {
	e := newEnv(t)
	body := e.payload("U02BOB", rgslack.ActionApprove, e.token("approve", nil), "1700000100.1")
	h := sign(signingSecret, body, time.Now())
	if e.post(body, h) != 200 || e.post(body, h) != 200 {
		t.Fatal("status")
	}
	if a := e.answer(); !strings.Contains(a, "resumed") {
		t.Fatalf("answer %q", a)
	}
	// The same click re-signed later (new signature, same action_ts and user) is a replay too.
	if e.post(body, sign(signingSecret, body, time.Now().Add(time.Second))) != 200 {
		t.Fatal("status")
	}
	// A second approver's click on the decided input is told it was already decided.
	body2 := e.payload("U03CAROL", rgslack.ActionReject, e.token("reject", nil), "1700000101.1")
	if e.post(body2, sign(signingSecret, body2, time.Now())) != 200 {
		t.Fatal("status")
	}
	if a := e.answer(); !strings.Contains(a, "already decided") {
		t.Fatalf("answer %q", a)
	}
	e.noAnswer()
	subs := e.jenkins.Submissions()
	if len(subs) != 1 || subs[0].Params[ParamApprover] != "U02BOB" || subs[0].Params[ParamDecision] != "approve" {
		t.Fatalf("submissions %+v", subs)
	}
	if n := e.relay.Metrics().Requests(OutcomeReplayed); n != 2 {
		t.Fatalf("replays counted %d, want 2", n)
	}
	replays := 0
	for _, r := range e.auditBuf.records(t) {
		if r.Event == audit.EventReplayed {
			replays++
		}
	}
	if replays != 2 {
		t.Fatalf("audited %d replays, want 2", replays)
	}
}

func TestHealthAndMetricsAreServed(t *testing.T) {
	e := newEnv(t)
	body := e.payload("U02BOB", rgslack.ActionApprove, e.token("approve", nil), "1.1")
	e.post(body, sign("wrong", body, time.Now()))
	for path, want := range map[string]string{"/healthz": "ok", "/metrics": `rg_relay_requests_total{outcome="forged"} 1`} {
		t.Run(path, func(t *testing.T) {
			resp, err := http.Get(e.srv.URL + path)
			if err != nil {
				t.Fatal(err)
			}
			b, _ := io.ReadAll(resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 || !strings.Contains(string(b), want) {
				t.Fatalf("%s: %d %s", path, resp.StatusCode, b)
			}
			if path == "/metrics" && !strings.Contains(string(b), `rg_relay_ack_seconds_bucket{le="+Inf"} 1`) {
				t.Fatalf("no ack histogram: %s", b)
			}
		})
	}
}

func TestAFullQueueAnswers503AndForgetsTheClick(t *testing.T) {
	e := newEnv(t)
	blocked := make(chan struct{})
	e.relay.Close() // replace with a relay whose single worker is stuck
	r, err := New(Config{SigningSecret: signingSecret, ButtonKey: buttonKey, RBAC: e.relay.cfg.RBAC, Jenkins: blockingSubmitter(blocked), Responder: &rgslack.Responder{}, Audit: audit.New(io.Discard), Workers: 1, Queue: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer func() { close(blocked); r.Close() }()
	srv := httptest.NewServer(r.Handler())
	defer srv.Close()
	e.srv = srv
	codes := []int{}
	for i := 0; i < 4; i++ {
		body := e.payload("U02BOB", rgslack.ActionApprove, e.token("approve", nil), fmt.Sprintf("1.%d", i))
		codes = append(codes, e.post(body, sign(signingSecret, body, time.Now())))
	}
	if codes[len(codes)-1] != http.StatusServiceUnavailable {
		t.Fatalf("codes %v, want the last to be 503", codes)
	}
	if r.Metrics().Requests(OutcomeOverloaded) == 0 {
		t.Fatal("overload not counted")
	}
}

type blockingSubmitter chan struct{}

func (b blockingSubmitter) Submit(ctx context.Context, _, _, _ string, _ []jenkins.Param) error {
	select {
	case <-b:
	case <-ctx.Done():
	}
	return nil
}

func FuzzParsePayload(f *testing.F) {
	e := &env{respURL: "http://127.0.0.1/x"}
	p, _ := url.ParseQuery(e.payload("U1", rgslack.ActionApprove, "v1.x.y", "1.1"))
	f.Add([]byte(p.Get("payload")))
	f.Add([]byte(`{"type":"block_actions","actions":[null]}`))
	f.Add([]byte(`{"type":"block_actions","user":{"id":"U"},"actions":[{"action_id":"rg_approve","value":""}]}`))
	cfg, err := rbac.Load(filepath.Join("..", "..", "..", "resources", "rbac.example.yaml"))
	if err != nil {
		f.Fatal(err)
	}
	r, err := New(Config{SigningSecret: "s", ButtonKey: buttonKey, RBAC: cfg, Jenkins: blockingSubmitter(nil), Responder: &rgslack.Responder{}, Audit: audit.New(io.Discard), Queue: 1, Workers: 1})
	if err != nil {
		f.Fatal(err)
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		cb, err := ParsePayload(b)
		if err != nil {
			return
		}
		// No fuzzed payload may get past the token check: it cannot hold a valid MAC.
		switch out := r.Handle(cb); out {
		case OutcomeAccepted, OutcomeReplayed, OutcomeDenied, OutcomeOverloaded:
			t.Fatalf("fuzzed payload reached %s", out)
		}
	})
}

// BenchmarkVerifiedClick measures the CPU cost of one verified, accepted click up to the ack.
func BenchmarkVerifiedClick(b *testing.B) {
	e := newEnv(b)
	e.relay.Close()
	r, err := New(Config{SigningSecret: signingSecret, ButtonKey: buttonKey, RBAC: e.relay.cfg.RBAC, Jenkins: nopSubmitter{}, Responder: nopResponder{}, Audit: audit.New(io.Discard), Workers: 2, Queue: 1 << 16, ReplayWindow: 1 << 20})
	if err != nil {
		b.Fatal(err)
	}
	defer r.Close()
	h := r.Handler()
	tok := e.token("approve", nil)
	bodies := make([]string, b.N)
	for i := range bodies {
		bodies[i] = e.payload("U02BOB", rgslack.ActionApprove, tok, fmt.Sprintf("1700000000.%09d", i))
	}
	now := time.Now()
	headers := make([]http.Header, b.N)
	for i := range headers {
		headers[i] = sign(signingSecret, bodies[i], now)
	}
	cpu0 := cpuTime()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		req := httptest.NewRequest(http.MethodPost, "/slack/interactions", strings.NewReader(bodies[i]))
		req.Header = headers[i]
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
	b.StopTimer()
	// CPU time is steadier than wall time on a shared machine.
	b.ReportMetric(float64((cpuTime()-cpu0).Microseconds())/float64(b.N), "cpu-µs/op")
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

type nopSubmitter struct{}

func (nopSubmitter) Submit(context.Context, string, string, string, []jenkins.Param) error {
	return nil
}

type nopResponder struct{}

func (nopResponder) Respond(context.Context, string, string) error { return nil }
