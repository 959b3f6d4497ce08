package jenkins

import (
	"context"
	"errors"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
)

func fastRetry() backoff.BackOff {
	b := backoff.NewExponentialBackOff()
	b.InitialInterval = time.Millisecond
	b.MaxElapsedTime = 200 * time.Millisecond
	return b
}

func TestClientAnswersInputsTheWayJenkinsExpects(t *testing.T) {
	cases := []struct {
		name         string
		requireCrumb bool
		failNext     int
		token        string
		register     string // input id registered (before capitalisation)
		call         func(c *Client, build string) error
		wantErr      error
		wantAction   string
		wantCrumbs   int
	}{
		{"submit reaches the capitalised input with its parameters", false, 0, "tok", "approve-prod",
			func(c *Client, b string) error {
				return c.Submit(context.Background(), b, "approve-prod", "Approve", []Param{{"approver", "U1"}, {"decision", "approve"}})
			}, nil, "submit", 0},
		{"a crumb is fetched once when Jenkins demands one", true, 0, "tok", "approve-prod",
			func(c *Client, b string) error { return c.ProceedEmpty(context.Background(), b, "approve-prod") }, nil, "proceedEmpty", 1},
		{"abort posts to abort", false, 0, "tok", "approve-prod",
			func(c *Client, b string) error { return c.Abort(context.Background(), b, "approve-prod") }, nil, "abort", 0},
		{"transient 503s are retried until Jenkins answers", false, 2, "tok", "approve-prod",
			func(c *Client, b string) error { return c.ProceedEmpty(context.Background(), b, "approve-prod") }, nil, "proceedEmpty", 0},
		{"an input that is gone is reported as such", false, 0, "tok", "other",
			func(c *Client, b string) error { return c.ProceedEmpty(context.Background(), b, "approve-prod") }, ErrInputGone, "", 0},
		{"an undeclared parameter is a permanent pipeline error", false, 0, "tok", "approve-prod",
			func(c *Client, b string) error {
				return c.Submit(context.Background(), b, "approve-prod", "", []Param{{"nope", "1"}})
			}, ErrUndeclaredParam, "", 0},
		{"a wrong token is an auth error without retries", false, 0, "wrong", "approve-prod",
			func(c *Client, b string) error { return c.ProceedEmpty(context.Background(), b, "approve-prod") }, ErrAuth, "", 0},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			si := NewStandIn("ci-bot", "tok")
			si.RequireCrumb = tc.requireCrumb
			si.AddInput("/job/payments/7", tc.register, "approver", "decision")
			si.FailNext(tc.failNext)
			srv := httptest.NewServer(si)
			defer srv.Close()
			c := &Client{User: "ci-bot", Token: tc.token, Retry: fastRetry}
			err := tc.call(c, srv.URL+"/job/payments/7/")
			if !errors.Is(err, tc.wantErr) {
				t.Fatalf("error = %v, want %v", err, tc.wantErr)
			}
			subs := si.Submissions()
			if tc.wantAction == "" {
				if len(subs) != 0 {
					t.Fatalf("unexpected submissions %+v", subs)
				}
				return
			}
			if len(subs) != 1 || subs[0].Action != tc.wantAction || subs[0].InputID != "Approve-prod" {
				t.Fatalf("submissions = %+v", subs)
			}
			if tc.wantAction == "submit" && (subs[0].Params["approver"] != "U1" || subs[0].Proceed != "Approve") {
				t.Fatalf("submitted %+v", subs[0])
			}
			if si.CrumbRequests() != tc.wantCrumbs {
				t.Fatalf("crumb requests = %d, want %d", si.CrumbRequests(), tc.wantCrumbs)
			}
		})
	}
}

func TestClientGivesUpOnADownJenkinsWithATransientError(t *testing.T) {
	si := NewStandIn("u", "t")
	si.AddInput("/job/a/1", "x")
	si.FailNext(1000)
	srv := httptest.NewServer(si)
	defer srv.Close()
	c := &Client{User: "u", Token: "t", Retry: fastRetry}
	err := c.ProceedEmpty(context.Background(), srv.URL+"/job/a/1", "x")
	var te *TransientError
	if !errors.As(err, &te) {
		t.Fatalf("error = %v, want transient", err)
	}
	srv.Close()
	if err := c.ProceedEmpty(context.Background(), srv.URL+"/job/a/1", "x"); !errors.As(err, &te) {
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
	si := NewStandIn("u", "t")
	si.AddInput("/job/a/1", "x")
	si.FailNext(1000)
	srv := httptest.NewServer(si)
	defer srv.Close()
	noRetry := func() backoff.BackOff { return &backoff.StopBackOff{} }
	c := &Client{User: "u", Token: "t", Retry: noRetry, Breakers: breaker.New(t.TempDir(), 2, time.Minute)}
	for i := 0; i < 2; i++ {
		_ = c.ProceedEmpty(context.Background(), srv.URL+"/job/a/1", "x")
	}
	err := c.ProceedEmpty(context.Background(), srv.URL+"/job/a/1", "x")
	var te *TransientError
	if !errors.As(err, &te) || !strings.Contains(err.Error(), "breaker open") {
		t.Fatalf("third call: %v, want a transient breaker-open error", err)
	}
	si.FailNext(0)
	if err := (&Client{User: "u", Token: "t", Retry: noRetry}).ProceedEmpty(context.Background(), srv.URL+"/job/a/1", "x"); err != nil {
		t.Fatalf("without a breaker the call goes through: %v", err)
	}
}
