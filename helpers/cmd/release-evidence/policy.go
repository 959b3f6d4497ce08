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
			Usage: "write a Kyverno ImageValidatingPolicy, a legacy Kyverno ClusterPolicy or policy-controller ClusterImagePolicies",
			Description: "--format kyverno is an ImageValidatingPolicy (policies.kyverno.io/v1, Kyverno >= 1.17); kyverno-clusterpolicy is\n" +
				"the ClusterPolicy verifyImages form Kyverno deprecated in 1.17. Both pin the notation signer by the leaf of\n" +
				"--notation-cert-chain, not every certificate under its root. --vsa-key also requires a PASSED SLSA verification\n" +
				"summary signed by that key; --vsa-only requires nothing else.",
			Flags: []cli.Flag{
				&cli.StringFlag{Name: "format", Required: true, Usage: "kyverno, kyverno-clusterpolicy or policy-controller"},
				&cli.StringFlag{Name: "name", Value: "release-gates", Usage: "policy name (DNS label)"},
				&cli.StringSliceFlag{Name: "image-glob", Required: true, Usage: "images the policy applies to, e.g. registry.example/orders* (repeatable)"},
				&cli.StringSliceFlag{Name: "cosign-key", Usage: "cosign public key of the image signer (PEM; repeatable)"},
				&cli.StringSliceFlag{Name: "release-pub", Aliases: []string{"release-key"}, Usage: "public key of the attestations (PEM; repeatable; --release-key is the deprecated name)"},
				&cli.StringSliceFlag{Name: "notation-cert-chain", Usage: "PEM chain of a notation signing key, leaf first (repeatable); required for the kyverno formats"},
				&cli.StringFlag{Name: "expect-repo", Usage: "provenance repository"},
				&cli.StringFlag{Name: "expect-branch", Usage: "provenance branch"},
				&cli.StringFlag{Name: "expect-builder", Usage: "builder id prefix (the Jenkins job URL)"},
				&cli.StringFlag{Name: "environment", Usage: "require an approval for this environment"},
				&cli.IntFlag{Name: "min-approvals", Value: 1, Usage: "distinct approvers the approval must list, at least"},
				&cli.StringSliceFlag{Name: "vsa-key", Usage: "public key of the verifier: require a PASSED SLSA VSA signed by it (PEM; repeatable)"},
				&cli.StringFlag{Name: "vsa-verifier-id", Value: policyexport.DefaultVSAVerifierID, Usage: "the VSA's verifier.id"},
				&cli.BoolFlag{Name: "vsa-only", Usage: "require only the VSA (verifyRelease checked signatures, provenance, approval and ledger)"},
				&cli.StringFlag{Name: "out", Usage: "write the YAML here (default: stdout)"},
			},
			Action: func(c *cli.Context) error {
				call := app.From(c)
				b := policyexport.Bundle{Name: c.String("name"), Images: c.StringSlice("image-glob"), Repository: c.String("expect-repo"),
					Branch: c.String("expect-branch"), BuilderPrefix: c.String("expect-builder"), Environment: c.String("environment"),
					MinApprovals: c.Int("min-approvals"), VSAVerifierID: c.String("vsa-verifier-id"), VSAOnly: c.Bool("vsa-only")}
				if c.Int("min-approvals") < 1 {
					return result.Errorf(result.ClassInput, "--min-approvals %d: want at least 1", c.Int("min-approvals"))
				}
				var err error
				if b.CosignKeys, err = policyexport.ReadPEMFiles(c.StringSlice("cosign-key"), keys.PublicKeyPEM); err != nil {
					return err
				}
				if b.ReleaseKeys, err = policyexport.ReadPEMFiles(c.StringSlice("release-pub"), keys.PublicKeyPEM); err != nil {
					return err
				}
				if b.VSAKeys, err = policyexport.ReadPEMFiles(c.StringSlice("vsa-key"), keys.PublicKeyPEM); err != nil {
					return err
				}
				if b.NotationSigners, err = policyexport.SignerLeafs(c.StringSlice("notation-cert-chain")); err != nil {
					return err
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
				call.Result.Add(result.Item{Name: b.Name, Kind: c.String("format"), Status: result.StatusPassed,
					Details: map[string]any{"vsa_required": len(b.VSAKeys) > 0, "vsa_only": b.VSAOnly, "min_approvals": b.MinApprovals}})
				return nil
			},
		}},
	}
}
