package main

import (
	"fmt"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/audit"
	"github.com/release-gates/release-gates/helpers/internal/rbac"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func loadRBAC(c *cli.Context) (*rbac.Config, error) {
	cfg, err := rbac.Load(c.String("rbac"))
	if err != nil {
		return nil, result.Errorf(result.ClassConfig, "--rbac: %v", err)
	}
	return cfg, nil
}

func ruleCommand() *cli.Command {
	return &cli.Command{
		Name:  "rule",
		Usage: "write the approval rule for a service × environment into the result (data.rule)",
		Flags: []cli.Flag{req("rbac", "rbac.yaml"), req("service", "service name"), req("environment", "target environment"), req("branch", "release branch")},
		Action: func(c *cli.Context) error {
			call := app.From(c)
			cfg, err := loadRBAC(c)
			if err != nil {
				return err
			}
			r, err := cfg.Rule(c.String("service"), c.String("environment"))
			if err != nil {
				return result.Errorf(result.ClassConfig, "%v", err)
			}
			approvers := cfg.ApproverIDs(r)
			users := map[string]string{}
			for _, a := range approvers {
				users[a] = cfg.JenkinsUser(a)
			}
			branchOK := r.BranchAllowed(c.String("branch"))
			call.Result.Set("rule", map[string]any{
				"service": r.Service, "environment": r.Environment,
				"required": r.Required, "allowSelfApproval": r.AllowSelfApproval,
				"branches": result.NonNil(r.Branches), "branchAllowed": branchOK,
				"approvers": approvers, "approverEntries": r.Approvers, "jenkinsUsers": users,
				"escalationGroup": r.EscalationGroup,
			})
			if !branchOK {
				return result.Errorf(result.ClassPolicy, "branch %q may not be released to %s (allowed: %s)", c.String("branch"), c.String("environment"), strings.Join(r.Branches, ", "))
			}
			call.Log.Printf("%s in %s: %d approval(s) from %d approver(s), self-approval %v", c.String("service"), c.String("environment"), r.Required, len(approvers), r.AllowSelfApproval)
			return nil
		},
	}
}

func auditCommand() *cli.Command {
	return &cli.Command{
		Name:  "audit",
		Usage: "audit records",
		Subcommands: []*cli.Command{{
			Name:  "record",
			Usage: "append one audit record (JSON line)",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "audit-file", Value: "-", Usage: "append here (- for stdout)"},
				req("event", "request, approved, rejected, denied, expired, forged, replayed or failed"),
				&cli.StringFlag{Name: "user", Usage: "Slack user id the event is about"},
				&cli.StringFlag{Name: "by", Usage: "who decided (name or id)"},
				&cli.StringFlag{Name: "team", Usage: "Slack team id"},
				&cli.StringFlag{Name: "channel", Usage: "Slack channel id"},
				&cli.StringFlag{Name: "ts", Usage: "Slack message ts"},
				&cli.StringFlag{Name: "action-ts", Usage: "Slack action ts"},
				&cli.StringFlag{Name: "build-url", Usage: "Jenkins build URL"},
				&cli.StringFlag{Name: "input-id", Usage: "Jenkins input id"},
				&cli.StringFlag{Name: "service"}, &cli.StringFlag{Name: "environment"},
				&cli.StringFlag{Name: "decision", Usage: "approve or reject"},
				&cli.StringFlag{Name: "reason", Usage: "why (for denied, expired, rejected)"},
			},
			Action: func(c *cli.Context) error {
				call := app.From(c)
				ev := audit.Event(c.String("event"))
				if !ev.Valid() {
					return result.Errorf(result.ClassInput, "--event %q: use one of %v", ev, audit.Events)
				}
				rec := audit.Record{Event: ev, TraceID: call.TraceID, User: c.String("user"), By: c.String("by"), Team: c.String("team"),
					Channel: c.String("channel"), MessageTS: c.String("ts"), ActionTS: c.String("action-ts"), BuildURL: c.String("build-url"),
					InputID: c.String("input-id"), Service: c.String("service"), Environment: c.String("environment"),
					Decision: c.String("decision"), Reason: c.String("reason"), Source: "slack-approval audit record"}
				w, err := audit.Open(c.String("audit-file"))
				if err != nil {
					return result.Errorf(result.ClassInput, "--audit-file: %v", err)
				}
				defer w.Close()
				if err := w.Write(rec); err != nil {
					return result.Errorf(result.ClassInput, "--audit-file: %v", err)
				}
				call.Result.Set("event", string(ev))
				return nil
			},
		}},
	}
}

func rbacCommand() *cli.Command {
	return &cli.Command{
		Name:  "rbac",
		Usage: "render and check rbac.yaml",
		Subcommands: []*cli.Command{{
			Name:  "render",
			Usage: "print the Role Strategy plugin's JCasC YAML for the roles",
			Flags: []cli.Flag{req("rbac", "rbac.yaml"), &cli.StringFlag{Name: "format", Value: "jcasc", Usage: "output format (jcasc)"}},
			Action: func(c *cli.Context) error {
				if c.String("format") != "jcasc" {
					return result.Errorf(result.ClassInput, "--format %q: only jcasc is supported", c.String("format"))
				}
				cfg, err := loadRBAC(c)
				if err != nil {
					return err
				}
				out, err := cfg.RenderJCasC()
				if err != nil {
					return result.Errorf(result.ClassInternal, "%v", err)
				}
				_, err = app.From(c).Stdout.Write(out)
				return err
			},
		}, {
			Name:  "check",
			Usage: "explain whether a user may approve (exit 0 allowed, 1 denied)",
			Flags: []cli.Flag{req("rbac", "rbac.yaml"), req("user", "Slack user id"), req("service", "service name"), req("environment", "target environment"),
				&cli.StringFlag{Name: "branch", Usage: "release branch"}, &cli.StringFlag{Name: "requester", Usage: "Slack user id of the requester"}},
			Action: func(c *cli.Context) error {
				call := app.From(c)
				cfg, err := loadRBAC(c)
				if err != nil {
					return err
				}
				d := cfg.Check(rbac.Request{User: c.String("user"), Service: c.String("service"), Environment: c.String("environment"), Branch: c.String("branch"), Requester: c.String("requester")})
				call.Result.Set("decision", d)
				verdict := "allowed"
				if !d.Allowed {
					verdict = "denied"
				}
				fmt.Fprintf(call.Stdout, "%s: %s (rule %s)\n", verdict, d.Reason, d.Rule)
				if !d.Allowed {
					return result.Errorf(result.ClassPolicy, "denied: %s", d.Reason)
				}
				return nil
			},
		}},
	}
}
