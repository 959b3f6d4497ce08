package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	goslack "github.com/slack-go/slack"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/result"
	rgslack "github.com/release-gates/release-gates/helpers/internal/slack"
	"github.com/release-gates/release-gates/helpers/internal/testing/jenkinsfake"
	"github.com/release-gates/release-gates/helpers/internal/testing/slackfake"
	"github.com/release-gates/release-gates/helpers/internal/testing/syncbuf"
)

const (
	signingSecret = "signing-secret-for-tests"
	botToken      = "xoxb-cli-test"
	jenkinsToken  = "jenkins-api-token-cli"
	ctlToken      = "controller-credential-cli-0123"
	relayUser     = "slack-relay"
)

var exampleRBAC = filepath.Join("..", "..", "..", "resources", "rbac.example.yaml")

// TestMain doubles as the helper itself when RG_TEST_MAIN=1, so a test can run (and SIGKILL) a real relay process.
func TestMain(m *testing.M) {
	if os.Getenv("RG_TEST_MAIN") == "1" {
		main()
		return
	}
	dir, _ := os.MkdirTemp("", "rg-breakers-")
	os.Setenv(breaker.DirEnv, dir)
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// newSlack is the strict Slack fake, bot token botToken, with the deploy channel.
func newSlack(t *testing.T) *slackfake.Server {
	s := slackfake.New(botToken, "C0DEPLOY")
	srv := s.Start()
	t.Cleanup(srv.Close)
	return s
}

// lastParams returns the parameters of the last successful call of method.
func lastParams(s *slackfake.Server, method string) map[string]string {
	calls := s.Calls(method)
	for i := len(calls) - 1; i >= 0; i-- {
		if calls[i].Error == "" && calls[i].Status == http.StatusOK {
			return calls[i].Params
		}
	}
	return nil
}

func run(t *testing.T, ctx context.Context, args ...string) (int, result.Result, string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "r.json")
	var out, errb bytes.Buffer
	code := app.Run(ctx, newApp(), append(append([]string{"slack-approval"}, args...), "--result-file", path), &out, &errb)
	var r result.Result
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("no result file (exit %d, stderr %s)", code, errb.String())
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if code != r.ExitCode {
		t.Fatalf("exit %d but result says %d", code, r.ExitCode)
	}
	for _, s := range []string{signingSecret, botToken, jenkinsToken, ctlToken} {
		if strings.Contains(errb.String(), s) || strings.Contains(string(b), s) || strings.Contains(out.String(), s) {
			t.Fatalf("a secret leaked into the output")
		}
	}
	return code, r, out.String(), errb.String()
}

// world is one Jenkins (build 7 running, started by alice), one Slack, and a relay config on SQLite.
type world struct {
	t       *testing.T
	dir     string
	jenkins *jenkinsfake.Server
	jurl    string
	slack   *slackfake.Server
	config  string
	pub     string
}

func newWorld(t *testing.T) *world {
	w := &world{t: t, dir: t.TempDir(), jenkins: jenkinsfake.New(relayUser, jenkinsToken)}
	js := httptest.NewServer(w.jenkins)
	t.Cleanup(js.Close)
	w.jurl = js.URL
	w.jenkins.StartBuild("/job/payments/7", "alice")
	s := newSlack(t)
	w.slack = s
	key, pub := filepath.Join(w.dir, "decision.pem"), filepath.Join(w.dir, "decision.pub")
	if code, r, _, _ := run(t, context.Background(), "keygen", "--out", key, "--public-out", pub); code != 0 {
		t.Fatalf("keygen: %s", r.Message)
	}
	w.pub = pub
	sum := sha256.Sum256([]byte(ctlToken))
	w.config = filepath.Join(w.dir, "relay.yaml")
	cfg := fmt.Sprintf(`listen: %s
mode: http
database: sqlite:%s/relay.db
rbac: %s
audit: %s/audit.jsonl
decisionKey: %s
slack:
  apiURL: %s
  botToken: {env: SLACK_BOT_TOKEN}
  signingSecret: {env: SLACK_SIGNING_SECRET}
controllers:
  - name: ci
    url: %s
    user: %s
    apiToken: {env: RG_JENKINS_TOKEN}
    credentialSHA256: %s
`, "127.0.0.1:0", w.dir, exampleRBAC, w.dir, key, s.APIURL(), js.URL, relayUser, hex.EncodeToString(sum[:]))
	if err := os.WriteFile(w.config, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SLACK_BOT_TOKEN", botToken)
	t.Setenv("SLACK_SIGNING_SECRET", signingSecret)
	t.Setenv("RG_JENKINS_TOKEN", jenkinsToken)
	return w
}

// startRelay runs `slack-approval relay --config` in-process and returns the address it bound.
func (w *world) startRelay() string {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	addrFile := filepath.Join(w.dir, "relay-result.json")
	errb := &syncbuf.Buffer{}
	go func() {
		var out bytes.Buffer
		done <- app.Run(ctx, newApp(), []string{"slack-approval", "relay", "--config", w.config, "--result-file", addrFile}, &out, errb)
	}()
	w.t.Cleanup(func() {
		cancel()
		if code := <-done; code != 0 {
			w.t.Errorf("relay exit %d", code)
		}
	})
	return w.waitAddr(errb.String, 1)
}

// listening is the relay's log line naming the address it bound.
var listening = regexp.MustCompile(`listening on (127\.0\.0\.1:[0-9]+)`)

// waitAddr waits for the nth "listening on" line in the relay's log, then until the relay answers /healthz there.
// The config listens on 127.0.0.1:0: no port is chosen and released before the relay binds it, where another test
// binary could take it in between (also on each restart of a killed relay).
func (w *world) waitAddr(log func() string, nth int) string {
	deadline := time.Now().Add(60 * time.Second)
	for addr := ""; time.Now().Before(deadline); time.Sleep(10 * time.Millisecond) {
		if m := listening.FindAllStringSubmatch(log(), -1); addr == "" && len(m) >= nth {
			addr = m[nth-1][1]
		}
		if addr == "" {
			continue
		}
		if resp, err := http.Get("http://" + addr + "/healthz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return addr
			}
		}
	}
	w.t.Fatalf("relay did not start:\n%s", log())
	return ""
}

func (w *world) paramsDoc(relayURL string) string {
	doc := map[string]any{"step": "slackApproval",
		"params":  map[string]any{"relayUrl": relayURL, "relayPublicKey": w.pub, "channel": "C0DEPLOY", "service": "payments", "environment": "prod", "version": "1.4.0", "summaries": []string{"../../../test/fixtures/slack/sign-result.json"}},
		"context": map[string]any{"buildUrl": w.jurl + "/job/payments/7/", "traceId": "rg-cli-1", "gitCommit": "0123456789abcdef0123", "branch": "main", "jobName": "payments"},
		"secrets": map[string]string{"relayToken": "RG_RELAY_TOKEN"}}
	b, _ := json.Marshal(doc)
	p := filepath.Join(w.dir, "params.json")
	if err := os.WriteFile(p, b, 0o600); err != nil {
		w.t.Fatal(err)
	}
	return p
}

func click(t *testing.T, relayAddr, user, requestID, actionTS string) int {
	payload, _ := json.Marshal(map[string]any{"type": "block_actions", "user": map[string]any{"id": user}, "team": map[string]any{"id": "T1"},
		"channel": map[string]any{"id": "C0DEPLOY"}, "container": map[string]any{"message_ts": "1700000000.000001"}, "response_url": "http://127.0.0.1:1/r",
		"actions": []map[string]any{{"type": "button", "block_id": rgslack.BlockActions, "action_id": rgslack.ActionApprove, "value": requestID, "action_ts": actionTS}}})
	body := url.Values{"payload": {string(payload)}}.Encode()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	m := hmac.New(sha256.New, []byte(signingSecret))
	fmt.Fprintf(m, "v0:%s:%s", ts, body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+relayAddr+"/slack/interactions", strings.NewReader(body))
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(m.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0
	}
	resp.Body.Close()
	return resp.StatusCode
}

// TestAnApprovalGoesThroughTheRelayAndItsSignedDecisionVerifies drives the whole flow through the CLI: request,
// two clicks, one answer to the input, then verify.
func TestAnApprovalGoesThroughTheRelayAndItsSignedDecisionVerifies(t *testing.T) {
	w := newWorld(t)
	addr := w.startRelay()
	t.Setenv("RG_RELAY_TOKEN", ctlToken)
	code, r, _, stderr := run(t, context.Background(), "request", "--params", w.paramsDoc("http://"+addr))
	if code != 0 {
		t.Fatalf("request exit %d: %s %s", code, r.Message, stderr)
	}
	id, input := r.Data["requestId"].(string), r.Data["inputId"].(string)
	if r.Data["submitter"] != relayUser || len(r.Data["requesters"].([]any)) != 1 || r.Data["requesters"].([]any)[0] != "U01ALICE" {
		t.Fatalf("request result %+v", r.Data)
	}
	blocks := lastParams(w.slack, "chat.postMessage")["blocks"]
	if !strings.Contains(blocks, id) || !strings.Contains(blocks, "sha256:4f1c0ffee") {
		t.Fatalf("message blocks %s", blocks)
	}
	var params []string
	for _, p := range r.Data["inputParams"].([]any) {
		params = append(params, p.(string))
	}
	w.jenkins.Arm("/job/payments/7", jenkinsfake.Input{ID: input, Submitter: relayUser, Params: params})
	if c := click(t, addr, "U01ALICE", id, "1.1"); c != 200 {
		t.Fatalf("requester click ack %d", c)
	}
	for i, u := range []string{"U02BOB", "U03CAROL"} {
		if c := click(t, addr, u, id, fmt.Sprintf("2.%d", i)); c != 200 {
			t.Fatalf("click ack %d", c)
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sub, err := w.jenkins.WaitSubmission(ctx, "/job/payments/7", input)
	if err != nil {
		t.Fatal(err)
	}
	recFile := filepath.Join(w.dir, "decision.json")
	_ = os.WriteFile(recFile, []byte(sub.Params["decisionRecord"]), 0o600)
	code, v, _, _ := run(t, context.Background(), "verify", "--record", recFile, "--public-key", w.pub, "--request-id", id, "--service", "payments")
	if code != 0 || v.Data["decision"] != "approved" || len(v.Data["approverNames"].([]any)) != 2 {
		t.Fatalf("verify exit %d: %s %+v", code, v.Message, v.Data)
	}
	if code, v, _, _ := run(t, context.Background(), "verify", "--record", recFile, "--public-key", w.pub, "--request-id", "other"); code != 1 {
		t.Fatalf("verify of another request's record: exit %d %s", code, v.Message)
	}
	// The same check as the step runs it: its params document with the input's answer and the request's returns (StepRunner.runVerb).
	if r.Returns["requestId"] != id || r.Returns["inputId"] != input || r.Returns["backstopSeconds"] != float64(24*3600+300) {
		t.Fatalf("request returns %+v", r.Returns)
	}
	var doc map[string]any
	b, _ := os.ReadFile(w.paramsDoc("http://" + addr))
	_ = json.Unmarshal(b, &doc)
	resultFile := filepath.Join(w.dir, "slackApproval.json")
	doc["params"].(map[string]any)["resultFile"] = resultFile
	doc["secrets"] = map[string]string{}
	answer := map[string]any{}
	for k, v := range sub.Params {
		answer[k] = v
	}
	doc["input"] = map[string]any{"answer": answer, "request": r.Returns}
	b, _ = json.Marshal(doc)
	docFile := filepath.Join(w.dir, "verify.params.json")
	_ = os.WriteFile(docFile, b, 0o600)
	code, v, _, _ = run(t, context.Background(), "verify", "--params", docFile)
	if code != 0 || v.Data["decision"] != "approved" || v.Returns["decision"] != "approved" || v.Returns["required"] != float64(2) {
		t.Fatalf("verify --params: exit %d %s %+v", code, v.Message, v.Returns)
	}
	var written map[string]any
	if b, err := os.ReadFile(resultFile); err != nil || json.Unmarshal(b, &written) != nil || written["decision"] != "approved" ||
		written["decisionRecord"] != filepath.Join(w.dir, "slackApproval-decision.json") {
		t.Fatalf("resultFile %s: %v %+v", resultFile, err, written)
	}
	forged := strings.Replace(sub.Params["decisionRecord"], `"payload":"`, `"payload":"AAAA`, 1)
	_ = os.WriteFile(recFile, []byte(forged), 0o600)
	if code, _, _, _ := run(t, context.Background(), "verify", "--record", recFile, "--public-key", w.pub); code != 1 {
		t.Fatalf("forged record: exit %d", code)
	}
}

func TestRequestRefusalsCarryTheRightExitCode(t *testing.T) {
	w := newWorld(t)
	addr := w.startRelay()
	p := w.paramsDoc("http://" + addr)
	t.Setenv("RG_RELAY_TOKEN", "wrong")
	if code, r, _, _ := run(t, context.Background(), "request", "--params", p); code != 2 || !strings.Contains(r.Message, "credential") {
		t.Fatalf("unknown credential: exit %d %s", code, r.Message)
	}
	t.Setenv("RG_RELAY_TOKEN", ctlToken)
	w.jenkins.FinishBuild("/job/payments/7")
	if code, r, _, _ := run(t, context.Background(), "request", "--params", p); code != 2 || !strings.Contains(r.Message, "not running") {
		t.Fatalf("finished build: exit %d %s", code, r.Message)
	}
	if code, r, _, _ := run(t, context.Background(), "request", "--params", w.paramsDoc("http://127.0.0.1:1")); code != 3 {
		t.Fatalf("relay down: exit %d %s", code, r.Message)
	}
}

func TestRelayRefusesBadConfiguration(t *testing.T) {
	w := newWorld(t)
	good, _ := os.ReadFile(w.config)
	badRBAC := filepath.Join(w.dir, "bad-rbac.yaml")
	_ = os.WriteFile(badRBAC, []byte("version: 1\nusers: {u01alice: alice}\napprovals: [{service: a, environment: prod, approvers: [u01alice], required: 1}]\n"), 0o600)
	cases := []struct{ name, from, to string }{
		{"an rbac.yaml with a lower-case Slack id", "rbac: " + exampleRBAC, "rbac: " + badRBAC},
		{"unknown mode", "mode: http", "mode: udp"},
		{"no controller", "controllers:", "controllersX:"},
		{"an unknown key", "mode: http", "mode: http\nbuttonKey: x"},
		{"a postgres URL inline", "database: sqlite:", "database: postgres://u:p@h/db?x="},
		{"a missing secret", "{env: SLACK_SIGNING_SECRET}", "{env: RG_UNSET_SECRET}"},
		{"a Jenkins URL with dot segments", "url: http://", "url: http://x/../"},
		{"a malformed rbac", "rbac: ", "rbac: /nonexistent/"},
		{"socket mode without an app token", "mode: http", "mode: socket"},
		{"a revoked-looking credential hash", "credentialSHA256: ", "credentialSHA256: 12"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := filepath.Join(t.TempDir(), "c.yaml")
			_ = os.WriteFile(p, []byte(strings.Replace(string(good), tc.from, tc.to, 1)), 0o600)
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			if code, r, _, _ := run(t, ctx, "relay", "--config", p); code != 2 {
				t.Fatalf("exit %d (%s), want 2", code, r.Message)
			}
		})
	}
}

// TestNothingAcknowledgedIsLostWhenTheRelayIsKilledRightAfterTheAck runs the relay as a real process, kills it
// with SIGKILL right after each acknowledged click, restarts it, and checks every acked click counted and the
// decision reached Jenkins once.
func TestNothingAcknowledgedIsLostWhenTheRelayIsKilledRightAfterTheAck(t *testing.T) {
	w := newWorld(t)
	exe, _ := os.Executable()
	logPath, starts := filepath.Join(w.dir, "relay.log"), 0
	relayLog := func() string { b, _ := os.ReadFile(logPath); return string(b) }
	start := func() (*exec.Cmd, string) {
		cmd := exec.Command(exe, "relay", "--config", w.config, "--result-file", filepath.Join(w.dir, "proc.json"))
		cmd.Env = append(os.Environ(), "RG_TEST_MAIN=1")
		logf, _ := os.OpenFile(logPath, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o600)
		cmd.Stderr = logf
		if err := cmd.Start(); err != nil {
			t.Fatal(err)
		}
		starts++
		return cmd, w.waitAddr(relayLog, starts)
	}
	cmd, addr := start()
	t.Setenv("RG_RELAY_TOKEN", ctlToken)
	code, r, _, _ := run(t, context.Background(), "request", "--params", w.paramsDoc("http://"+addr))
	if code != 0 {
		t.Fatalf("request: %s", r.Message)
	}
	id, input := r.Data["requestId"].(string), r.Data["inputId"].(string)
	for i, u := range []string{"U02BOB", "U03CAROL"} {
		if c := click(t, addr, u, id, fmt.Sprintf("9.%d", i)); c != 200 {
			t.Fatalf("ack %d", c)
		}
		_ = cmd.Process.Signal(syscall.SIGKILL)
		_ = cmd.Wait()
		cmd, addr = start()
	}
	defer func() { _ = cmd.Process.Signal(syscall.SIGTERM); _ = cmd.Wait() }()
	w.jenkins.Arm("/job/payments/7", jenkinsfake.Input{ID: input, Submitter: relayUser, Params: []string{"decision", "approvers", "approverNames", "requestId", "decisionRecord"}})
	// A replica killed while it held the outbox lease delays the delivery by up to the 10 s lease.
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	sub, err := w.jenkins.WaitSubmission(ctx, "/job/payments/7", input)
	if err != nil {
		log, _ := os.ReadFile(filepath.Join(w.dir, "relay.log"))
		t.Fatalf("%v; relay log:\n%s", err, log)
	}
	if sub.Params["decision"] != "approved" || sub.Params["approvers"] != "U02BOB,U03CAROL" {
		t.Fatalf("submission %+v", sub.Params)
	}
	time.Sleep(200 * time.Millisecond)
	if n := len(w.jenkins.Submissions()); n != 1 {
		t.Fatalf("%d submissions, want 1", n)
	}
}

var _ = goslack.New

func TestRuleAuditAndRBACVerbs(t *testing.T) {
	auditFile := filepath.Join(t.TempDir(), "a.jsonl")
	cases := []struct {
		name  string
		args  []string
		code  int
		check func(t *testing.T, r result.Result, stdout string)
	}{
		{"rule writes required approvals and approvers", []string{"rule", "--rbac", exampleRBAC, "--service", "payments", "--environment", "prod", "--branch", "main"}, 0,
			func(t *testing.T, r result.Result, _ string) {
				rule := r.Data["rule"].(map[string]any)
				if rule["required"].(float64) != 2 || rule["allowSelfApproval"] != false || len(rule["approvers"].([]any)) != 3 || rule["jenkinsUsers"].(map[string]any)["U02BOB"] != "bob" || rule["escalationGroup"] != "S01RELEASE" {
					t.Fatalf("rule %v", rule)
				}
			}},
		{"rule refuses a branch the environment does not take", []string{"rule", "--rbac", exampleRBAC, "--service", "payments", "--environment", "prod", "--branch", "dev"}, 1, nil},
		{"rule without a matching rule is a config error", []string{"rule", "--rbac", exampleRBAC, "--service", "payments", "--environment", "qa", "--branch", "main"}, 2, nil},
		{"rule with a missing rbac file is a config error", []string{"rule", "--rbac", "/nonexistent.yaml", "--service", "payments", "--environment", "prod", "--branch", "main"}, 2, nil},
		{"audit record appends a line", []string{"audit", "record", "--audit-file", auditFile, "--event", "expired", "--channel", "C0DEPLOY", "--ts", "1.2", "--reason", "timeout"}, 0,
			func(t *testing.T, _ result.Result, _ string) {
				b, _ := os.ReadFile(auditFile)
				if !strings.Contains(string(b), `"event":"expired"`) || !strings.Contains(string(b), `"trace_id":"rg-verbs"`) {
					t.Fatalf("audit %s", b)
				}
			}},
		{"audit record refuses unknown events", []string{"audit", "record", "--audit-file", auditFile, "--event", "deleted"}, 2, nil},
		{"rbac render prints the JCasC golden", []string{"rbac", "render", "--rbac", exampleRBAC, "--format", "jcasc"}, 0,
			func(t *testing.T, _ result.Result, stdout string) {
				want, _ := os.ReadFile("../../internal/rbac/testdata/jcasc.golden.yaml")
				if stdout != string(want) {
					t.Fatalf("render output differs:\n%s", stdout)
				}
			}},
		{"rbac render refuses other formats", []string{"rbac", "render", "--rbac", exampleRBAC, "--format", "xml"}, 2, nil},
		{"rbac check allows an approver", []string{"rbac", "check", "--rbac", exampleRBAC, "--user", "U02BOB", "--service", "payments", "--environment", "prod", "--branch", "main", "--requester", "U01ALICE"}, 0,
			func(t *testing.T, _ result.Result, stdout string) {
				if !strings.HasPrefix(stdout, "allowed:") {
					t.Fatalf("stdout %q", stdout)
				}
			}},
		{"rbac check denies self-approval with exit 1", []string{"rbac", "check", "--rbac", exampleRBAC, "--user", "U01ALICE", "--service", "payments", "--environment", "prod", "--branch", "main", "--requester", "U01ALICE"}, 1,
			func(t *testing.T, r result.Result, stdout string) {
				if !strings.Contains(stdout, "four-eyes") || !strings.Contains(r.Message, "four-eyes") {
					t.Fatalf("stdout %q message %q", stdout, r.Message)
				}
			}},
	}
	t.Setenv(app.TraceEnv, "rg-verbs")
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, r, stdout, _ := run(t, context.Background(), tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d (%s), want %d", code, r.Message, tc.code)
			}
			if tc.check != nil {
				tc.check(t, r, stdout)
			}
		})
	}
}
