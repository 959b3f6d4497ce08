package main

import (
	"context"
	"errors"
	"net/http"
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/atomicfile"
	"github.com/release-gates/release-gates/helpers/internal/decision"
	"github.com/release-gates/release-gates/helpers/internal/relay"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func requestCommand() *cli.Command {
	return &cli.Command{
		Name:  "request",
		Usage: "ask the approval relay for an approval (slackApproval's params document); prints the input to wait in",
		Flags: []cli.Flag{req("params", "the step's params document (JSON)")},
		Action: func(c *cli.Context) error {
			call := app.From(c)
			p, err := relay.ReadStepParams(c.String("params"), os.Getenv)
			if err != nil {
				return err
			}
			ar, err := p.Request(call.TraceID)
			if err != nil {
				return err
			}
			tok := os.Getenv(p.TokenEnv())
			if tok == "" {
				return result.Errorf(result.ClassConfig, "%s is not set: bind the relay credential (relayCredentialsId) with withCredentials", p.TokenEnv())
			}
			ctx, cancel := context.WithTimeout(c.Context, time.Minute)
			defer cancel()
			cl := &relay.Client{URL: p.RelayURL(), Token: tok, HTTP: &http.Client{Timeout: 30 * time.Second}}
			var resp *relay.ApprovalResponse
			for attempt := 1; ; attempt++ {
				resp, err = cl.Create(ctx, ar)
				var ae *relay.APIError
				if err == nil || !errors.As(err, &ae) || (ae.Status != 0 && ae.Status < 500) || attempt == 4 {
					break
				}
				call.Log.Printf("relay: %v; retrying (%d/4)", err, attempt+1)
				select {
				case <-ctx.Done():
				case <-time.After(time.Duration(attempt) * time.Second):
				}
			}
			var ae *relay.APIError
			if errors.As(err, &ae) {
				class := map[string]result.Class{"auth": result.ClassAuth, "input": result.ClassInput, "config": result.ClassConfig,
					"rejected": result.ClassPolicy, "unavailable": result.ClassUnavailable}[ae.Class]
				if class == "" {
					class = result.ClassUnavailable
				}
				return result.Errorf(class, "the approval relay refused the request: %s", ae.Msg)
			}
			if err != nil {
				return result.Errorf(result.ClassUnavailable, "%v", err)
			}
			for k, v := range map[string]any{"requestId": resp.RequestID, "inputId": resp.InputID, "submitter": resp.Submitter,
				"inputParams": resp.InputParams, "deadline": resp.Deadline.Format(time.RFC3339), "channel": resp.Channel, "ts": resp.TS,
				"rule": resp.Rule, "requesters": resp.Requesters, "keyId": resp.KeyID} {
				call.Result.Set(k, v)
			}
			ret, summary := p.RequestReturns(resp)
			call.Result.Returns(ret)
			call.Result.Summary(summary...)
			call.Log.Printf("approval requested: %s of %v (%d required); Slack %s %s; wait in input %s", p.Service(), resp.Rule.Approvers, resp.Rule.Required, resp.Channel, resp.TS, resp.InputID)
			return nil
		},
	}
}

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "verify",
		Usage: "verify the relay-signed decision record the input returned; exit 0 when approved, 1 when rejected, expired or forged",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "record", Usage: "the decision record (DSSE envelope JSON)"},
			&cli.StringFlag{Name: "public-key", Usage: "the relay's public key (PEM)"},
			&cli.StringFlag{Name: "params", Usage: "instead of the flags: the slackApproval step's params document with \"input\" (the input's answer and the request)"},
			&cli.StringFlag{Name: "request-id", Usage: "the request id the record must carry"},
			&cli.StringFlag{Name: "service", Usage: "the service the record must name"},
			&cli.StringFlag{Name: "environment", Usage: "the environment the record must name"},
			&cli.StringFlag{Name: "commit", Usage: "the commit the record must name"},
		},
		Action: func(c *cli.Context) error {
			call := app.From(c)
			if c.String("params") != "" {
				return verifyStep(call, c.String("params"))
			}
			pubPath, want := c.String("public-key"), map[string]string{}
			for _, f := range []string{"request-id", "service", "environment", "commit"} {
				want[f] = c.String(f)
			}
			env, err := os.ReadFile(c.String("record"))
			if err != nil {
				return result.Errorf(result.ClassInput, "--record: %v", errors.Unwrap(err))
			}
			if pubPath == "" {
				return result.Errorf(result.ClassInput, "--public-key is required")
			}
			pub, err := decision.LoadPublicKey(pubPath)
			if err != nil {
				return result.Errorf(result.ClassConfig, "--public-key: %v", err)
			}
			rec, err := decision.Verify(env, pub)
			if err != nil {
				return result.Errorf(result.ClassTamper, "%v: the approval cannot be trusted", err)
			}
			for _, chk := range []struct{ flag, want, got string }{
				{"request-id", want["request-id"], rec.RequestID}, {"service", want["service"], rec.Service},
				{"environment", want["environment"], rec.Environment}, {"commit", want["commit"], rec.Commit},
			} {
				if chk.want != "" && chk.want != chk.got {
					return result.Errorf(result.ClassTamper, "the decision record is for %s %q, not --%s %q", chk.flag, chk.got, chk.flag, chk.want)
				}
			}
			names := recordData(call, &rec)
			if rec.Decision != "approved" {
				return result.Errorf(result.ClassPolicy, "the relay decided %s (request %s)", rec.Decision, rec.RequestID)
			}
			call.Log.Printf("decision record verified: approved by %v", names)
			return nil
		},
	}
}

// verifyStep wires the slackApproval step's verify: params document (with the input's answer) -> relay.StepDoc.Verify -> result.
func verifyStep(call *app.Call, path string) error {
	d, err := relay.ReadStepParams(path, os.Getenv)
	if err != nil {
		return err
	}
	out := d.Verify()
	if out.Record != nil {
		recordData(call, out.Record)
	}
	call.Result.Archive(out.Files...)
	call.Result.Summary(out.Summary...)
	call.Result.Returns(out.Returns)
	return out.Err
}

// recordData puts the verified record into the result (one item per approver) and returns the approvers' names.
func recordData(call *app.Call, rec *decision.Record) []string {
	var names []string
	for _, a := range rec.Approvers {
		call.Result.Add(result.Item{Name: a.Name + " (" + a.SlackID + ")", Kind: "approval", Status: result.StatusPassed,
			Details: map[string]any{"slackId": a.SlackID, "decision": a.Decision, "eventId": a.EventID, "at": a.At.Format(time.RFC3339Nano)}})
		if a.Decision == "approve" {
			names = append(names, a.Name)
		}
	}
	for k, v := range map[string]any{"decision": rec.Decision, "requestId": rec.RequestID, "traceId": rec.TraceID, "service": rec.Service,
		"environment": rec.Environment, "version": rec.Version, "commit": rec.Commit, "digests": rec.Digests, "rule": rec.Rule,
		"requesters": rec.Requesters, "approverNames": names, "approvers": rec.Approvers, "decidedAt": rec.DecidedAt.Format(time.RFC3339Nano)} {
		call.Result.Set(k, v)
	}
	return names
}

func generateKey(path string) (*decision.Signer, error) { return decision.GenerateKey(path) }

func writeAtomic(path string, b []byte, mode os.FileMode) error {
	return atomicfile.WriteFile(path, b, mode)
}
