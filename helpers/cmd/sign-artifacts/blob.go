package main

import (
	"context"
	"os"
	"runtime"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/atomicfile"
	"github.com/release-gates/release-gates/helpers/internal/blob"
	"github.com/release-gates/release-gates/helpers/internal/bundle"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/result"
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
	files, err := blob.Expand(c.Args().Slice(), []string{blob.SignatureSuffix, blob.BundleSuffix}, []string{c.String("checksums")})
	if err != nil {
		return err
	}
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
	ref := sk.ref
	call.Result.Set("key", ref.String())
	opts := keys.LoadOptions{PasswordFile: c.String("password-file"), PINFile: c.String("pin-file")}
	var pubPEM []byte
	load := func(ctx context.Context) (*keys.Key, error) {
		k, err := keys.Load(ctx, ref, opts)
		if err == nil && c.String("public-key-out") != "" {
			// exported here so the verification after signing needs no second decryption of the key
			if pubPEM, err = k.PublicPEM(); err != nil {
				k.Close()
				return nil, err
			}
		}
		return k, err
	}
	arts, err := blob.Sign(c.Context, load, files, blob.SignOptions{
		Parallel:       c.Int("parallel"),
		OutDir:         c.String("out-dir"),
		Checksums:      c.String("checksums"),
		Bundle:         c.Bool("bundle") || bundleFormat != "",
		BundleFormat:   bundleFormat,
		ExpectPlatform: c.String("expect-platform"),
		AllowDirty:     c.Bool("allow-dirty"),
		Log:            call.Log,
	})
	if arts != nil && arts[0].KeyID != "" {
		call.Result.Set("key_id", arts[0].KeyID)
	}
	recordArtifacts(call, arts, err == nil)
	if err != nil {
		return err
	}
	if out := c.String("public-key-out"); out != "" {
		if err := atomicfile.WriteFile(out, pubPEM, 0o644); err != nil {
			return result.Errorf(result.ClassInput, "writing the public key to %s: %v", out, err)
		}
		call.Result.Set("public_key", out)
	}
	call.Log.Printf("signed %d files", len(arts))
	var made int64
	for _, a := range arts {
		if a.Signature != "" {
			made++
		}
	}
	return sk.count(call, made)
}

func blobVerify(c *cli.Context) error {
	call := app.From(c)
	var pubs []blob.PublicKey
	for _, s := range c.StringSlice("key") {
		p, err := loadPublic(c.Context, s, keys.LoadOptions{PINFile: c.String("pin-file")})
		if err != nil {
			return err
		}
		pubs = append(pubs, p)
	}
	files, err := blob.Expand(c.Args().Slice(), []string{c.String("signature-suffix"), blob.BundleSuffix}, nil)
	if err != nil {
		return err
	}
	if c.Int("parallel") < 1 {
		return result.Errorf(result.ClassInput, "--parallel must be at least 1")
	}
	arts, err := blob.Verify(c.Context, pubs, files, blob.VerifyOptions{
		Parallel:        c.Int("parallel"),
		SignatureSuffix: c.String("signature-suffix"),
		SignatureDir:    c.String("signature-dir"),
		Bundle:          c.Bool("bundle"),
		Log:             call.Log,
	})
	recordArtifacts(call, arts, true)
	if err == nil {
		call.Log.Printf("verified %d files", len(arts))
	}
	return err
}

// loadPublic reads a verification key: a PEM public key file, or the public half of a pkcs11: key.
func loadPublic(ctx context.Context, s string, opts keys.LoadOptions) (blob.PublicKey, error) {
	ref, err := keys.ParseRef(s)
	if err != nil {
		return blob.PublicKey{}, err
	}
	if ref.Scheme == keys.SchemePKCS11 {
		k, err := keys.Load(ctx, ref, opts)
		if err != nil {
			return blob.PublicKey{}, err
		}
		defer k.Close()
		return blob.PublicKey{Key: k.Public(), ID: k.ID}, nil
	}
	b, err := os.ReadFile(ref.Path)
	if err != nil {
		return blob.PublicKey{}, result.Errorf(result.ClassInput, "reading public key %s: %v", ref.Path, err)
	}
	pub, err := keys.ParsePublicPEM(b, ref.Path)
	if err != nil {
		return blob.PublicKey{}, err
	}
	id, err := keys.KeyID(pub)
	return blob.PublicKey{Key: pub, ID: id}, err
}

// recordArtifacts adds one result item per file; done=false marks files not written because the batch failed.
func recordArtifacts(call *app.Call, arts []blob.Artifact, done bool) {
	for _, a := range arts {
		if a.Path == "" {
			continue // never reached: the call was interrupted
		}
		it := result.Item{Name: a.Path, Kind: "blob", DurationMS: a.Duration.Milliseconds(), Details: map[string]any{}}
		if a.SHA256 != "" {
			it.Details["sha256"] = a.SHA256
			it.Details["size"] = a.Size
		}
		if a.Signature != "" {
			it.Details["signature"] = a.Signature
		}
		if a.Bundle != "" {
			it.Details["bundle"] = a.Bundle
		}
		if a.KeyID != "" {
			it.Details["key_id"] = a.KeyID
		}
		if a.Go != nil {
			it.Kind = "go-binary"
			it.Details["go"] = a.Go
		}
		switch {
		case a.Err != nil:
			it.FailureClass = result.ClassOf(a.Err)
			it.Message = a.Err.Error()
		case !done:
			it.Status = result.StatusSkipped
			it.Message = "not signed: another file in the batch failed"
		default:
			it.Status = result.StatusPassed
		}
		call.Result.Add(it)
	}
}
