package main

import (
	"path/filepath"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/atomicfile"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/ledger"
	"github.com/release-gates/release-gates/helpers/internal/provenance"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func subjectFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringSliceFlag{Name: "image", Usage: "image to attest, by digest or tag (repeatable); the attestation is attached as cosign does (sha256-<hex>.att)"},
		&cli.StringSliceFlag{Name: "blob", Usage: "file to attest (repeatable); the DSSE envelope is written to --out-dir/<name>.<kind>.intoto.json"},
		&cli.StringFlag{Name: "out-dir", Value: ".", Usage: "where blob attestations are written"},
		&cli.StringFlag{Name: "ledger", Usage: "record each attestation in this audit ledger (needs --audit-key)"},
	}, append(append(keyFlags("release", "the release (attestation) signing key"), keyFlags("audit", "the audit signing key")...), registryFlags()...)...)
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

// target is one artifact to attest.
type target struct {
	name    string
	subject provenance.Subject
	image   *registry.Target
	blob    string
}

func targets(c *cli.Context) ([]target, *registry.Client, error) {
	if len(c.StringSlice("image")) == 0 && len(c.StringSlice("blob")) == 0 {
		return nil, nil, result.Errorf(result.ClassInput, "nothing to attest: pass --image or --blob")
	}
	rc := registryClient(c)
	var out []target
	for _, s := range c.StringSlice("image") {
		ref, err := rc.Parse(s)
		if err != nil {
			return nil, nil, err
		}
		t, err := rc.Resolve(c.Context, ref, ref.Digest)
		if err != nil {
			return nil, nil, err
		}
		subj, err := provenance.SubjectOf(t.Digest.Context().Name(), t.Digest.DigestStr())
		if err != nil {
			return nil, nil, err
		}
		out = append(out, target{name: t.Digest.String(), subject: subj, image: &t})
	}
	for _, p := range c.StringSlice("blob") {
		subj, err := provenance.BlobSubject(p)
		if err != nil {
			return nil, nil, err
		}
		out = append(out, target{name: p, subject: subj, blob: p})
	}
	return out, rc, nil
}

// attest signs stmt(subject) for every target, stores it, and records it in the ledger when asked.
func attest(c *cli.Context, kind, predicateType string, replace bool, stmt func(provenance.Subject) (any, error), data map[string]any) error {
	call := app.From(c)
	ts, rc, err := targets(c)
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
	var ak *keys.Key
	if c.String("ledger") != "" {
		if ak, err = loadKey(c, "audit", true); err != nil {
			return err
		}
		defer ak.Close()
	}
	for _, t := range ts {
		start := time.Now()
		s, err := stmt(t.subject)
		if err != nil {
			return err
		}
		env, err := provenance.Sign(s, rk.Signer)
		if err != nil {
			return err
		}
		loc := ""
		if t.image != nil {
			if loc, err = provenance.Attach(c.Context, rc, *t.image, env, predicateType, rk.Public(), replace); err != nil {
				call.Result.Add(result.Item{Name: t.name, Kind: kind, FailureClass: result.ClassOf(err), Message: err.Error()})
				return err
			}
		} else {
			loc = filepath.Join(c.String("out-dir"), filepath.Base(t.blob)+"."+kind+".intoto.json")
			if err := atomicfile.WriteFile(loc, env, 0o644); err != nil {
				return result.Errorf(result.ClassInput, "writing %s: %v", loc, err)
			}
		}
		digest := "sha256:" + t.subject.Digest["sha256"]
		subject := t.name
		if t.blob != "" {
			subject = digest
		}
		details := map[string]any{"digest": digest, "key_id": rk.ID, "location": loc, "predicate_type": predicateType, "trace_id": call.TraceID, "subject": subject}
		for k, v := range data { // what the attestation says (builder, branch, approvers ...), so `audit append --from-result` can chain it
			details[k] = v
		}
		call.Result.Add(result.Item{Name: t.name, Kind: kind, Status: result.StatusPassed, DurationMS: time.Since(start).Milliseconds(), Details: details})
		call.Log.Printf("%s attestation for %s -> %s (key %s)", kind, t.name, loc, rk.ID)
		if ak != nil {
			d := map[string]any{"predicate_type": predicateType, "key_id": rk.ID, "location": loc}
			for k, v := range data {
				d[k] = v
			}
			es, err := ledger.Append(c.String("ledger"), ak.Signer, ledger.Body{TraceID: call.TraceID, Kind: ledger.KindAttestation,
				Source: "release-evidence attest " + kind, Status: result.StatusPassed, Environment: str(data["environment"]), Subject: subject, Data: d})
			if err != nil {
				return err
			}
			call.Result.Set("ledger_head", es[0].Hash) // verify --ledger-head checks the ledger still ends here
		}
	}
	return nil
}

func str(v any) string {
	s, _ := v.(string)
	return s
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
	if _, err := provenance.Provenance([]provenance.Subject{{Name: "check", Digest: map[string]string{"sha256": strings.Repeat("0", 64)}}}, b); err != nil {
		return err // refuse bad build facts before touching keys or registries
	}
	return attest(c, "provenance", provenance.SLSAPredicateType, true, func(s provenance.Subject) (any, error) {
		return provenance.Provenance([]provenance.Subject{s}, b)
	}, map[string]any{"builder": b.BuilderID, "repository": b.Repository, "branch": b.Branch, "commit": b.Commit})
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
	aps = append(aps, fromAudit...)
	a := provenance.Approval{Environment: env, Approvers: aps, Rule: provenance.Rule{Name: c.String("rule"), MinApprovals: c.Int("min-approvals"),
		FourEyes: c.Bool("four-eyes")}, BuildURL: c.String("build-url"), TraceID: call.TraceID}
	if distinct(aps) < a.Rule.MinApprovals {
		return result.Errorf(result.ClassPolicy, "approval for %s has %d distinct approver(s); rule %q needs %d: not attesting", env, distinct(aps), a.Rule.Name, a.Rule.MinApprovals)
	}
	if _, err := provenance.ApprovalStatement([]provenance.Subject{{Name: "check", Digest: map[string]string{"sha256": strings.Repeat("0", 64)}}}, a); err != nil {
		return err
	}
	users := make([]any, 0, len(aps))
	for _, ap := range aps {
		users = append(users, ap.User)
	}
	return attest(c, "approval", provenance.ApprovalPredicateType, false, func(s provenance.Subject) (any, error) {
		return provenance.ApprovalStatement([]provenance.Subject{s}, a)
	}, map[string]any{"environment": env, "approvers": users, "rule": a.Rule.Name})
}

func distinct(aps []provenance.Approver) int {
	seen := map[string]bool{}
	for _, a := range aps {
		seen[a.User] = true
	}
	return len(seen)
}
