package main

import (
	"time"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/attest"
	"github.com/release-gates/release-gates/helpers/internal/provenance"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func subjectFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringSliceFlag{Name: "image", Usage: "image to attest, by digest or tag (repeatable); the attestation is attached as cosign does (sha256-<hex>.att)"},
		&cli.StringSliceFlag{Name: "blob", Usage: "file to attest (repeatable); the DSSE envelope is written to --out-dir/<name>.<kind>.intoto.json"},
		&cli.StringFlag{Name: "out-dir", Value: ".", Usage: "where blob attestations are written"},
		&cli.StringFlag{Name: "ledger", Usage: "record each attestation in this audit ledger (needs --audit-key)"},
	}, append(append(releaseSigningKeyFlags(), keyFlags("audit", "the audit signing key")...), registryFlags()...)...)
}

func attestCommand() *cli.Command {
	return &cli.Command{
		Name:  "attest",
		Usage: "sign SLSA v1 provenance or an approval as DSSE and attach it to images (cosign .att) or write it beside blobs",
		Subcommands: []*cli.Command{
			{
				Name:  "provenance",
				Usage: "SLSA v1 provenance (https://slsa.dev/provenance/v1): builder = the Jenkins build URL",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "builder-id", EnvVars: []string{"BUILD_URL"}, Usage: "the Jenkins build URL (default $BUILD_URL)"},
					&cli.StringFlag{Name: "repo", Required: true, Usage: "git repository URL"},
					&cli.StringFlag{Name: "commit", Required: true, Usage: "full git commit id"},
					&cli.StringFlag{Name: "branch", Required: true, Usage: "git branch"},
					&cli.StringFlag{Name: "module", Usage: "Go module path"},
					&cli.StringFlag{Name: "go-version", Usage: "Go toolchain version (go version)"},
					&cli.StringFlag{Name: "goos", Usage: "target GOOS"},
					&cli.StringFlag{Name: "goarch", Usage: "target GOARCH"},
					&cli.StringSliceFlag{Name: "gate-result", Usage: "a gate's result file; each item becomes a gate outcome (repeatable)"},
					&cli.TimestampFlag{Name: "started", Layout: time.RFC3339, Usage: "build start (RFC 3339)"},
					&cli.TimestampFlag{Name: "finished", Layout: time.RFC3339, Usage: "build finish (RFC 3339; default now)"},
				}, subjectFlags()...),
				Action: attestProvenance,
			},
			{
				Name:  "approval",
				Usage: "approval attestation (https://release-gates.dev/approval/v1): who approved, when, under which rule",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "environment", Required: true, Usage: "the environment approved for"},
					&cli.StringSliceFlag{Name: "approver", Usage: "user or user@RFC3339 (repeatable)"},
					&cli.StringSliceFlag{Name: "from-audit", Usage: "take the approvers from slack-approval audit lines (approved events for --environment)"},
					&cli.StringFlag{Name: "rule", Required: true, Usage: "the approval rule's name"},
					&cli.IntFlag{Name: "min-approvals", Value: 1, Usage: "distinct approvers the rule requires"},
					&cli.BoolFlag{Name: "four-eyes", Usage: "the rule forbids self-approval"},
					&cli.StringFlag{Name: "build-url", EnvVars: []string{"BUILD_URL"}, Usage: "the Jenkins build URL (default $BUILD_URL)"},
				}, subjectFlags()...),
				Action: attestApproval,
			},
		},
	}
}

// attestTargets signs o's statement for every --image and --blob with --release-signing-key (and records each in --ledger).
func attestTargets(c *cli.Context, o attest.Options) error {
	call := app.From(c)
	rc := registryClient(c)
	ts, err := attest.Targets(c.Context, rc, c.StringSlice("image"), c.StringSlice("blob"))
	if err != nil {
		return err
	}
	if c.String("ledger") != "" && c.String("audit-key") == "" {
		return result.Errorf(result.ClassInput, "--ledger needs --audit-key to sign the record")
	}
	rk, err := loadKey(c, "release", true)
	if err != nil {
		return err
	}
	defer rk.Close()
	if c.String("ledger") != "" {
		ak, err := loadKey(c, "audit", true)
		if err != nil {
			return err
		}
		defer ak.Close()
		o.AuditKey, o.Ledger = ak, c.String("ledger")
	}
	o.ReleaseKey, o.OutDir, o.TraceID, o.Log = rk, c.String("out-dir"), call.TraceID, call.Log
	return attest.Attest(c.Context, call.Result, rc, ts, o)
}

func attestProvenance(c *cli.Context) error {
	call := app.From(c)
	gates, err := provenance.GatesFromResults(c.StringSlice("gate-result"))
	if err != nil {
		return err
	}
	b := provenance.Build{BuilderID: c.String("builder-id"), Repository: c.String("repo"), Commit: c.String("commit"), Branch: c.String("branch"),
		Module: c.String("module"), GoVersion: c.String("go-version"), GOOS: c.String("goos"), GOARCH: c.String("goarch"), Gates: gates, TraceID: call.TraceID,
		FinishedOn: time.Now()}
	if t := c.Timestamp("started"); t != nil {
		b.StartedOn = *t
	}
	if t := c.Timestamp("finished"); t != nil {
		b.FinishedOn = *t
	}
	o, err := attest.Provenance(b)
	if err != nil {
		return err
	}
	return attestTargets(c, o)
}

func attestApproval(c *cli.Context) error {
	call := app.From(c)
	env := c.String("environment")
	var aps []provenance.Approver
	for _, s := range c.StringSlice("approver") {
		a, err := provenance.ParseApprover(s, time.Now())
		if err != nil {
			return err
		}
		aps = append(aps, a)
	}
	fromAudit, err := provenance.ApproversFromAudit(c.StringSlice("from-audit"), env)
	if err != nil {
		return err
	}
	o, err := attest.Approval(provenance.Approval{Environment: env, Approvers: append(aps, fromAudit...), Rule: provenance.Rule{Name: c.String("rule"),
		MinApprovals: c.Int("min-approvals"), FourEyes: c.Bool("four-eyes")}, BuildURL: c.String("build-url"), TraceID: call.TraceID})
	if err != nil {
		return err
	}
	return attestTargets(c, o)
}
