package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/attest"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/params"
	"github.com/release-gates/release-gates/helpers/internal/release"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/version"
)

// runCommand wires `run`: the attestRelease or verifyRelease step's params document -> attest.Run / release.RunStep -> the result file.
func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run the attestRelease or verifyRelease step from its params document (written by the library's runner)",
		Flags: []cli.Flag{&cli.StringFlag{Name: "params", Required: true, Usage: "params document (.release-gates/<step>.params.json)"}},
		Action: func(c *cli.Context) error {
			doc, _, err := params.ReadFile(c.String("params"))
			if err != nil {
				return err
			}
			resultFile := c.String(app.ResultFileFlag)
			switch doc.Step {
			case attest.Step.Name:
				return runAttest(c, doc, resultFile)
			case verifyStepName:
				return runVerify(c, doc)
			}
			return result.Errorf(result.ClassInput, "release-evidence run takes the attestRelease or verifyRelease step's params, not %s's", doc.Step)
		},
	}
}

func runAttest(c *cli.Context, doc *params.Doc, resultFile string) error {
	call := app.From(c)
	var p attest.Params
	if err := params.Decode(doc.Params, &p); err != nil {
		return err
	}
	p.FromContext(doc.Context)
	if err := p.Validate(); err != nil {
		return err
	}
	if resultFile == "" {
		resultFile = p.ResultFile
	}
	out := attest.Run(c.Context, &p, attest.RunOptions{
		ReleaseKeyFile: doc.Secret("releaseKey"), AuditKeyFile: doc.Secret("auditKey"), RelayKeyFile: doc.Secret("relayPublicKey"),
		ReleaseLoad:      keys.LoadOptions{PasswordEnv: doc.SecretEnv("releasePassword"), PINEnv: doc.SecretEnv("releasePin")},
		AuditLoad:        keys.LoadOptions{PasswordEnv: orDefault(doc.SecretEnv("auditPassword"), attest.AuditPasswordEnv), PINEnv: orDefault(doc.SecretEnv("auditPin"), attest.AuditPINEnv)},
		RegistryUsername: doc.Secret("registryUsername"), RegistryPassword: doc.Secret("registryPassword"),
		TraceID: call.TraceID, Helper: "release-evidence", Version: version.Version, ResultFile: resultFile, Log: call.Log,
	})
	for _, it := range out.Items {
		call.Result.Add(it)
	}
	call.Result.Set("stages", out.Stages)
	call.Result.Archive(out.Archive()...)
	call.Result.Summary(out.Summary()...)
	call.Result.Returns(out.Combined)
	return out.Err
}

func orDefault(s, d string) string {
	if s == "" {
		return d
	}
	return s
}

const verifyStepName = release.StepName

func runVerify(c *cli.Context, doc *params.Doc) error {
	call := app.From(c)
	var p release.StepParams
	if err := params.Decode(doc.Params, &p); err != nil {
		return err
	}
	p.FromContext(doc.Context)
	if err := p.Validate(); err != nil {
		return err
	}
	out := release.RunStep(c.Context, &p, release.StepOptions{
		AuditKeyFile:     doc.Secret("auditKey"),
		AuditLoad:        keys.LoadOptions{PasswordEnv: doc.SecretEnv("auditPassword"), PINEnv: doc.SecretEnv("auditPin")},
		RegistryUsername: doc.Secret("registryUsername"), RegistryPassword: doc.Secret("registryPassword"),
		TraceID: call.TraceID, Log: call.Log, Record: call.Result.Add,
	})
	var vsaOut map[string]any
	if out.Err == nil && p.HasVSAKey() {
		vsaOut, out.Err = runStepVSA(c, doc, &p, out)
		if out.Err != nil {
			out.Digest = ""
		}
	}
	for k, v := range out.Data {
		call.Result.Set(k, v)
	}
	if out.Checked != "" {
		call.Result.Set("checked_digest", out.Checked)
	}
	class := result.ClassOf(out.Err)
	items := call.Result.Items()
	call.Result.Summary(release.StepSummary(&p, class.Status(), out.Checked, call.TraceID, items)...)
	msg := ""
	if out.Err != nil {
		msg = out.Err.Error()
	}
	call.Result.Returns(map[string]any{"helper": "release-evidence", "verb": "verifyRelease", "status": class.Status(), "exit_code": class.ExitCode(),
		"message": msg, "trace_id": call.TraceID, "items": items, "digest": out.Digest, "environment": p.Environment, "rollback": p.Rollback, "vsa": vsaOut})
	if out.Err == nil {
		fmt.Fprintln(call.Stdout, out.Digest)
	}
	return out.Err
}
