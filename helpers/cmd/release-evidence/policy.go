package main

import (
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/atomicfile"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/policyexport"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func policyCommand() *cli.Command {
	return &cli.Command{
		Name:  "policy",
		Usage: "admission policies from the trust bundle",
		Subcommands: []*cli.Command{{
			Name:  "export",
			Usage: "write a Kyverno ClusterPolicy (Cosign + Notary attestors) or policy-controller ClusterImagePolicies",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "format", Required: true, Usage: "kyverno or policy-controller"},
				&cli.StringFlag{Name: "name", Value: "release-gates", Usage: "policy name (DNS label)"},
				&cli.StringSliceFlag{Name: "image-glob", Required: true, Usage: "images the policy applies to, e.g. registry.example/orders* (repeatable)"},
				&cli.StringSliceFlag{Name: "cosign-key", Required: true, Usage: "cosign public key of the image signer (PEM; repeatable)"},
				&cli.StringSliceFlag{Name: "release-key", Required: true, Usage: "public key of the attestations (PEM; repeatable)"},
				&cli.StringFlag{Name: "trust-store", Usage: "notation trust store dir (x509/ca/<name>/*.pem); required for kyverno"},
				&cli.StringFlag{Name: "expect-repo", Required: true, Usage: "provenance repository"},
				&cli.StringFlag{Name: "expect-branch", Required: true, Usage: "provenance branch"},
				&cli.StringFlag{Name: "expect-builder", Required: true, Usage: "builder id prefix (the Jenkins job URL)"},
				&cli.StringFlag{Name: "environment", Usage: "require an approval for this environment"},
				&cli.StringFlag{Name: "out", Usage: "write the YAML here (default: stdout)"},
			},
			Action: func(c *cli.Context) error {
				call := app.From(c)
				b := policyexport.Bundle{Name: c.String("name"), Images: c.StringSlice("image-glob"), Repository: c.String("expect-repo"),
					Branch: c.String("expect-branch"), BuilderPrefix: c.String("expect-builder"), Environment: c.String("environment")}
				var err error
				if b.CosignKeys, err = policyexport.ReadPEMFiles(c.StringSlice("cosign-key"), keys.PublicKeyPEM); err != nil {
					return err
				}
				if b.ReleaseKeys, err = policyexport.ReadPEMFiles(c.StringSlice("release-key"), keys.PublicKeyPEM); err != nil {
					return err
				}
				if ts := c.String("trust-store"); ts != "" {
					if b.NotationCerts, err = policyexport.TrustStoreCerts(ts); err != nil {
						return err
					}
				}
				y, err := policyexport.Export(b, c.String("format"))
				if err != nil {
					return err
				}
				if out := c.String("out"); out != "" {
					if err := atomicfile.WriteFile(out, y, 0o644); err != nil {
						return result.Errorf(result.ClassInput, "writing %s: %v", out, err)
					}
					call.Log.Printf("%s policy written to %s", c.String("format"), out)
					call.Result.Set("out", out)
				} else {
					fmt.Fprint(call.Stdout, string(y))
				}
				call.Result.Add(result.Item{Name: b.Name, Kind: c.String("format"), Status: result.StatusPassed})
				return nil
			},
		}},
	}
}
