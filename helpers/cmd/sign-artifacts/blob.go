package main

import (
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/blob"
	"github.com/release-gates/release-gates/helpers/internal/bundle"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/signing"
)

// blobCommand wires `blob sign` and `blob verify`.
func blobCommand() *cli.Command {
	return &cli.Command{
		Name:  "blob",
		Usage: "sign and verify files with cosign-compatible detached signatures",
		Subcommands: []*cli.Command{
			{
				Name:      "sign",
				Usage:     "sign files (globs allowed); writes <file>.sig as cosign sign-blob --output-signature does",
				ArgsUsage: "FILE|GLOB...",
				Flags: append(signingKeyFlags(),
					&cli.StringFlag{Name: "password-file", Usage: "file holding the key password (default: $COSIGN_PASSWORD)"},
					&cli.StringFlag{Name: "pin-file", Usage: "file holding the PKCS#11 PIN (default: the URI's pin-source, else $PKCS11_PIN)"},
					&cli.StringFlag{Name: "checksums", Usage: "also write this goreleaser-style SHA256SUMS of the files and sign it"},
					&cli.BoolFlag{Name: "bundle", Usage: "also write <file>.bundle (cosign key-based bundle, for verify-blob --bundle)"},
					&cli.StringFlag{Name: "bundle-format", Usage: "v0.3: write <file>.bundle as a sigstore bundle v0.3 (cosign v3's default; implies --bundle)"},
					&cli.StringFlag{Name: "expect-platform", Usage: "Go binaries must be built for this os/arch, e.g. linux/arm64"},
					&cli.BoolFlag{Name: "allow-dirty", Usage: "accept Go binaries built from a modified tree (vcs.modified=true)"},
					&cli.IntFlag{Name: "parallel", Value: runtime.NumCPU() * 2, Usage: "files processed at once"},
					&cli.StringFlag{Name: "out-dir", Usage: "write signatures here instead of next to each file"},
					&cli.StringFlag{Name: "public-key-out", Usage: "also write the signing key's public key here (PEM), from the key already loaded"},
				),
				Action: blobSign,
			},
			{
				Name:      "verify",
				Usage:     "verify files against their detached signatures; any --key may match",
				ArgsUsage: "FILE|GLOB...",
				Flags: []cli.Flag{
					&cli.StringSliceFlag{Name: "key", Required: true, Usage: "public key PEM (cosign .pub) or pkcs11: URI; repeat for several"},
					&cli.StringFlag{Name: "pin-file", Usage: "file holding the PKCS#11 PIN, for a pkcs11: --key"},
					&cli.StringFlag{Name: "signature-suffix", Value: blob.SignatureSuffix, Usage: "signature file suffix"},
					&cli.StringFlag{Name: "signature-dir", Usage: "read signatures from here instead of next to each file"},
					&cli.BoolFlag{Name: "bundle", Usage: "read <file>.bundle (cosign key-based bundle) instead of the signature"},
					&cli.IntFlag{Name: "parallel", Value: runtime.NumCPU() * 2, Usage: "files processed at once"},
				},
				Action: blobVerify,
			},
		},
	}
}

func blobSign(c *cli.Context) error {
	call := app.From(c)
	if c.Int("parallel") < 1 {
		return result.Errorf(result.ClassInput, "--parallel must be at least 1")
	}
	bundleFormat, err := bundle.ParseFormat(c.String("bundle-format"))
	if err != nil {
		return err
	}
	sk, err := chooseSigningKey(c, call)
	if err != nil {
		return err
	}
	return signing.SignBlobs(c.Context, call.Result, sk, c.Args().Slice(), signing.BlobSignOptions{
		SignOptions: blob.SignOptions{Parallel: c.Int("parallel"), OutDir: c.String("out-dir"), Checksums: c.String("checksums"),
			Bundle: c.Bool("bundle") || bundleFormat != "", BundleFormat: bundleFormat, ExpectPlatform: c.String("expect-platform"),
			AllowDirty: c.Bool("allow-dirty"), Log: call.Log},
		Load:         keys.LoadOptions{PasswordFile: c.String("password-file"), PINFile: c.String("pin-file")},
		PublicKeyOut: c.String("public-key-out"),
	})
}

func blobVerify(c *cli.Context) error {
	call := app.From(c)
	pubs, err := signing.PublicKeys(c.Context, c.StringSlice("key"), keys.LoadOptions{PINFile: c.String("pin-file")})
	if err != nil {
		return err
	}
	if c.Int("parallel") < 1 {
		return result.Errorf(result.ClassInput, "--parallel must be at least 1")
	}
	return signing.VerifyBlobs(c.Context, call.Result, pubs, c.Args().Slice(), blob.VerifyOptions{
		Parallel:        c.Int("parallel"),
		SignatureSuffix: c.String("signature-suffix"),
		SignatureDir:    c.String("signature-dir"),
		Bundle:          c.Bool("bundle"),
		Log:             call.Log,
	})
}
