package main

import (
	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/params"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/signing"
	"github.com/release-gates/release-gates/helpers/internal/version"
)

// runCommand wires `run`: the signArtifacts step's params document -> signing.Run -> the result file.
func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run the signArtifacts step from its params document (written by the library's runner): sign and verify everything",
		Flags: []cli.Flag{&cli.StringFlag{Name: "params", Required: true, Usage: "params document (.release-gates/signArtifacts.params.json)"}},
		Action: func(c *cli.Context) error {
			call := app.From(c)
			doc, _, err := params.ReadFile(c.String("params"))
			if err != nil {
				return err
			}
			if doc.Step != signing.Step.Name {
				return result.Errorf(result.ClassInput, "sign-artifacts run takes the signArtifacts step's params, not %s's", doc.Step)
			}
			var p signing.Params
			if err := doc.Decode(&p); err != nil {
				return err
			}
			resultFile := c.String(app.ResultFileFlag)
			if resultFile == "" {
				resultFile = p.ResultFile
			}
			out := signing.Run(c.Context, &p, signing.RunOptions{
				KeyFile: doc.Secret("key"), PasswordEnv: doc.SecretEnv("password"), PINEnv: doc.SecretEnv("pin"),
				RegistryUsername: doc.Secret("registryUsername"), RegistryPassword: doc.Secret("registryPassword"),
				TraceID: call.TraceID, Helper: "sign-artifacts", Version: version.Version, ResultFile: resultFile, Log: call.Log,
			})
			for _, it := range out.Items {
				call.Result.Add(it)
			}
			call.Result.Set("stages", out.Stages)
			call.Result.Archive(out.Archive()...)
			call.Result.Summary(out.Summary()...)
			call.Result.Returns(out.Combined)
			return out.Err
		},
	}
}
