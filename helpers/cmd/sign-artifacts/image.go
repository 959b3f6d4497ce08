package main

import (
	"crypto"
	"os"
	"strings"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/bundle"
	"github.com/release-gates/release-gates/helpers/internal/image"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/tsa"
)

// imageCommand wires `image sign` and `image verify`.
func imageCommand() *cli.Command {
	registryFlags := func() []cli.Flag {
		return []cli.Flag{
			&cli.StringFlag{Name: "format", Value: "cosign,notation", Usage: "signature formats: cosign, notation or both"},
			&cli.BoolFlag{Name: "plain-http", Usage: "allow plain HTTP to the registry (never implied, even for localhost)"},
			&cli.StringFlag{Name: "registry-config", Usage: "docker config dir with config.json (default: $DOCKER_CONFIG, else ~/.docker); $REGISTRY_USERNAME/$REGISTRY_PASSWORD win"},
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

func registryClient(c *cli.Context) *registry.Client {
	return registry.New(registry.Options{
		PlainHTTP: c.Bool("plain-http"),
		ConfigDir: c.String("registry-config"),
		Username:  os.Getenv(registry.UsernameEnv),
		Password:  os.Getenv(registry.PasswordEnv),
		// a value below 1 falls back to the default bound: never unbounded
		MaxRequests: c.Int("max-requests"),
	})
}

func imageSign(c *cli.Context) error {
	call := app.From(c)
	formats, err := image.ParseFormats(c.String("format"))
	if err != nil {
		return err
	}
	mediaType, err := image.NotationMediaType(c.String("notation-format"))
	if err != nil {
		return err
	}
	bundleFormat, err := bundle.ParseFormat(c.String("bundle-format"))
	if err != nil {
		return err
	}
	var expect v1.Hash
	if s := c.String("expect-digest"); s != "" {
		if expect, err = v1.NewHash(s); err != nil {
			return result.Errorf(result.ClassInput, "--expect-digest %q: %v: use sha256:<64 hex>", s, err)
		}
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
	ref, chain := sk.ref, c.String("cert-chain")
	if chain == "" {
		chain = sk.certChain
	}
	k, err := keys.Load(c.Context, ref, keys.LoadOptions{PasswordFile: c.String("password-file"), PINFile: c.String("pin-file"), CertChainFile: chain})
	if err != nil {
		return err
	}
	defer k.Close()
	call.Result.Set("key", ref.String())
	call.Result.Set("key_id", k.ID)
	call.Result.Set("formats", formatNames(formats))
	var made atomic.Int64 // new signatures, for the key's counter; a reused one was counted when it was made
	ik := image.Key{Signer: k.Signer, CertChain: k.CertChain, ID: k.ID}
	if u := c.String("timestamp-url"); u != "" || c.String("timestamp-root-cert") != "" {
		a, err := tsa.Open(u, c.String("timestamp-root-cert"))
		if err != nil {
			return err
		}
		ik.Timestamper, ik.TSARootCAs = a.Timestamper, a.Roots
		call.Result.Set("timestamp_url", u)
	}
	err = image.SignAll(c.Context, registryClient(c), images, ik,
		image.SignOptions{Formats: formats, NotationMediaType: mediaType, Referrers: c.Bool("referrers"), BundleFormat: bundleFormat, Expect: expect, Workers: c.Int("parallel")},
		func(o image.Outcome) {
			recordImage(call, o, "signed")
			made.Add(newSignatures(o))
		})
	if err == nil {
		call.Log.Printf("signed %d images (%s)", c.NArg(), strings.Join(formatNames(formats), "+"))
	}
	// Signatures pushed before another image failed are real and count too.
	if cerr := sk.count(call, made.Load()); err == nil {
		err = cerr
	}
	return err
}

// newSignatures counts the signatures SignAll pushed for one image.
func newSignatures(o image.Outcome) int64 {
	var n int64
	if o.Cosign != nil && o.Cosign.Verified && !o.Cosign.Reused {
		n++
	}
	if o.Notation != nil && o.Notation.Verified && !o.Notation.Reused {
		n++
	}
	return n
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
	opts := image.VerifyOptions{Formats: formats, Workers: c.Int("parallel")}
	for _, s := range c.StringSlice("key") {
		pub, err := publicKey(c, s)
		if err != nil {
			return err
		}
		opts.CosignKeys = append(opts.CosignKeys, pub)
	}
	for _, f := range formats {
		if f == image.Notation {
			if opts.Notation, err = image.LoadVerifier(c.String("trust-policy"), c.String("trust-store")); err != nil {
				return err
			}
		}
	}
	call.Result.Set("formats", formatNames(formats))
	err = image.VerifyAll(c.Context, registryClient(c), images, opts, func(o image.Outcome) { recordImage(call, o, "verified") })
	if err == nil {
		call.Log.Printf("verified %d images (%s)", c.NArg(), strings.Join(formatNames(formats), "+"))
	}
	return err
}

// publicKey reads a cosign verification key: a PEM public key file, or the public half of a pkcs11: key.
func publicKey(c *cli.Context, s string) (crypto.PublicKey, error) {
	ref, err := keys.ParseRef(s)
	if err != nil {
		return nil, err
	}
	if ref.Scheme == keys.SchemePKCS11 {
		k, err := keys.Load(c.Context, ref, keys.LoadOptions{PINFile: c.String("pin-file")})
		if err != nil {
			return nil, err
		}
		defer k.Close()
		return k.Public(), nil
	}
	b, err := os.ReadFile(ref.Path)
	if err != nil {
		return nil, result.Errorf(result.ClassInput, "reading public key %s: %v", ref.Path, err)
	}
	return keys.ParsePublicPEM(b, ref.Path)
}

func formatNames(fs []image.Format) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f)
	}
	return out
}

// recordImage adds one result item and one stderr line per image.
func recordImage(call *app.Call, o image.Outcome, verb string) {
	it := result.Item{Name: o.Given, Kind: "image", DurationMS: o.Duration.Milliseconds(), Details: map[string]any{}}
	if o.Digest != "" {
		it.Details["digest"] = o.Digest
	}
	if o.Cosign != nil {
		it.Details["cosign"] = map[string]any{"location": o.Cosign.Location, "signatures": o.Cosign.Signatures, "reused": o.Cosign.Reused, "verified": o.Cosign.Verified}
		if b := o.Cosign.Bundle; b != nil {
			it.Details["cosign_bundle"] = map[string]any{"format": bundle.FormatV03, "location": "referrers", "reused": b.Reused}
		}
	}
	if o.Notation != nil {
		it.Details["notation"] = map[string]any{"media_type": o.Notation.MediaType, "reused": o.Notation.Reused, "verified": o.Notation.Verified}
	}
	if o.Checked != nil {
		it.Details["verified"] = formatNames(o.Checked)
	}
	if o.Err != nil {
		it.FailureClass = result.ClassOf(o.Err)
		it.Message = o.Err.Error()
		call.Log.Printf("%s: %s: %v", o.Given, it.FailureClass, o.Err)
	} else {
		it.Status = result.StatusPassed
		call.Log.Printf("%s %s as %s", verb, o.Given, o.Digest)
	}
	call.Result.Add(it)
}
