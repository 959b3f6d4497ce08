package jenkins

import (
	"context"
	"errors"
	"fmt"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/retry"
	"github.com/release-gates/release-gates/helpers/internal/testing/jenkinsfake"
)

var fastRetry = retry.Policy{Tries: 8, Initial: time.Millisecond, Max: 20 * time.Millisecond}

func newFake(t *testing.T, token string) (*jenkinsfake.Server, string) {
	f := jenkinsfake.New("ci-bot", "tok")
	f.Password = "pw"
	srv := httptest.NewServer(f)
	t.Cleanup(srv.Close)
	f.StartBuild("/job/payments/7", "alice")
	return f, srv.URL + "/job/payments/7/"
}

func TestClientAnswersInputsTheWayJenkinsExpects(t *testing.T) {
	cases := []struct {
		name       string
		secret     string
		failNext   int
		arm        string // input id the pipeline reached
		call       func(c *Client, build string) error
		wantErr    error
		wantAction string
		wantCrumbs int
	}{
		{"submit reaches the capitalised input with its parameters", "tok", 0, "approve-prod",
			func(c *Client, b string) error {
				return c.Submit(context.Background(), b, "approve-prod", "Approve", []Param{{"approver", "U1"}, {"decision", "approve"}})
			}, nil, "submit", 0},
		{"a crumb is fetched once when Jenkins demands one (password auth)", "pw", 0, "approve-prod",
			func(c *Client, b string) error { return c.ProceedEmpty(context.Background(), b, "approve-prod") }, nil, "proceedEmpty", 1},
		{"abort posts to abort", "tok", 0, "approve-prod",
			func(c *Client, b string) error { return c.Abort(context.Background(), b, "approve-prod") }, nil, "abort", 0},
		{"transient 503s are retried until Jenkins answers", "tok", 2, "approve-prod",
			func(c *Client, b string) error { return c.ProceedEmpty(context.Background(), b, "approve-prod") }, nil, "proceedEmpty", 0},
		{"an input that is not pending is reported as such", "tok", 0, "other",
			func(c *Client, b string) error { return c.ProceedEmpty(context.Background(), b, "approve-prod") }, ErrInputGone, "", 0},
		{"an undeclared parameter is a permanent pipeline error", "tok", 0, "approve-prod",
			func(c *Client, b string) error {
				return c.Submit(context.Background(), b, "approve-prod", "", []Param{{"nope", "1"}})
			}, ErrUndeclaredParam, "", 0},
		{"a wrong token is an auth error without retries", "wrong", 0, "approve-prod",
			func(c *Client, b string) error { return c.ProceedEmpty(context.Background(), b, "approve-prod") }, ErrAuth, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, build := newFake(t, tc.secret)
			f.Arm("/job/payments/7", jenkinsfake.Input{ID: tc.arm, Submitter: "ci-bot", Params: []string{"approver", "decision"}})
			f.FailNext(tc.failNext)
			c := &Client{User: "ci-bot", Token: tc.secret, Retry: fastRetry}
			err := tc.call(c, build)
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			subs := f.Submissions()
			if tc.wantAction == "" {
				if len(subs) != 0 {
					t.Fatalf("unexpected submissions %+v", subs)
				}
				return
			}
			if len(subs) != 1 || subs[0].Action != tc.wantAction || subs[0].InputID != "Approve-prod" || subs[0].User != "ci-bot" {
				t.Fatalf("submissions = %+v", subs)
			}
			if tc.wantAction == "submit" && (subs[0].Params["approver"] != "U1" || subs[0].Proceed != "Approve") {
				t.Fatalf("submitted %+v", subs[0])
			}
			if f.CrumbRequests() != tc.wantCrumbs {
				t.Fatalf("crumb requests = %d, want %d", f.CrumbRequests(), tc.wantCrumbs)
			}
		})
	}
}

func TestAnAnsweredInputIsGoneAndPendingListsOnlyWhatWaits(t *testing.T) {
	f, build := newFake(t, "tok")
	c := &Client{User: "ci-bot", Token: "tok", Retry: fastRetry}
	ctx := context.Background()
	if err := c.ProceedEmpty(ctx, build, "gate"); !errors.Is(err, ErrInputGone) {
		t.Fatalf("before the pipeline reaches the input: %v, want ErrInputGone", err)
	}
	f.Arm("/job/payments/7", jenkinsfake.Input{ID: "gate", Message: "Deploy?", Submitter: "ci-bot"})
	p, err := c.PendingInputs(ctx, build)
	if err != nil || len(p) != 1 || p[0].ID != "Gate" || p[0].Message != "Deploy?" {
		t.Fatalf("pending = %+v, %v", p, err)
	}
	if err := c.ProceedEmpty(ctx, build, "gate"); err != nil {
		t.Fatal(err)
	}
	if err := c.ProceedEmpty(ctx, build, "gate"); !errors.Is(err, ErrInputGone) {
		t.Fatalf("second answer: %v, want ErrInputGone", err)
	}
	if p, _ := c.PendingInputs(ctx, build); len(p) != 0 {
		t.Fatalf("still pending: %+v", p)
	}
	if f.NotPendingPosts() != 2 {
		t.Fatalf("not-pending posts = %d, want 2", f.NotPendingPosts())
	}
}

func TestOnlyTheListedSubmitterMayAnswer(t *testing.T) {
	f, build := newFake(t, "tok")
	f.Arm("/job/payments/7", jenkinsfake.Input{ID: "gate", Submitter: "release-bot"})
	c := &Client{User: "ci-bot", Token: "tok", Retry: fastRetry}
	if err := c.ProceedEmpty(context.Background(), build, "gate"); err == nil || !errors.Is(err, ErrAuth) {
		t.Fatalf("wrong submitter: %v, want an auth error", err)
	}
	if len(f.Pending("/job/payments/7")) != 1 {
		t.Fatal("a refused answer must leave the input pending")
	}
}

func TestBuildInfoReportsRunningAndTheCause(t *testing.T) {
	f, build := newFake(t, "tok")
	c := &Client{User: "ci-bot", Token: "tok", Retry: fastRetry}
	ctx := context.Background()
	b, err := c.BuildInfo(ctx, build)
	if err != nil || !b.Building || b.UserID != "alice" || b.SCM {
		t.Fatalf("build = %+v, %v", b, err)
	}
	f.StartSCMBuild("/job/payments/8", "bob@example.com")
	b, err = c.BuildInfo(ctx, strings.Replace(build, "/7/", "/8/", 1))
	if err != nil || !b.SCM || b.UserID != "" || len(b.Authors) != 1 || b.Authors[0] != "bob@example.com" {
		t.Fatalf("scm build = %+v, %v", b, err)
	}
	f.FinishBuild("/job/payments/7")
	if b, _ := c.BuildInfo(ctx, build); b.Building {
		t.Fatal("finished build reported as running")
	}
	if _, err := c.BuildInfo(ctx, strings.Replace(build, "/7/", "/9/", 1)); !errors.Is(err, ErrNoBuild) {
		t.Fatalf("unknown build: %v", err)
	}
}

func TestClientGivesUpOnADownJenkinsWithATransientError(t *testing.T) {
	f, build := newFake(t, "tok")
	f.Arm("/job/payments/7", jenkinsfake.Input{ID: "x"})
	f.FailNext(1000)
	c := &Client{User: "ci-bot", Token: "tok", Retry: fastRetry}
	err := c.ProceedEmpty(context.Background(), build, "x")
	var te *TransientError
	if !errors.As(err, &te) {
		t.Fatalf("error = %v, want transient", err)
	}
	if err := c.ProceedEmpty(context.Background(), "http://127.0.0.1:1/job/a/1", "x"); !errors.As(err, &te) {
		t.Fatalf("closed server: %v, want transient", err)
	}
}

func TestRootAndInputURL(t *testing.T) {
	cases := []struct{ build, root, err string }{
		{"https://ci.example/job/a/job/b/12/", "https://ci.example", ""},
		{"http://127.0.0.1:8080/jenkins/job/a/3", "http://127.0.0.1:8080/jenkins", ""},
		{"ftp://x/job/a/1", "", "absolute http"},
		{"http://x/view/all/", "", "no /job/"},
	}
	for _, tc := range cases {
		t.Run(tc.build, func(t *testing.T) {
			root, err := Root(tc.build)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("Root error = %v", err)
				}
				return
			}
			if err != nil || root != tc.root {
				t.Fatalf("Root = %q, %v", root, err)
			}
		})
	}
	if got := InputURL("http://j/job/a/1/", "deploy gate", "submit"); got != "http://j/job/a/1/input/Deploy%20gate/submit" {
		t.Fatalf("InputURL = %q", got)
	}
}

func TestABreakerStopsCallingAJenkinsThatKeepsFailing(t *testing.T) {
	f, build := newFake(t, "tok")
	f.Arm("/job/payments/7", jenkinsfake.Input{ID: "x"})
	f.FailNext(1000)
	noRetry := retry.Policy{Tries: 1}
	c := &Client{User: "ci-bot", Token: "tok", Retry: noRetry, Breakers: breaker.New(t.TempDir(), 2, time.Minute)}
	for i := 0; i < 2; i++ {
		_ = c.ProceedEmpty(context.Background(), build, "x")
	}
	err := c.ProceedEmpty(context.Background(), build, "x")
	var te *TransientError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "breaker open") {
		t.Fatalf("third call: %v, want a transient breaker-open error", err)
	}
	f.FailNext(0)
	if err := (&Client{User: "ci-bot", Token: "tok", Retry: noRetry}).ProceedEmpty(context.Background(), build, "x"); err != nil {
		t.Fatalf("without a breaker the call goes through: %v", err)
	}
}

func TestClassifyFollowsRetrysOneTable(t *testing.T) {
	cases := []struct {
		err  error
		want result.Class
	}{
		{ErrInputGone, result.ClassInput},
		{fmt.Errorf("%w: HTTP 401", ErrAuth), result.ClassAuth},
		{&TransientError{Err: errors.New("jenkins answered HTTP 503"), Status: 503}, result.ClassTransient},
		{&TransientError{Err: errors.New("jenkins answered HTTP 429"), Status: 429}, result.ClassTransient},
		{&TransientError{Err: errors.New("connection refused")}, result.ClassTransient},
		{errors.New("jenkins answered HTTP 400: bad"), result.ClassInternal},
	}
	for _, tc := range cases {
		if got := Classify(tc.err); got != tc.want {
			t.Errorf("Classify(%v) = %q, want %q", tc.err, got, tc.want)
		}
	}
}
