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
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/release-gates/release-gates/helpers/internal/audit"
	"github.com/release-gates/release-gates/helpers/internal/decision"
	"github.com/release-gates/release-gates/helpers/internal/jenkins"
	"github.com/release-gates/release-gates/helpers/internal/rbac"
	"github.com/release-gates/release-gates/helpers/internal/retry"
	rgslack "github.com/release-gates/release-gates/helpers/internal/slack"
	"github.com/release-gates/release-gates/helpers/internal/store"
	"github.com/release-gates/release-gates/helpers/internal/testing/jenkinsfake"
	"github.com/release-gates/release-gates/helpers/internal/testing/pgtest"
	"github.com/release-gates/release-gates/helpers/internal/testing/slackfake"
	"github.com/release-gates/release-gates/helpers/internal/testing/syncbuf"
)

var pg *pgtest.Server

func TestMain(m *testing.M) { os.Exit(pgtest.Main(m, &pg)) }

const (
	signingSecret = "signing-secret-for-tests"
	relayUser     = "slack-relay"
	jenkinsToken  = "jenkins-api-token-1"
	ctlToken      = "controller-token-0123456789"
	build         = "/job/orders/7"
)

const testRBAC = `version: 1
users: {U01ALICE: alice, U02BOB: bob, U03CAROL: carol, U04DAVE: dave}
groups: {S01RELEASE: [U01ALICE, U02BOB, U03CAROL]}
identities: {"alice@example.com": U01ALICE}
approvals:
  - {service: orders, environment: prod, approvers: [S01RELEASE], required: 2, allowSelfApproval: false, branches: [main],
     escalationGroup: S01RELEASE, escalateAfter: 10m, maxTimeout: 1h}
  - {service: orders, environment: staging, approvers: [U04DAVE], required: 1, allowSelfApproval: true}
`

// fakeSlack is the relay's real Slack client against the strict fake; it records what Slack accepted.
type fakeSlack struct {
	srv     *slackfake.Server
	api     *rgslack.Client
	mu      sync.Mutex
	posts   int
	updates [][]slack.Block
	replies []string
}

func newFakeSlack(t *testing.T) *fakeSlack {
	srv := slackfake.New("xoxb-relay-test", "C0DEPLOY")
	hs := srv.Start()
	t.Cleanup(hs.Close)
	api := rgslack.New("xoxb-relay-test", srv.APIURL(), nil)
	api.MaxWait = 5 * time.Second
	return &fakeSlack{srv: srv, api: api}
}

func (f *fakeSlack) Post(ctx context.Context, channel, text string, blocks []slack.Block) (string, string, error) {
	ch, ts, err := f.api.Post(ctx, channel, text, blocks)
	if err == nil {
		f.mu.Lock()
		f.posts++
		f.mu.Unlock()
	}
	return ch, ts, err
}

func (f *fakeSlack) Update(ctx context.Context, channel, ts, text string, blocks []slack.Block) error {
	err := f.api.Update(ctx, channel, ts, text, blocks)
	if err == nil {
		f.mu.Lock()
		f.updates = append(f.updates, blocks)
		f.mu.Unlock()
	}
	return err
}

func (f *fakeSlack) Reply(ctx context.Context, channel, threadTS, text string) (string, error) {
	ts, err := f.api.Reply(ctx, channel, threadTS, text)
	if err == nil {
		f.mu.Lock()
		f.replies = append(f.replies, text)
		f.mu.Unlock()
	}
	return ts, err
}

// lastUpdate returns the last message rendered as JSON text.
func (f *fakeSlack) lastUpdate() string {
	f.mu.Lock()
	defer f.mu.Unlock()
	if len(f.updates) == 0 {
		return ""
	}
	b, _ := json.Marshal(f.updates[len(f.updates)-1])
	return string(b)
}

type answers struct {
	mu   sync.Mutex
	text []string
}

func (a *answers) Respond(_ context.Context, _, text string) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	a.text = append(a.text, text)
	return nil
}

func (a *answers) all() string {
	a.mu.Lock()
	defer a.mu.Unlock()
	return strings.Join(a.text, "\n")
}

type env struct {
	t       *testing.T
	dsn     string
	jenkins *jenkinsfake.Server
	jurl    string
	slack   *fakeSlack
	answers *answers
	signer  *decision.Signer
	relay   *Relay
	srv     *httptest.Server
	now     atomic.Int64  // unix ms offset added to the real clock
	redraw  time.Duration // the relay's RedrawDelay; 0: its default
	audit   *syncbuf.Buffer
}

var fastRetry = retry.Policy{Tries: 8, Initial: 5 * time.Millisecond, Max: 50 * time.Millisecond}

// newEnv starts a fake Jenkins with build 7 running (started by alice), and a relay on dsn.
func newEnv(t *testing.T, dsn string) *env {
	e := &env{t: t, dsn: dsn, jenkins: jenkinsfake.New(relayUser, jenkinsToken), slack: newFakeSlack(t), answers: &answers{}, audit: &syncbuf.Buffer{}}
	js := httptest.NewServer(e.jenkins)
	t.Cleanup(js.Close)
	e.jurl = js.URL
	e.jenkins.StartBuild(build, "alice")
	s, err := decision.GenerateKey(filepath.Join(t.TempDir(), "decision.pem"))
	if err != nil {
		t.Fatal(err)
	}
	e.signer = s
	e.start()
	return e
}

func (e *env) controllers() []Controller {
	u, _ := ParseJenkinsURL(e.jurl)
	return []Controller{{Name: "ci", URL: u, TokenSHA256: sha256.Sum256([]byte(ctlToken)), User: relayUser,
		Jenkins: &jenkins.Client{User: relayUser, Token: jenkinsToken, Retry: fastRetry}}}
}

// start (re)starts the relay process on the same database.
func (e *env) start() {
	t := e.t
	st, err := store.Open(context.Background(), e.dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg, err := rbac.Parse([]byte(testRBAC))
	if err != nil {
		t.Fatal(err)
	}
	aw := audit.New(e.audit)
	r, err := New(Config{Store: st, RBAC: cfg, Controllers: e.controllers(), Slack: e.slack, Responder: e.answers, Signer: e.signer,
		Audit: aw, SigningSecret: signingSecret, Poll: 20 * time.Millisecond, Lease: 2 * time.Second, RedrawDelay: e.redraw,
		Now: func() time.Time { return time.Now().Add(time.Duration(e.now.Load()) * time.Millisecond) }})
	if err != nil {
		t.Fatal(err)
	}
	r.Start()
	e.relay = r
	e.srv = httptest.NewServer(r.Handler())
	t.Cleanup(func() { e.stop(); _ = st.Close() })
}

func (e *env) stop() {
	if e.srv != nil {
		e.srv.Close()
		e.relay.Close()
		e.srv = nil
	}
}

func (e *env) advance(d time.Duration) { e.now.Add(d.Milliseconds()) }

func (e *env) body(mod func(*ApprovalRequest)) ApprovalRequest {
	ar := ApprovalRequest{BuildURL: e.jurl + build + "/", TraceID: "rg-trace-1", Service: "orders", Environment: "prod", Version: "1.0.0",
		Commit: "0123456789abcdef0123456789abcdef01234567", Branch: "main", Channel: "C0DEPLOY",
		Digests: []string{"sha256:" + strings.Repeat("ab", 32)}, Summary: []string{"signed orders-linux-amd64"}}
	if mod != nil {
		mod(&ar)
	}
	return ar
}

// request posts an approval request with bearer and returns the status and the decoded body.
func (e *env) request(bearer string, ar ApprovalRequest) (int, ApprovalResponse, apiError) {
	b, _ := json.Marshal(ar)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/v1/approvals", bytes.NewReader(b))
	if bearer != "" {
		req.Header.Set("Authorization", "Bearer "+bearer)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var ok ApprovalResponse
	var bad apiError
	if resp.StatusCode == http.StatusCreated {
		_ = json.Unmarshal(raw, &ok)
	} else {
		_ = json.Unmarshal(raw, &bad)
	}
	return resp.StatusCode, ok, bad
}

func (e *env) mustRequest(mod func(*ApprovalRequest)) ApprovalResponse {
	code, resp, bad := e.request(ctlToken, e.body(mod))
	if code != http.StatusCreated {
		e.t.Fatalf("request: %d %+v", code, bad)
	}
	return resp
}

func payload(user, action, requestID, actionTS string) string {
	id := rgslack.ActionApprove
	if action == "reject" {
		id = rgslack.ActionReject
	}
	p, _ := json.Marshal(map[string]any{"type": "block_actions", "user": map[string]any{"id": user}, "team": map[string]any{"id": "T1"},
		"channel": map[string]any{"id": "C0DEPLOY"}, "container": map[string]any{"message_ts": "1700000000.000001"}, "response_url": "https://hooks.slack.test/r",
		"actions": []map[string]any{{"type": "button", "block_id": rgslack.BlockActions, "action_id": id, "value": requestID, "action_ts": actionTS}}})
	return url.Values{"payload": {string(p)}}.Encode()
}

func sign(req *http.Request, body string) {
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	m := hmac.New(sha256.New, []byte(signingSecret))
	fmt.Fprintf(m, "v0:%s:%s", ts, body)
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(m.Sum(nil)))
}

// click posts a signed click and returns the HTTP status.
func (e *env) click(user, action, requestID, actionTS string) int {
	body := payload(user, action, requestID, actionTS)
	req, _ := http.NewRequest(http.MethodPost, e.srv.URL+"/slack/interactions", strings.NewReader(body))
	sign(req, body)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatal(err)
	}
	resp.Body.Close()
	return resp.StatusCode
}

// arm makes the pipeline reach the request's input with the parameters the step declares.
func (e *env) arm(resp ApprovalResponse) {
	e.jenkins.Arm(build, jenkinsfake.Input{ID: resp.InputID, Message: "approve?", Submitter: resp.Submitter, Params: resp.InputParams})
}

func (e *env) waitSubmission(resp ApprovalResponse) jenkinsfake.Submission {
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sub, err := e.jenkins.WaitSubmission(ctx, build, resp.InputID)
	if err != nil {
		e.t.Fatalf("%v (audit: %s)", err, e.audit.String())
	}
	return sub
}

// eventually polls cond for up to 60 s (it returns as soon as cond holds: the bound only ends a failing test).
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		if cond() {
			return
		}
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("timed out waiting for %s", what)
}

func backends(t *testing.T, f func(t *testing.T, dsn string)) {
	t.Run("sqlite", func(t *testing.T) { f(t, "sqlite:"+filepath.Join(t.TempDir(), "relay.db")) })
	t.Run("postgres", func(t *testing.T) { f(t, pg.NewDB(t)) })
}
