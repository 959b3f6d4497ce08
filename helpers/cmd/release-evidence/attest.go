package main

import (
	"os"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/attest"
	"github.com/release-gates/release-gates/helpers/internal/decision"
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
					&cli.StringSliceFlag{Name: "approver", Usage: "refused: the approvers are the decision record's (kept to name the change)"},
					&cli.StringSliceFlag{Name: "from-audit", Usage: "refused: the approvers are the decision record's (kept to name the change)"},
					&cli.StringFlag{Name: "rule", Required: true, Usage: "the approval rule's name"},
					&cli.IntFlag{Name: "min-approvals", Value: 1, Usage: "distinct approvers the rule requires"},
					&cli.BoolFlag{Name: "four-eyes", Usage: "the rule forbids self-approval"},
					&cli.StringFlag{Name: "build-url", EnvVars: []string{"BUILD_URL"}, Usage: "the Jenkins build URL (default $BUILD_URL)"},
					&cli.StringFlag{Name: "decision-record", Usage: "the relay-signed decision record (DSSE envelope) to attest and embed (required); its approvers are the ones attested"},
					&cli.StringFlag{Name: "relay-pub", Usage: "the relay's decision public key (PEM) --decision-record must verify with (required)"},
				}, subjectFlags()...),
				Action: attestApproval,
			},
		},
	}
}

// attestTargets signs o's statement for ts (nil: every --image and --blob) with --release-signing-key (and records each in --ledger).
func attestTargets(c *cli.Context, o attest.Options, ts []attest.Target) error {
	call := app.From(c)
	rc := registryClient(c)
	if ts == nil {
		var err error
		if ts, err = attest.Targets(c.Context, rc, c.StringSlice("image"), c.StringSlice("blob")); err != nil {
			return err
		}
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
	return attestTargets(c, o, nil)
}

func attestApproval(c *cli.Context) error {
	rule := provenance.Rule{Name: c.String("rule"), MinApprovals: c.Int("min-approvals"), FourEyes: c.Bool("four-eyes")}
	if c.String("decision-record") == "" {
		return result.Errorf(result.ClassInput, "attest approval needs --decision-record (the relay-signed decision record slackApproval writes) and --relay-pub: "+
			"an approval counts only as the relay signed it, so approvers are never taken from --approver or --from-audit alone")
	}
	return attestRecordedApproval(c, c.String("environment"), rule)
}

// attestRecordedApproval attests the approval a relay-signed decision record holds: the record must verify with
// --relay-pub and back every subject for the environment; its approvers and rule are attested, and it is embedded.
func attestRecordedApproval(c *cli.Context, env string, rule provenance.Rule) error {
	call := app.From(c)
	if len(c.StringSlice("approver")) > 0 || len(c.StringSlice("from-audit")) > 0 {
		return result.Errorf(result.ClassInput, "with --decision-record the approvers are the record's: drop --approver and --from-audit")
	}
	if c.String("relay-pub") == "" {
		return result.Errorf(result.ClassInput, "--decision-record needs --relay-pub, the relay's decision public key it must verify with")
	}
	pub, err := decision.LoadPublicKey(c.String("relay-pub"))
	if err != nil {
		return result.Errorf(result.ClassInput, "--relay-pub: %v", err)
	}
	keyID, err := decision.KeyID(pub)
	if err != nil {
		return result.Errorf(result.ClassInput, "--relay-pub: %v", err)
	}
	envelope, err := os.ReadFile(c.String("decision-record"))
	if err != nil {
		return result.Errorf(result.ClassInput, "--decision-record: %v", err)
	}
	rec, err := decision.Verify(envelope, pub)
	if err != nil {
		return result.Errorf(result.ClassTamper, "--decision-record %s: %v (--relay-pub key %s)", c.String("decision-record"), err, keyID)
	}
	ts, err := attest.Targets(c.Context, registryClient(c), c.StringSlice("image"), c.StringSlice("blob"))
	if err != nil {
		return err
	}
	var digests []string
	for _, t := range ts {
		digests = append(digests, "sha256:"+t.Subject.Digest["sha256"])
	}
	if err := rec.Covers("", env, "", digests); err != nil {
		return result.Errorf(result.ClassPolicy, "--decision-record: %v", err)
	}
	var aps []provenance.Approver
	for _, a := range rec.Approvers {
		if a.Decision == "approve" {
			aps = append(aps, provenance.Approver{User: a.SlackID, At: a.At.UTC()})
		}
	}
	rule.MinApprovals = max(rule.MinApprovals, rec.Rule.Required)
	rule.FourEyes = rule.FourEyes || !rec.Rule.AllowSelfApproval
	o, err := attest.Approval(provenance.Approval{Environment: env, Approvers: aps, Rule: rule, BuildURL: c.String("build-url"), TraceID: call.TraceID,
		RelayKeyID: keyID, DecisionRecord: envelope})
	if err != nil {
		return err
	}
	return attestTargets(c, o, ts)
}
