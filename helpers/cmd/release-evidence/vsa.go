package main

import (
	"fmt"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/bundle"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/release"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/version"
	"github.com/release-gates/release-gates/helpers/internal/vsa"
)

// vsaIssueFlags are verify's flags for issuing a VSA once the release passed.
func vsaIssueFlags() []cli.Flag {
	return append(keyFlags("vsa", "verifier key: when set and the release verifies, a signed SLSA VSA is attached to the image"),
		&cli.StringFlag{Name: "vsa-verifier-id", Value: vsa.DefaultVerifierID, Usage: "the VSA's verifier.id"},
		&cli.StringSliceFlag{Name: "vsa-level", Usage: "verifiedLevels of the VSA (repeatable; default " + vsa.DefaultLevel + ")"},
		&cli.StringFlag{Name: "vsa-bundle-format", Usage: "v0.3: also attach the VSA as a sigstore bundle (default: only when the image already has bundles)"},
	)
}

// issueVSA signs and attaches a VSA for a verified release when --vsa-key is set; it records where it went.
func issueVSA(c *cli.Context, o release.Options, out release.Outcome) error {
	if c.String("vsa-key") == "" {
		return nil
	}
	k, err := loadKey(c, "vsa", true)
	if err != nil {
		return err
	}
	defer k.Close()
	_, err = attachVSA(c, registryClient(c), k, o, out, vsaArgs{Ledger: c.String("ledger"), VerifierID: c.String("vsa-verifier-id"),
		Levels: c.StringSlice("vsa-level"), BundleFormat: c.String("vsa-bundle-format")})
	return err
}

// vsaArgs say how a VSA is issued: the ledger it covers ("" none), the verifier id, the levels and the bundle format.
type vsaArgs struct {
	Ledger, VerifierID, BundleFormat string
	Levels                           []string
}

// attachVSA signs a VSA for the verified release out with k, attaches it to the image and records a "vsa" item; it returns the item's details.
func attachVSA(c *cli.Context, rc *registry.Client, k *keys.Key, o release.Options, out release.Outcome, a vsaArgs) (map[string]any, error) {
	call := app.From(c)
	bf, err := bundle.ParseFormat(a.BundleFormat)
	if err != nil {
		return nil, err
	}
	head, err := ledgerHead(a.Ledger, o)
	if err != nil {
		return nil, err
	}
	ledgerName := ""
	if a.Ledger != "" {
		ledgerName = filepath.Base(a.Ledger)
	}
	ev, err := vsa.Evidence(out, o, ledgerName, head)
	if err != nil {
		return nil, err
	}
	pol, err := vsa.PolicyOf(o)
	if err != nil {
		return nil, err
	}
	stmt, err := vsa.Statement(vsa.Input{Image: out.Digest, VerifierID: a.VerifierID, VerifierVersion: version.Version,
		Policy: pol, Evidence: ev, Levels: a.Levels})
	if err != nil {
		return nil, err
	}
	ref, err := rc.Parse(out.Digest)
	if err != nil {
		return nil, err
	}
	target, err := rc.Resolve(c.Context, ref, ref.Digest)
	if err != nil {
		return nil, err
	}
	issued, err := vsa.Issue(c.Context, rc, target, k.Signer, stmt, bf)
	if err != nil {
		return nil, err
	}
	pd, _ := vsa.PolicyDigest(pol)
	details := map[string]any{"predicate_type": vsa.PredicateType, "tag": issued.Tag, "key_id": k.ID, "policy_digest": pd,
		"verified_levels": stmt.Predicate.VerifiedLevels, "ledger_head": head}
	if issued.Bundle != nil {
		details["bundle"] = map[string]any{"format": bundle.FormatV03, "reused": issued.Bundle.Reused}
	}
	call.Result.Add(result.Item{Name: "vsa", Kind: "vsa", Status: result.StatusPassed, Details: details})
	call.Result.Set("vsa_policy_digest", pd)
	call.Log.Printf("vsa: attached a signed %s for %s (key %s)", vsa.PredicateType, out.Digest, k.ID)
	return details, nil
}

// ledgerHead checks the ledger at p's whole chain (after verify recorded its outcome there) with verify's audit keys
// and returns its head, or "" without a ledger.
func ledgerHead(p string, o release.Options) (string, error) {
	if p == "" {
		return "", nil
	}
	if len(o.LedgerKeys) == 0 {
		return "", result.Errorf(result.ClassInput, "a VSA covering --ledger needs the ledger's audit key: --audit-key")
	}
	rep, err := release.VerifyLedger(p, o.LedgerKeys, "")
	if err != nil {
		return "", err
	}
	return rep.Head, nil
}

// verifyVSACommand checks only an image's VSA: the fast admission path after verifyRelease.
func verifyVSACommand() *cli.Command {
	return &cli.Command{
		Name:  "verify-vsa",
		Usage: "admit an image on its VSA alone: signed by a trusted verifier key, for this digest, PASSED, with the required levels; prints the digest",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "image", Required: true, Usage: "the image, repo@sha256:... (or a tag, resolved once)"},
			&cli.StringSliceFlag{Name: "vsa-pub", Required: true, Usage: "trusted verifier public key (PEM; repeatable)"},
			&cli.StringFlag{Name: "vsa-verifier-id", Value: vsa.DefaultVerifierID, Usage: "the verifier.id the VSA must name"},
			&cli.StringSliceFlag{Name: "vsa-level", Usage: "levels the VSA must list (repeatable; default " + vsa.DefaultLevel + ")"},
			&cli.StringFlag{Name: "vsa-policy-digest", Usage: "sha256 hex the VSA's policy digest must equal (verify's vsa_policy_digest result)"},
			&cli.DurationFlag{Name: "vsa-max-age", Usage: "refuse a VSA older than this, e.g. 720h (default: no limit)"},
		}, registryFlags()...),
		Action: func(c *cli.Context) error {
			call := app.From(c)
			pubs, err := readPubs(c.StringSlice("vsa-pub"), "vsa-pub")
			if err != nil {
				return err
			}
			start := time.Now()
			got, err := vsa.Verify(c.Context, registryClient(c), c.String("image"), pubs, vsa.Expect{VerifierID: c.String("vsa-verifier-id"),
				Levels: c.StringSlice("vsa-level"), PolicyDigest: c.String("vsa-policy-digest"), MaxAge: c.Duration("vsa-max-age")})
			it := result.Item{Name: "vsa", Kind: "evidence", DurationMS: time.Since(start).Milliseconds(), Details: map[string]any{}}
			if err != nil {
				it.FailureClass, it.Message = result.ClassOf(err), err.Error()
				call.Result.Add(it)
				return err
			}
			it.Status = result.StatusPassed
			it.Details["verifier"] = got.Predicate.Verifier.ID
			it.Details["time_verified"] = got.Predicate.TimeVerified
			it.Details["verified_levels"] = got.Predicate.VerifiedLevels
			call.Result.Add(it)
			call.Result.Set("digest", got.Digest)
			fmt.Fprintln(call.Stdout, got.Digest)
			return nil
		},
	}
}
