package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/slack-go/slack"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/testing/downaddr"
	"github.com/release-gates/release-gates/helpers/internal/testing/slackfake"
)

// server is the strict Slack fake with channels C1 and C0DEPLOY.
func server(t *testing.T) *slackfake.Server {
	t.Helper()
	s := slackfake.New("xoxb-test", "C1", "C0DEPLOY")
	srv := s.Start()
	t.Cleanup(srv.Close)
	return s
}

// posted posts a message to C1 and returns its ts, so an update has a message to change.
func posted(t *testing.T, s *slackfake.Server) string {
	t.Helper()
	_, ts, err := New("xoxb-test", s.APIURL(), nil).Post(context.Background(), "C1", "waiting", []slack.Block{slack.NewDividerBlock()})
	if err != nil {
		t.Fatal(err)
	}
	return ts
}

func TestPostSendsTheApprovalMessageToTheStrictFake(t *testing.T) {
	s := server(t)
	c := New("xoxb-test", s.APIURL(), nil)
	sum, err := LoadSummary(filepath.Join("..", "..", "..", "test", "fixtures", "slack", "sign-result.json"))
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Service: "payments", Environment: "prod", Version: "1.4.0", Commit: "0123456789abcdef", Branch: "main", Requester: "U01ALICE", BuildURL: "http://127.0.0.1/job/p/1/", TraceID: "rg-1", Expires: time.Now().Add(time.Hour)}
	ch, ts, err := c.Post(context.Background(), "C0DEPLOY", RequestText(req), RequestBlocks(req, []Summary{sum}, "tok-a", "tok-r"))
	if err != nil || ch != "C0DEPLOY" || ts == "" {
		t.Fatalf("Post = %q %q %v", ch, ts, err)
	}
	if m, ok := s.Message("C0DEPLOY", ts); !ok || !strings.Contains(string(m.Blocks), `"action_id":"rg_approve"`) {
		t.Fatalf("Slack holds %+v", m)
	}
}

func TestAMessageSlackRefusesSurfacesAsInvalidBlocks(t *testing.T) {
	s := server(t)
	c := New("xoxb-test", s.APIURL(), nil)
	req := Request{Service: "payments", Environment: "prod", Version: "1.4.0", Commit: "0123456789abcdef", Branch: "main", Requester: "U01ALICE", BuildURL: "http://127.0.0.1/job/p/1/", TraceID: "rg-1", Expires: time.Now().Add(time.Hour)}
	blocks := RequestBlocks(req, nil, strings.Repeat("t", 2001), "tok-r") // a button value over Slack's 2000
	_, _, err := c.Post(context.Background(), "C0DEPLOY", RequestText(req), blocks)
	if result.ClassOf(err) != result.ClassInput || !strings.Contains(fmt.Sprint(err), "invalid_blocks") {
		t.Fatalf("error %v (class %q), want an input error naming invalid_blocks", err, result.ClassOf(err))
	}
	if n := len(s.Calls("chat.postMessage")); n != 1 {
		t.Fatalf("a refused message was sent %d times; refusals are final", n)
	}
}

func TestRequestBlocksCarryTheReleaseTheSummaryAndBothTokens(t *testing.T) {
	sum, err := LoadSummary(filepath.Join("..", "..", "..", "test", "fixtures", "slack", "sign-result.json"))
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Service: "payments", Environment: "prod", Version: "1.4.0", Commit: "0123456789abcdef", Branch: "main", Requester: "U01ALICE", BuildURL: "http://127.0.0.1/job/p/1/", TraceID: "rg-1", Expires: time.Now()}
	var buf strings.Builder
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(RequestBlocks(req, []Summary{sum}, "tok-a", "tok-r"))
	b := []byte(buf.String())
	var blocks slack.Blocks
	if err := json.Unmarshal(b, &blocks); err != nil {
		t.Fatalf("blocks do not round-trip: %v", err)
	}
	s := string(b)
	for _, want := range []string{"payments", "prod", "1.4.0", "0123456789ab", "main", "<@U01ALICE>", "http://127.0.0.1/job/p/1/", "rg-1",
		"sign-artifacts image sign", "sha256:4f1c0ffee", `"action_id":"rg_approve"`, `"value":"tok-a"`, `"action_id":"rg_reject"`, `"value":"tok-r"`} {
		t.Run(want, func(t *testing.T) {
			if !strings.Contains(s, want) {
				t.Fatalf("message lacks %q", want)
			}
		})
	}
}

func TestLoadSummaryRejectsFilesThatAreNotResults(t *testing.T) {
	dir := t.TempDir()
	for name, body := range map[string]string{"empty.json": "", "other.json": `{"a":1}`} {
		t.Run(name, func(t *testing.T) {
			p := filepath.Join(dir, name)
			if err := writeFile(p, body); err != nil {
				t.Fatal(err)
			}
			if _, err := LoadSummary(p); err == nil {
				t.Fatal("accepted")
			}
		})
	}
}

func TestUpdateRetriesAfter429AndClassifiesSlackErrors(t *testing.T) {
	cases := []struct {
		name      string
		token     string
		channel   string
		unknownTS bool
		limited   int
		retry     int
		maxWait   time.Duration
		wantClass result.Class
		wantCalls int
	}{
		{"a decision replaces the message and drops the buttons", "xoxb-test", "C1", false, 0, 0, time.Second, "", 1},
		{"a 429 is retried after Retry-After", "xoxb-test", "C1", false, 1, 1, 5 * time.Second, "", 2},
		{"a Retry-After beyond the limit gives up as unavailable", "xoxb-test", "C1", false, 1, 120, 5 * time.Second, result.ClassUnavailable, 1},
		{"endless 429s give up as unavailable", "xoxb-test", "C1", false, 100, 0, time.Second, result.ClassUnavailable, 4},
		{"a bad token is an auth failure", "xoxb-wrong", "C1", false, 0, 0, time.Second, result.ClassAuth, 1},
		{"an unknown channel is a config failure", "xoxb-test", "CGONE", false, 0, 0, time.Second, result.ClassConfig, 1},
		{"an unknown ts is message_not_found, a config failure", "xoxb-test", "C1", true, 0, 0, time.Second, result.ClassConfig, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			s := server(t)
			ts := posted(t, s)
			if tc.unknownTS {
				ts = "1600000000.000001"
			}
			s.Limit("chat.update", 0, tc.limited, tc.retry)
			c := New(tc.token, s.APIURL(), nil)
			c.MaxWait = tc.maxWait
			blocks, text := DecisionBlocks("approved", "<@U02BOB>", "looks good", "rg-1")
			start := time.Now()
			err := c.Update(context.Background(), tc.channel, ts, text, blocks)
			if result.ClassOf(err) != tc.wantClass {
				t.Fatalf("error %v has class %q, want %q", err, result.ClassOf(err), tc.wantClass)
			}
			if n := len(s.Calls("chat.update")); n != tc.wantCalls {
				t.Fatalf("chat.update called %d times, want %d", n, tc.wantCalls)
			}
			m, _ := s.Message("C1", ts)
			if tc.wantClass == "" {
				if m.Updates != 1 || strings.Contains(string(m.Blocks), "rg_approve") || !strings.Contains(string(m.Blocks), "Approved") {
					t.Fatalf("message after update %+v", m)
				}
				if tc.limited > 0 && time.Since(start) < time.Duration(tc.retry)*time.Second {
					t.Fatalf("retried before Retry-After")
				}
			} else if m.Updates != 0 {
				t.Fatalf("a failed update changed the message")
			}
		})
	}
}

func TestRespondPostsANonReplacingAnswer(t *testing.T) {
	s := server(t)
	u := s.ResponseURL()
	if err := (&Responder{}).Respond(context.Background(), u, "this build has already finished"); err != nil {
		t.Fatal(err)
	}
	got := s.Responses(u)
	if len(got) != 1 || got[0]["replace_original"] != false || got[0]["text"] != "this build has already finished" {
		t.Fatalf("response_url got %v", got)
	}
}

func TestRespondNeverPrintsTheResponseURL(t *testing.T) {
	u := "http://" + downaddr.New(t) + "/actions/T1/1/secretcapability" // refuses connections
	for _, target := range []string{u, "http://[::1:bad/actions/T1/1/secretcapability"} {
		err := (&Responder{}).Respond(context.Background(), target, "x")
		if err == nil || strings.Contains(err.Error(), "secretcapability") {
			t.Fatalf("error %v", err)
		}
	}
}

func TestABreakerStopsCallingASlackThatStaysRateLimited(t *testing.T) {
	s := server(t)
	ts := posted(t, s)
	s.Limit("chat.update", 0, 1000, 0)
	c := New("xoxb-test", s.APIURL(), nil)
	c.MaxAttempts = 1
	c.Breakers = breaker.New(t.TempDir(), 2, time.Minute)
	blocks, text := DecisionBlocks("approved", "<@U02BOB>", "", "rg-1")
	for i := 0; i < 2; i++ {
		if err := c.Update(context.Background(), "C1", ts, text, blocks); result.ClassOf(err) != result.ClassUnavailable {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	before := len(s.Calls("chat.update"))
	err := c.Update(context.Background(), "C1", ts, text, blocks)
	if !strings.Contains(fmt.Sprint(err), "breaker open") || len(s.Calls("chat.update")) != before {
		t.Fatalf("third call reached Slack or did not fail fast: %v", err)
	}
}
