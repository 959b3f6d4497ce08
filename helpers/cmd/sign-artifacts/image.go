package main

import (
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/image"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/signing"
)

// imageCommand wires `image sign` and `image verify`.
func imageCommand() *cli.Command {
	registryFlags := func() []cli.Flag {
		return []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "cosign,notation", Usage: "signature formats: cosign, notation or both"},
			app.PlainHTTPFlag(),
			app.DockerConfigFlag(),
			&cli.IntFlag{Name: "parallel", Value: 4, Usage: "images processed at once"},
			&cli.IntFlag{Name: "max-requests", Value: registry.DefaultMaxRequests, Usage: "registry requests in flight at once, across all images (separate from --parallel)"},
		}
	}
	return &cli.Command{
		Name:  "image",
		Usage: "sign and verify container images by digest with cosign and Notary Project signatures",
		Subcommands: []*cli.Command{
			{
				Name:      "sign",
				Usage:     "resolve each image to its digest, sign it (cosign and/or notation), push and verify the signatures",
				ArgsUsage: "IMAGE... (repo:tag, repo@sha256:..., or repo:tag@sha256:... to pin the expected digest)",
				Flags: append(append(signingKeyFlags(),
					&cli.StringFlag{Name: "password-file", Usage: "file holding the key password (default: $COSIGN_PASSWORD)"},
					&cli.StringFlag{Name: "pin-file", Usage: "file holding the PKCS#11 PIN (default: the URI's pin-source, else $PKCS11_PIN)"},
					&cli.StringFlag{Name: "cert-chain", Usage: "PEM certificate chain of the key, leaf first (required for notation; default with --keyring: the key's certChain)"},
					&cli.StringFlag{Name: "notation-format", Value: "jws", Usage: "notation envelope: jws or cose"},
					&cli.BoolFlag{Name: "referrers", Usage: "store the cosign signature as an OCI 1.1 referrer instead of the sha256-<hex>.sig tag"},
					&cli.StringFlag{Name: "timestamp-url", Usage: "RFC 3161 timestamp authority for notation signatures (as notation sign --timestamp-url), so they verify after the certificate expires"},
					&cli.StringFlag{Name: "timestamp-root-cert", Usage: "PEM root certificate of the --timestamp-url authority (as notation sign --timestamp-root-cert)"},
					&cli.StringFlag{Name: "bundle-format", Usage: "v0.3: also attach a sigstore bundle v0.3 referrer (cosign v3's default), so cosign v2 and v3 both find the signature"},
					&cli.StringFlag{Name: "expect-digest", Usage: "sha256:... the single IMAGE must resolve to (a moved tag is rejected)"},
				), registryFlags()...),
				Action: imageSign,
			},
			{
				Name:      "verify",
				Usage:     "require a valid signature of each --format on every image (cosign offline, notation with a trust policy)",
				ArgsUsage: "IMAGE...",
				Flags: append([]cli.Flag{
					&cli.StringSliceFlag{Name: "key", Usage: "cosign public key PEM or pkcs11: URI; repeat for several (any may match)"},
					&cli.StringFlag{Name: "pin-file", Usage: "file holding the PKCS#11 PIN, for a pkcs11: --key"},
					&cli.StringFlag{Name: "trust-policy", Usage: "notation OCI trust policy JSON (version 1.0)"},
					&cli.StringFlag{Name: "trust-store", Usage: "notation trust store dir: x509/ca/<name>/*.pem (or a notation config dir)"},
				}, registryFlags()...),
				Action: imageVerify,
			},
		},
	}
}

// imageArgs returns the IMAGE arguments; a flag among them was not parsed (urfave/cli stops at the first argument).
func imageArgs(c *cli.Context) ([]string, error) {
	args := c.Args().Slice()
	if len(args) == 0 {
		return nil, result.Errorf(result.ClassInput, "no image given: pass one or more IMAGE arguments (repo:tag or repo@sha256:...)")
	}
	for _, a := range args {
		if strings.HasPrefix(a, "-") {
			return nil, result.Errorf(result.ClassInput, "flag %s after the IMAGE arguments: put every flag before the images", a)
		}
	}
	return args, nil
}

func imageSign(c *cli.Context) error {
	call := app.From(c)
	formats, err := image.ParseFormats(c.String("format"))
	if err != nil {
		return err
	}
	if c.Int("parallel") < 1 {
		return result.Errorf(result.ClassInput, "--parallel must be at least 1")
	}
	images, err := imageArgs(c)
	if err != nil {
		return err
	}
	sk, err := chooseSigningKey(c, call)
	if err != nil {
		return err
	}
	return signing.SignImages(c.Context, call.Result, app.RegistryClient(c), sk, images, signing.ImageSignOptions{
		Formats: formats, NotationFormat: c.String("notation-format"), Referrers: c.Bool("referrers"), ExpectDigest: c.String("expect-digest"),
		BundleFormat: c.String("bundle-format"), TimestampURL: c.String("timestamp-url"), TimestampRootCert: c.String("timestamp-root-cert"),
		CertChain: c.String("cert-chain"), Parallel: c.Int("parallel"),
		Load: keys.LoadOptions{PasswordFile: c.String("password-file"), PINFile: c.String("pin-file")}, Log: call.Log,
	})
}

func imageVerify(c *cli.Context) error {
	call := app.From(c)
	formats, err := image.ParseFormats(c.String("format"))
	if err != nil {
		return err
	}
	if c.Int("parallel") < 1 {
		return result.Errorf(result.ClassInput, "--parallel must be at least 1")
	}
	images, err := imageArgs(c)
	if err != nil {
		return err
	}
	pubs, err := keys.LoadPublics(c.Context, c.StringSlice("key"), "--key", keys.LoadOptions{PINFile: c.String("pin-file")})
	if err != nil {
		return err
	}
	return signing.VerifyImages(c.Context, call.Result, app.RegistryClient(c), images, signing.ImageVerifyOptions{
		Formats: formats, CosignKeys: pubs, TrustPolicy: c.String("trust-policy"), TrustStore: c.String("trust-store"),
		Parallel: c.Int("parallel"), Log: call.Log,
	})
}
