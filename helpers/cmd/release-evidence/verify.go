package main

import (
	"crypto"
	"fmt"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/image"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/release"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func evidenceFlags() []cli.Flag {
	return append([]cli.Flag{
		&cli.StringSliceFlag{Name: "cosign-key", Required: true, Usage: "cosign public key of the image signer (PEM; repeatable)"},
		&cli.StringFlag{Name: "trust-policy", Required: true, Usage: "notation trust policy JSON"},
		&cli.StringFlag{Name: "trust-store", Required: true, Usage: "notation trust store dir (x509/ca/<name>/*.pem)"},
		&cli.StringSliceFlag{Name: "release-pub", Aliases: []string{"release-key"}, Required: true, Usage: "public key that signs provenance and approvals (PEM; repeatable; --release-key is the deprecated name)"},
		&cli.StringSliceFlag{Name: "blob", Usage: "PATH=SIGNATURE: a blob and its cosign signature (base64) to verify (repeatable)"},
		&cli.StringSliceFlag{Name: "blob-key", Usage: "public key of blob signatures (default: --cosign-key)"},
		&cli.StringSliceFlag{Name: "revoked-key-id", Usage: "key id (16 hex) no longer trusted (repeatable)"},
		&cli.StringFlag{Name: "keyring", Usage: "keys.yaml: its archived and revoked keys are no longer trusted, as if given by --revoked-key-id"},
		&cli.StringFlag{Name: "expect-repo", Required: true, Usage: "provenance must name this repository"},
		&cli.StringFlag{Name: "expect-branch", Required: true, Usage: "provenance must name this branch"},
		&cli.StringFlag{Name: "expect-builder", Required: true, Usage: "the builder id (Jenkins build URL) must start with this, e.g. the job URL"},
		&cli.StringFlag{Name: "environment", Required: true, Usage: "an approval for this environment is required"},
		&cli.IntFlag{Name: "min-approvals", Value: 1, Usage: "distinct approvers required at least (the recorded rule may ask for more)"},
		&cli.StringSliceFlag{Name: "relay-pub", Usage: "the approval relay's decision public key (PEM; repeatable; required): only approvers in the relay-signed decision record the approval embeds count"},
		&cli.StringFlag{Name: "expect-service", Usage: "the relay-signed decision record must approve this service"},
		&cli.StringFlag{Name: "index", Usage: "the evidence index (a ledger of verified releases) to record in / read from"},
		&cli.StringFlag{Name: "ledger", Usage: "this release's audit ledger: its whole chain must verify first; the outcome is recorded there"},
		&cli.StringFlag{Name: "ledger-head", Usage: "the head --ledger must have (attest's ledger_head); another head is refused"},
	}, append(keyFlags("audit", "the audit signing key, for --index and --ledger records"), registryFlags()...)...)
}

func verifyOptions(c *cli.Context) (release.Options, error) {
	var o release.Options
	var err error
	if o.CosignKeys, err = readPubs(c.StringSlice("cosign-key"), "cosign-key"); err != nil {
		return o, err
	}
	if o.ReleaseKeys, err = readPubs(c.StringSlice("release-pub"), "release-pub"); err != nil {
		return o, err
	}
	var relay []crypto.PublicKey
	if relay, err = readPubs(c.StringSlice("relay-pub"), "relay-pub"); err != nil {
		return o, err
	}
	if o.BlobKeys, err = readPubs(c.StringSlice("blob-key"), "blob-key"); err != nil {
		return o, err
	}
	if o.Notation, err = image.LoadVerifier(c.String("trust-policy"), c.String("trust-store")); err != nil {
		return o, err
	}
	for _, s := range c.StringSlice("blob") {
		p, sig, err := splitPair(s, "blob")
		if err != nil {
			return o, err
		}
		o.Blobs = append(o.Blobs, release.Blob{Path: p, Signature: sig})
	}
	o.RevokedIDs = c.StringSlice("revoked-key-id")
	if p := c.String("keyring"); p != "" {
		if o.RevokedKeys, err = release.KeyringRevocations(p); err != nil {
			return o, err
		}
		app.From(c).Log.Printf("keyring %s: %d archived or revoked key(s) not trusted", p, len(o.RevokedKeys))
	}
	o.Ledger, o.ExpectedLedgerHead = c.String("ledger"), c.String("ledger-head")
	o.Expect = release.Expect{Repository: c.String("expect-repo"), Branch: c.String("expect-branch"), BuilderPrefix: c.String("expect-builder"),
		Commit: c.String("expect-commit"), Environment: c.String("environment"), MinApprovals: c.Int("min-approvals"),
		Service: c.String("expect-service"), RelayKeys: relay}
	return o, nil
}

// recording says where verify and rollback record their outcome; the audit key is loaded only when needed.
func recording(c *cli.Context) release.Recording {
	call := app.From(c)
	return release.Recording{Index: c.String("index"), Ledger: c.String("ledger"), TraceID: call.TraceID, Log: call.Log,
		AuditKey: func() (*keys.Key, error) { return loadKey(c, "audit", true) }}
}

func verifyCommand() *cli.Command {
	return &cli.Command{
		Name: "verify",
		Usage: "check a release before deploy: cosign and notation image signatures, blob signatures, provenance (repo, branch, builder)," +
			" approval for the environment; prints the verified digest and nothing else",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "image", Required: true, Usage: "the image to deploy, repo@sha256:... (or a tag, resolved once)"},
			&cli.StringFlag{Name: "expect-commit", Usage: "provenance must name this commit (prefix)"},
		}, append(evidenceFlags(), vsaIssueFlags()...)...),
		Action: func(c *cli.Context) error {
			call := app.From(c)
			o, err := verifyOptions(c)
			if err != nil {
				return err
			}
			o.Image = c.String("image")
			out, done, err := release.VerifyAndRecord(c.Context, registryClient(c), o, recording(c), call.Result.Add)
			if out.Digest != "" {
				call.Result.Set("checked_digest", out.Digest)
			}
			if done.IndexHead != "" {
				call.Result.Set("index_head", done.IndexHead)
			}
			if done.LedgerHead != "" {
				call.Result.Set("ledger_head", done.LedgerHead) // verify --ledger-head checks the ledger still ends here
			}
			if err != nil {
				return err
			}
			if done.AuditKey != nil {
				o.LedgerKeys = []crypto.PublicKey{done.AuditKey} // the VSA covers the ledger head this key checked
			}
			if err := issueVSA(c, o, out); err != nil {
				return err
			}
			call.Result.Set("digest", out.Digest)
			call.Result.Set("environment", o.Expect.Environment)
			fmt.Fprintln(call.Stdout, out.Digest)
			return nil
		},
	}
}

func rollbackCommand() *cli.Command {
	return &cli.Command{
		Name:  "rollback",
		Usage: "find the newest release for --environment in --index whose evidence still verifies; prints its digest and records the choice",
		Flags: append([]cli.Flag{
			&cli.StringFlag{Name: "current", Usage: "the digest being rolled back from; never chosen"},
			&cli.StringSliceFlag{Name: "index-pub", Required: true, Usage: "audit public key the index and --ledger are signed with (PEM; repeatable)"},
			&cli.StringFlag{Name: "index-head", Usage: "the head --index must have (verify's index_head); another head is refused"},
			&cli.StringFlag{Name: "expect-commit", Hidden: true},
		}, evidenceFlags()...),
		Action: func(c *cli.Context) error {
			call := app.From(c)
			if c.String("index") == "" {
				return result.Errorf(result.ClassInput, "rollback needs --index (the evidence index written by verify --index)")
			}
			o, err := verifyOptions(c)
			if err != nil {
				return err
			}
			pubs, err := readPubs(c.StringSlice("index-pub"), "index-pub")
			if err != nil {
				return err
			}
			out, tried, err := release.RollbackAndRecord(c.Context, registryClient(c), release.RollbackOptions{Index: c.String("index"), IndexKeys: pubs,
				IndexHead: c.String("index-head"), Current: c.String("current"), Verify: o}, recording(c), call.Result.Add)
			if err != nil {
				return err
			}
			call.Result.Set("digest", out.Digest)
			call.Result.Set("environment", o.Expect.Environment)
			call.Result.Set("skipped", len(tried)-1)
			fmt.Fprintln(call.Stdout, out.Digest)
			return nil
		},
	}
}
