package main

import (
	"bytes"
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	goslack "github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/jenkins"
	"github.com/release-gates/release-gates/helpers/internal/result"
	rgslack "github.com/release-gates/release-gates/helpers/internal/slack"
)

const (
	buttonSecret  = "button-secret-0123456789abcdef0123"
	signingSecret = "signing-secret-for-tests"
	botToken      = "xoxb-cli-test"
)

var exampleRBAC = filepath.Join("..", "..", "..", "resources", "rbac.example.yaml")

// slackRecorder stands in for chat.postMessage and chat.update and keeps every form it got.
type slackRecorder struct {
	mu    sync.Mutex
	forms map[string][]url.Values
}

func (s *slackRecorder) handler(method string) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		_ = r.ParseForm()
		if r.PostForm.Get("token") != botToken {
			_, _ = io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
			return
		}
		s.mu.Lock()
		if s.forms == nil {
			s.forms = map[string][]url.Values{}
		}
		s.forms[method] = append(s.forms[method], r.PostForm)
		n := len(s.forms[method])
		s.mu.Unlock()
		ts := r.PostForm.Get("ts")
		if ts == "" {
			ts = fmt.Sprintf("1700000000.%06d", n)
		}
		_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": r.PostForm.Get("channel"), "ts": ts})
	}
}

func (s *slackRecorder) last(method string) url.Values {
	s.mu.Lock()
	defer s.mu.Unlock()
	f := s.forms[method]
	if len(f) == 0 {
		return nil
	}
	return f[len(f)-1]
}

func newSlack(t *testing.T) (*slacktest.Server, *slackRecorder) {
	rec := &slackRecorder{}
	s := slacktest.NewTestServer(func(c slacktest.Customize) {
		c.Handle("/chat.postMessage", rec.handler("chat.postMessage"))
		c.Handle("/chat.update", rec.handler("chat.update"))
	})
	s.Start()
	t.Cleanup(s.Stop)
	return s, rec
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
	for _, s := range []string{buttonSecret, signingSecret, botToken} {
		if strings.Contains(errb.String(), s) || strings.Contains(string(b), s) || strings.Contains(out.String(), s) {
			t.Fatalf("a secret leaked into the output")
		}
	}
	return code, r, out.String(), errb.String()
}

func requestArgs(buildURL string, extra ...string) []string {
	return append([]string{"request", "--channel", "C0DEPLOY", "--service", "payments", "--environment", "prod", "--version", "1.4.0",
		"--commit", "0123456789abcdef0123", "--branch", "main", "--requester", "U01ALICE", "--build-url", buildURL, "--input-id", "approve-prod"}, extra...)
}

func TestRequestPostsTheMessageAndRecordsWhereItLanded(t *testing.T) {
	s, rec := newSlack(t)
	t.Setenv(envSlackAPIURL, s.GetAPIURL())
	t.Setenv(envBotToken, botToken)
	t.Setenv(envButtonSecret, buttonSecret)
	t.Setenv(app.TraceEnv, "rg-cli-1")
	msgOut := filepath.Join(t.TempDir(), "msg.json")
	auditFile := filepath.Join(t.TempDir(), "audit.jsonl")
	code, r, _, stderr := run(t, context.Background(), requestArgs("http://127.0.0.1:1/job/payments/7/", "--summary", "../../../test/fixtures/slack/sign-result.json", "--message-out", msgOut, "--audit-file", auditFile)...)
	if code != 0 {
		t.Fatalf("exit %d: %s", code, stderr)
	}
	if r.Data["channel"] != "C0DEPLOY" || r.Data["ts"] != "1700000000.000001" || r.TraceID != "rg-cli-1" {
		t.Fatalf("result %+v", r)
	}
	b, _ := os.ReadFile(msgOut)
	if !strings.Contains(string(b), `"ts":"1700000000.000001"`) {
		t.Fatalf("message-out %s", b)
	}
	blocks := rec.last("chat.postMessage").Get("blocks")
	for _, want := range []string{"rg_approve", "rg_reject", "sha256:4f1c0ffee", "rg-cli-1"} {
		if !strings.Contains(blocks, want) {
			t.Fatalf("blocks lack %q", want)
		}
	}
	a, _ := os.ReadFile(auditFile)
	if !strings.Contains(string(a), `"event":"request"`) || strings.Contains(string(a), "v1.") {
		t.Fatalf("audit %s", a)
	}
}

func TestRequestRefusesBadInputWithExitTwoAndNoMessage(t *testing.T) {
	s, rec := newSlack(t)
	t.Setenv(envSlackAPIURL, s.GetAPIURL())
	t.Setenv(envBotToken, botToken)
	build := "http://127.0.0.1:1/job/payments/7/"
	cases := []struct {
		name   string
		args   []string
		env    map[string]string
		code   int
		msg    string
		before func()
	}{
		{"a channel name instead of an id", append(requestArgs(build)[:1], append([]string{"--channel", "#deploys"}, requestArgs(build)[3:]...)...), nil, 2, "channel id", nil},
		{"a requester that is not a Slack id", replace(requestArgs(build), "U01ALICE", "alice"), nil, 2, "--requester", nil},
		{"a build URL without /job/", replace(requestArgs(build), build, "http://127.0.0.1/view/x"), nil, 2, "--build-url", nil},
		{"an input id with spaces", replace(requestArgs(build), "approve-prod", "approve prod"), nil, 2, "--input-id", nil},
		{"a summary that is not a result", requestArgs(build, "--summary", exampleRBAC), nil, 2, "--summary", nil},
		{"a missing button secret", requestArgs(build), map[string]string{envButtonSecret: ""}, 2, "RG_BUTTON_SECRET is not set", nil},
		{"a short button secret", requestArgs(build), map[string]string{envButtonSecret: "short"}, 2, "at least 32 bytes", nil},
		{"an unreadable secret file", requestArgs(build, "--button-secret-file", "/nonexistent/secret"), nil, 2, "--button-secret-file", nil},
		{"a missing required flag", requestArgs(build)[:5], nil, 2, "Required flag", nil},
		{"a secret on the command line is not a flag", requestArgs(build, "--button-secret", buttonSecret), nil, 2, "flag provided but not defined", nil},
		{"a refused bot token", requestArgs(build), map[string]string{envBotToken: "xoxb-wrong"}, 2, "check SLACK_BOT_TOKEN", nil},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Setenv(envButtonSecret, buttonSecret)
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			before := len(rec.forms["chat.postMessage"])
			code, r, _, _ := run(t, context.Background(), tc.args...)
			if code != tc.code || !strings.Contains(r.Message, tc.msg) || strings.Contains(r.Message, "\n") {
				t.Fatalf("exit %d message %q, want %d ~%q", code, r.Message, tc.code, tc.msg)
			}
			if len(rec.forms["chat.postMessage"]) != before {
				t.Fatal("a message was posted despite bad input")
			}
		})
	}
}

func replace(args []string, old, new string) []string {
	out := append([]string(nil), args...)
	for i, a := range out {
		if a == old {
			out[i] = new
		}
	}
	return out
}

func TestUpdateAndEscalate(t *testing.T) {
	s, rec := newSlack(t)
	t.Setenv(envSlackAPIURL, s.GetAPIURL())
	t.Setenv(envBotToken, botToken)
	cases := []struct {
		name   string
		args   []string
		code   int
		method string
		want   string
	}{
		{"update marks the message approved and drops the buttons", []string{"update", "--channel", "C0DEPLOY", "--ts", "1700000000.000100", "--decision", "approved", "--by", "<@U02BOB>", "--reason", "ok"}, 0, "chat.update", "Approved"},
		{"update marks an expired request without a decider", []string{"update", "--channel", "C0DEPLOY", "--ts", "1700000000.000100", "--decision", "expired"}, 0, "chat.update", "Expired"},
		{"update refuses an unknown decision", []string{"update", "--channel", "C0DEPLOY", "--ts", "1700000000.000100", "--decision", "maybe", "--by", "x"}, 2, "", ""},
		{"update needs --by for approvals", []string{"update", "--channel", "C0DEPLOY", "--ts", "1700000000.000100", "--decision", "approved"}, 2, "", ""},
		{"update refuses a malformed ts", []string{"update", "--channel", "C0DEPLOY", "--ts", "yesterday", "--decision", "expired"}, 2, "", ""},
		{"escalate mentions the group in the thread", []string{"escalate", "--channel", "C0DEPLOY", "--ts", "1700000000.000100", "--group", "S01RELEASE"}, 0, "chat.postMessage", "<!subteam^S01RELEASE>"},
		{"escalate refuses a user id as group", []string{"escalate", "--channel", "C0DEPLOY", "--ts", "1700000000.000100", "--group", "U01ALICE"}, 2, "", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, r, _, _ := run(t, context.Background(), tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d (%s), want %d", code, r.Message, tc.code)
			}
			if tc.method == "" {
				return
			}
			f := rec.last(tc.method)
			got := f.Get("blocks") + f.Get("text")
			if !strings.Contains(got, tc.want) || strings.Contains(got, "rg_approve") {
				t.Fatalf("%s got %v", tc.method, f)
			}
			if tc.method == "chat.postMessage" && f.Get("thread_ts") != "1700000000.000100" {
				t.Fatalf("escalation not threaded: %v", f)
			}
		})
	}
}

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

func freeAddr(t *testing.T) string {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

// TestARequestedApprovalIsAnsweredThroughTheRelay drives the whole flow: request posts buttons, a signed
// click on Approve reaches the relay, and the Jenkins stand-in receives the submission.
func TestARequestedApprovalIsAnsweredThroughTheRelay(t *testing.T) {
	s, rec := newSlack(t)
	si := jenkins.NewStandIn("ci-bot", "jenkins-token-1")
	si.AddInput("/job/payments/7", "approve-prod")
	jsrv := httptest.NewServer(si)
	defer jsrv.Close()
	answers := make(chan string, 4)
	sink := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var m map[string]any
		_ = json.NewDecoder(r.Body).Decode(&m)
		answers <- fmt.Sprint(m["text"])
	}))
	defer sink.Close()
	for k, v := range map[string]string{envSlackAPIURL: s.GetAPIURL(), envBotToken: botToken, envButtonSecret: buttonSecret, envSigningSecret: signingSecret, envJenkinsUser: "ci-bot", envJenkinsToken: "jenkins-token-1", app.TraceEnv: "rg-e2e"} {
		t.Setenv(k, v)
	}
	if code, r, _, _ := run(t, context.Background(), requestArgs(jsrv.URL+"/job/payments/7/")...); code != 0 {
		t.Fatalf("request: %s", r.Message)
	}
	var blocks goslack.Blocks
	if err := json.Unmarshal([]byte(rec.last("chat.postMessage").Get("blocks")), &blocks); err != nil {
		t.Fatal(err)
	}
	var approveTok string
	for _, b := range blocks.BlockSet {
		if ab, ok := b.(*goslack.ActionBlock); ok {
			approveTok = ab.Elements.ElementSet[0].(*goslack.ButtonBlockElement).Value
		}
	}
	addr := freeAddr(t)
	auditFile := filepath.Join(t.TempDir(), "relay.jsonl")
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		code, _, _, _ := run(t, ctx, "relay", "--listen", addr, "--rbac", exampleRBAC, "--audit-file", auditFile, "--jenkins-url", jsrv.URL)
		done <- code
	}()
	waitHealthy(t, "http://"+addr+"/healthz")
	payload, _ := json.Marshal(map[string]any{"type": "block_actions", "user": map[string]any{"id": "U02BOB"}, "team": map[string]any{"id": "T1"},
		"channel": map[string]any{"id": "C0DEPLOY"}, "container": map[string]any{"message_ts": "1700000000.000001"}, "response_url": sink.URL,
		"actions": []map[string]any{{"type": "button", "block_id": rgslack.BlockActions, "action_id": rgslack.ActionApprove, "value": approveTok, "action_ts": "1700000300.5"}}})
	body := url.Values{"payload": {string(payload)}}.Encode()
	ts := strconv.FormatInt(time.Now().Unix(), 10)
	m := hmac.New(sha256.New, []byte(signingSecret))
	fmt.Fprintf(m, "v0:%s:%s", ts, body)
	req, _ := http.NewRequest(http.MethodPost, "http://"+addr+"/slack/interactions", strings.NewReader(body))
	req.Header.Set("X-Slack-Request-Timestamp", ts)
	req.Header.Set("X-Slack-Signature", "v0="+hex.EncodeToString(m.Sum(nil)))
	resp, err := http.DefaultClient.Do(req)
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("click: %v %v", resp, err)
	}
	resp.Body.Close()
	select {
	case a := <-answers:
		if !strings.Contains(a, "resumed") {
			t.Fatalf("answer %q", a)
		}
	case <-time.After(10 * time.Second):
		a, _ := os.ReadFile(auditFile)
		t.Fatalf("no answer; audit %s", a)
	}
	cancel()
	// A SIGTERM is the relay's normal end: it drains and exits 0.
	if code := <-done; code != result.ExitPassed {
		t.Fatalf("relay exit %d", code)
	}
	subs := si.Submissions()
	if len(subs) != 1 || subs[0].Params["approverName"] != "bob" || subs[0].Params["traceId"] != "rg-e2e" {
		t.Fatalf("submissions %+v", subs)
	}
	a, _ := os.ReadFile(auditFile)
	if !strings.Contains(string(a), `"event":"approved"`) {
		t.Fatalf("audit %s", a)
	}
}

func TestRelayRefusesBadConfiguration(t *testing.T) {
	cases := []struct {
		name string
		args []string
		env  map[string]string
	}{
		{"unknown mode", []string{"relay", "--mode", "udp", "--rbac", exampleRBAC}, nil},
		{"missing signing secret", []string{"relay", "--rbac", exampleRBAC}, map[string]string{envSigningSecret: ""}},
		{"missing Jenkins user", []string{"relay", "--rbac", exampleRBAC}, map[string]string{envJenkinsUser: ""}},
		{"bad rbac", []string{"relay", "--rbac", "/nonexistent"}, nil},
		{"socket mode without an app token", []string{"relay", "--mode", "socket", "--rbac", exampleRBAC, "--listen", "127.0.0.1:0"}, map[string]string{envAppToken: ""}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for k, v := range map[string]string{envButtonSecret: buttonSecret, envSigningSecret: signingSecret, envJenkinsUser: "u", envJenkinsToken: "t"} {
				t.Setenv(k, v)
			}
			for k, v := range tc.env {
				t.Setenv(k, v)
			}
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			if code, r, _, _ := run(t, ctx, tc.args...); code != 2 {
				t.Fatalf("exit %d (%s), want 2", code, r.Message)
			}
		})
	}
}

func waitHealthy(t *testing.T, u string) {
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		if resp, err := http.Get(u); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 {
				return
			}
		}
		time.Sleep(20 * time.Millisecond)
	}
	t.Fatal("relay did not become healthy")
}
