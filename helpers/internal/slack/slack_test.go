package slack

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/slack-go/slack"
	"github.com/slack-go/slack/slacktest"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// updates records chat.update calls; slacktest has no handler for it.
type updates struct {
	mu    sync.Mutex
	forms []url.Values
	// limited makes the first n calls answer 429 with Retry-After.
	limited    atomic.Int32
	retryAfter string
}

func (u *updates) handle(w http.ResponseWriter, r *http.Request) {
	if u.limited.Add(-1) >= 0 {
		w.Header().Set("Retry-After", u.retryAfter)
		w.WriteHeader(http.StatusTooManyRequests)
		return
	}
	_ = r.ParseForm()
	if r.PostForm.Get("token") != "xoxb-test" {
		_, _ = io.WriteString(w, `{"ok":false,"error":"invalid_auth"}`)
		return
	}
	if r.PostForm.Get("channel") == "CGONE" {
		_, _ = io.WriteString(w, `{"ok":false,"error":"channel_not_found"}`)
		return
	}
	u.mu.Lock()
	u.forms = append(u.forms, r.PostForm)
	u.mu.Unlock()
	_ = json.NewEncoder(w).Encode(map[string]any{"ok": true, "channel": r.PostForm.Get("channel"), "ts": r.PostForm.Get("ts"), "text": r.PostForm.Get("text")})
}

func server(t *testing.T, u *updates) *slacktest.Server {
	t.Helper()
	s := slacktest.NewTestServer(func(c slacktest.Customize) { c.Handle("/chat.update", u.handle) })
	s.Start()
	t.Cleanup(s.Stop)
	return s
}

func TestPostSendsTheApprovalMessageToSlacktest(t *testing.T) {
	s := server(t, &updates{})
	c := New("xoxb-test", s.GetAPIURL(), nil)
	sum, err := LoadSummary(filepath.Join("..", "..", "..", "test", "fixtures", "slack", "sign-result.json"))
	if err != nil {
		t.Fatal(err)
	}
	req := Request{Service: "payments", Environment: "prod", Version: "1.4.0", Commit: "0123456789abcdef", Branch: "main", Requester: "U01ALICE", BuildURL: "http://127.0.0.1/job/p/1/", TraceID: "rg-1", Expires: time.Now().Add(time.Hour)}
	ch, ts, err := c.Post(context.Background(), "C0DEPLOY", RequestText(req), RequestBlocks(req, []Summary{sum}, "tok-a", "tok-r"))
	if err != nil || ch != "C0DEPLOY" || ts == "" {
		t.Fatalf("Post = %q %q %v", ch, ts, err)
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
		limited   int32
		retry     string
		maxWait   time.Duration
		wantClass result.Class
		wantCalls int
	}{
		{"a decision replaces the message and drops the buttons", "xoxb-test", "C1", 0, "0", time.Second, "", 1},
		{"a 429 is retried after Retry-After", "xoxb-test", "C1", 1, "1", 5 * time.Second, "", 1},
		{"a Retry-After beyond the limit gives up as unavailable", "xoxb-test", "C1", 1, "120", 5 * time.Second, result.ClassUnavailable, 0},
		{"endless 429s give up as unavailable", "xoxb-test", "C1", 100, "0", time.Second, result.ClassUnavailable, 0},
		{"a bad token is an auth failure", "xoxb-wrong", "C1", 0, "0", time.Second, result.ClassAuth, 0},
		{"an unknown channel is a config failure", "xoxb-test", "CGONE", 0, "0", time.Second, result.ClassConfig, 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			u := &updates{retryAfter: tc.retry}
			u.limited.Store(tc.limited)
			s := server(t, u)
			c := New(tc.token, s.GetAPIURL(), nil)
			c.MaxWait = tc.maxWait
			blocks, text := DecisionBlocks("approved", "<@U02BOB>", "looks good", "rg-1")
			err := c.Update(context.Background(), tc.channel, "1700000000.000100", text, blocks)
			if result.ClassOf(err) != tc.wantClass {
				t.Fatalf("error %v has class %q, want %q", err, result.ClassOf(err), tc.wantClass)
			}
			if len(u.forms) != tc.wantCalls {
				t.Fatalf("chat.update accepted %d calls, want %d", len(u.forms), tc.wantCalls)
			}
			if tc.wantCalls == 1 {
				f := u.forms[0]
				if f.Get("ts") != "1700000000.000100" || strings.Contains(f.Get("blocks"), "rg_approve") || !strings.Contains(f.Get("blocks"), "Approved") {
					t.Fatalf("update form %v", f)
				}
			}
		})
	}
}

func TestRespondPostsANonReplacingAnswer(t *testing.T) {
	var got map[string]any
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_ = json.NewDecoder(r.Body).Decode(&got)
	}))
	defer srv.Close()
	if err := (&Responder{}).Respond(context.Background(), srv.URL, "this build has already finished"); err != nil {
		t.Fatal(err)
	}
	if got["replace_original"] != false || got["text"] != "this build has already finished" {
		t.Fatalf("response_url got %v", got)
	}
}

func TestRespondNeverPrintsTheResponseURL(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	u := srv.URL + "/actions/T1/1/secretcapability"
	srv.Close()
	for _, target := range []string{u, "http://[::1:bad/actions/T1/1/secretcapability"} {
		err := (&Responder{}).Respond(context.Background(), target, "x")
		if err == nil || strings.Contains(err.Error(), "secretcapability") {
			t.Fatalf("error %v", err)
		}
	}
}

func TestABreakerStopsCallingASlackThatStaysRateLimited(t *testing.T) {
	u := &updates{retryAfter: "0"}
	u.limited.Store(1000)
	s := server(t, u)
	c := New("xoxb-test", s.GetAPIURL(), nil)
	c.MaxAttempts = 1
	c.Breakers = breaker.New(t.TempDir(), 2, time.Minute)
	blocks, text := DecisionBlocks("approved", "<@U02BOB>", "", "rg-1")
	for i := 0; i < 2; i++ {
		if err := c.Update(context.Background(), "C1", "1.2", text, blocks); result.ClassOf(err) != result.ClassUnavailable {
			t.Fatalf("call %d: %v", i, err)
		}
	}
	before := u.limited.Load()
	err := c.Update(context.Background(), "C1", "1.2", text, blocks)
	if !strings.Contains(fmt.Sprint(err), "breaker open") || u.limited.Load() != before {
		t.Fatalf("third call reached Slack or did not fail fast: %v", err)
	}
}
