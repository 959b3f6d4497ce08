package main

import (
	"encoding/json"
	"fmt"
	"regexp"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/atomicfile"
	"github.com/release-gates/release-gates/helpers/internal/audit"
	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/jenkins"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/slack"
	"github.com/release-gates/release-gates/helpers/internal/token"
)

var (
	userIDRE  = regexp.MustCompile(`^[UW][A-Z0-9]{2,}$`)
	groupIDRE = regexp.MustCompile(`^S[A-Z0-9]{2,}$`)
	inputIDRE = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9_.-]{0,99}$`)
	tsRE      = regexp.MustCompile(`^[0-9]{1,12}(\.[0-9]{1,9})?$`)
	channelRE = regexp.MustCompile(`^[A-Z0-9]{2,}$`)
)

func req(name, usage string) *cli.StringFlag {
	return &cli.StringFlag{Name: name, Usage: usage, Required: true}
}

func slackClient(c *cli.Context) (*slack.Client, error) {
	tok, err := secret(c, "slack-bot-token", envBotToken)
	if err != nil {
		return nil, err
	}
	cl := slack.New(tok, lookupEnv(envSlackAPIURL), nil)
	cl.Breakers = breaker.FromEnv()
	cl.Log = app.From(c).Log
	return cl, nil
}

func checkChannel(ch string) error {
	if !channelRE.MatchString(ch) {
		return result.Errorf(result.ClassInput, "--channel %q: use the channel id (e.g. C0123ABCD), not its name", ch)
	}
	return nil
}

func requestCommand() *cli.Command {
	return &cli.Command{
		Name:  "request",
		Usage: "post the approval message with signed Approve and Reject buttons",
		Flags: []cli.Flag{
			req("channel", "Slack channel id"), req("service", "service name"), req("environment", "target environment"),
			req("version", "release version"), req("commit", "commit sha"), req("branch", "release branch"),
			req("requester", "Slack user id of whoever asked for the release"), req("build-url", "Jenkins build URL"),
			req("input-id", "id of the waiting input step"),
			&cli.StringSliceFlag{Name: "summary", Usage: "helper result JSON to summarise (repeatable)"},
			&cli.DurationFlag{Name: "token-ttl", Value: 24 * time.Hour, Usage: "how long the buttons stay valid"},
			&cli.StringFlag{Name: "message-out", Usage: "write {channel, ts} JSON here"},
			&cli.StringFlag{Name: "audit-file", Usage: "also append a request audit record here"},
			secretFlag("slack-bot-token", envBotToken), secretFlag("button-secret", envButtonSecret),
		},
		Action: runRequest,
	}
}

func runRequest(c *cli.Context) error {
	call := app.From(c)
	in := slack.Request{
		Service: c.String("service"), Environment: c.String("environment"), Version: c.String("version"),
		Commit: c.String("commit"), Branch: c.String("branch"), Requester: c.String("requester"),
		BuildURL: c.String("build-url"), TraceID: call.TraceID,
	}
	ttl := c.Duration("token-ttl")
	switch {
	case checkChannel(c.String("channel")) != nil:
		return checkChannel(c.String("channel"))
	case !userIDRE.MatchString(in.Requester):
		return result.Errorf(result.ClassInput, "--requester %q: use the Slack user id (e.g. U0123ABCD)", in.Requester)
	case !inputIDRE.MatchString(c.String("input-id")):
		return result.Errorf(result.ClassInput, "--input-id %q: use letters, digits, '.', '_' or '-' (max 100)", c.String("input-id"))
	case ttl <= 0 || ttl > 30*24*time.Hour:
		return result.Errorf(result.ClassInput, "--token-ttl %s: must be between 1s and 720h", ttl)
	}
	if _, err := jenkins.Root(in.BuildURL); err != nil {
		return result.Errorf(result.ClassInput, "--build-url: %v", err)
	}
	var sums []slack.Summary
	for _, p := range c.StringSlice("summary") {
		s, err := slack.LoadSummary(p)
		if err != nil {
			return result.Errorf(result.ClassInput, "--summary: %v", err)
		}
		sums = append(sums, s)
	}
	key, err := secret(c, "button-secret", envButtonSecret)
	if err != nil {
		return err
	}
	if len(key) < token.MinKeyLen {
		return result.Errorf(result.ClassConfig, "%s: %v", envButtonSecret, token.ErrShortKey)
	}
	in.Expires = time.Now().Add(ttl)
	claims := token.Claims{BuildURL: in.BuildURL, InputID: c.String("input-id"), TraceID: in.TraceID, Service: in.Service, Environment: in.Environment, Branch: in.Branch, Requester: in.Requester, Expires: in.Expires.Unix()}
	toks := map[string]string{}
	for _, d := range []string{token.DecisionApprove, token.DecisionReject} {
		claims.Decision = d
		if toks[d], err = token.Sign([]byte(key), claims); err != nil {
			return result.Errorf(result.ClassInput, "signing the %s button: %v", d, err)
		}
	}
	cl, err := slackClient(c)
	if err != nil {
		return err
	}
	start := time.Now()
	ch, ts, err := cl.Post(c.Context, c.String("channel"), slack.RequestText(in), slack.RequestBlocks(in, sums, toks[token.DecisionApprove], toks[token.DecisionReject]))
	if err != nil {
		return err
	}
	call.Log.Printf("posted approval request for %s %s → %s in %s (ts %s)", in.Service, in.Version, in.Environment, ch, ts)
	call.Result.Add(result.Item{Name: "slack message", Kind: "slack", Status: result.StatusPassed, DurationMS: time.Since(start).Milliseconds(), Details: map[string]any{"channel": ch, "ts": ts}})
	call.Result.Set("channel", ch)
	call.Result.Set("ts", ts)
	call.Result.Set("expires_at", in.Expires.UTC().Format(time.RFC3339))
	if p := c.String("message-out"); p != "" {
		b, _ := json.Marshal(map[string]string{"channel": ch, "ts": ts})
		if err := atomicfile.WriteFile(p, append(b, '\n'), 0o644); err != nil {
			return result.Errorf(result.ClassInput, "--message-out: %v", err)
		}
	}
	return appendAudit(c.String("audit-file"), audit.Record{Event: audit.EventRequest, TraceID: in.TraceID, Channel: ch, MessageTS: ts, User: in.Requester, BuildURL: in.BuildURL, InputID: claims.InputID, Service: in.Service, Environment: in.Environment, Source: "slack-approval request"})
}

func appendAudit(path string, rec audit.Record) error {
	if path == "" {
		return nil
	}
	w, err := audit.Open(path)
	if err != nil {
		return result.Errorf(result.ClassInput, "--audit-file: %v", err)
	}
	defer w.Close()
	if err := w.Write(rec); err != nil {
		return result.Errorf(result.ClassInput, "--audit-file: %v", err)
	}
	return nil
}

func updateCommand() *cli.Command {
	return &cli.Command{
		Name:  "update",
		Usage: "replace the approval message with the decision and remove its buttons",
		Flags: []cli.Flag{
			req("channel", "Slack channel id"), req("ts", "message ts from request"),
			req("decision", "approved, rejected or expired"),
			&cli.StringFlag{Name: "by", Usage: "who decided (e.g. <@U0123> or a name); required unless expired"},
			&cli.StringFlag{Name: "reason", Usage: "why, shown under the decision"},
			secretFlag("slack-bot-token", envBotToken),
		},
		Action: func(c *cli.Context) error {
			call := app.From(c)
			decision, by := c.String("decision"), c.String("by")
			switch {
			case checkChannel(c.String("channel")) != nil:
				return checkChannel(c.String("channel"))
			case !tsRE.MatchString(c.String("ts")):
				return result.Errorf(result.ClassInput, "--ts %q: use the ts that request wrote (e.g. 1700000000.000100)", c.String("ts"))
			case decision != "approved" && decision != "rejected" && decision != "expired":
				return result.Errorf(result.ClassInput, "--decision %q: use approved, rejected or expired", decision)
			case by == "" && decision != "expired":
				return result.Errorf(result.ClassInput, "--by is required for an %s decision", decision)
			}
			cl, err := slackClient(c)
			if err != nil {
				return err
			}
			blocks, text := slack.DecisionBlocks(decision, by, c.String("reason"), call.TraceID)
			if err := cl.Update(c.Context, c.String("channel"), c.String("ts"), text, blocks); err != nil {
				return err
			}
			call.Log.Printf("message %s marked %s", c.String("ts"), decision)
			call.Result.Set("channel", c.String("channel"))
			call.Result.Set("ts", c.String("ts"))
			call.Result.Set("decision", decision)
			return nil
		},
	}
}

func escalateCommand() *cli.Command {
	return &cli.Command{
		Name:  "escalate",
		Usage: "reply in the approval thread mentioning a Slack user group",
		Flags: []cli.Flag{
			req("channel", "Slack channel id"), req("ts", "message ts from request"), req("group", "Slack user group id (S...)"),
			&cli.StringFlag{Name: "text", Value: "this release is still waiting for approval", Usage: "what to say after the mention"},
			secretFlag("slack-bot-token", envBotToken),
		},
		Action: func(c *cli.Context) error {
			call := app.From(c)
			switch {
			case checkChannel(c.String("channel")) != nil:
				return checkChannel(c.String("channel"))
			case !tsRE.MatchString(c.String("ts")):
				return result.Errorf(result.ClassInput, "--ts %q: use the ts that request wrote", c.String("ts"))
			case !groupIDRE.MatchString(c.String("group")):
				return result.Errorf(result.ClassInput, "--group %q: use the user group id (e.g. S0123ABCD)", c.String("group"))
			}
			cl, err := slackClient(c)
			if err != nil {
				return err
			}
			ts, err := cl.Reply(c.Context, c.String("channel"), c.String("ts"), fmt.Sprintf("<!subteam^%s> %s (trace %s)", c.String("group"), c.String("text"), call.TraceID))
			if err != nil {
				return err
			}
			call.Log.Printf("escalated to %s in thread %s", c.String("group"), c.String("ts"))
			call.Result.Set("channel", c.String("channel"))
			call.Result.Set("thread_ts", c.String("ts"))
			call.Result.Set("ts", ts)
			return nil
		},
	}
}
