package main

import (
	"context"
	"crypto"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func registryFlags() []cli.Flag { return []cli.Flag{app.PlainHTTPFlag(), app.DockerConfigFlag()} }

func registryClient(c *cli.Context) *registry.Client { return app.RegistryClient(c) }

// releaseSigningKeyFlags are attest's private release key: --release-signing-key (deprecated alias --release-key,
// which verify now spells --release-pub for the public half) plus its secret files.
func releaseSigningKeyFlags() []cli.Flag {
	f := keyFlags("release", "the release (attestation) signing key")
	f[0] = &cli.StringFlag{Name: "release-signing-key", Aliases: []string{"release-key"}, Usage: "the release (attestation) signing key: file://cosign.key, a path, or a pkcs11: URI"}
	return f
}

// keyFlags are the flags of one signing key: NAME-key plus its secret files (secrets also come from env).
func keyFlags(name, usage string) []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: name + "-key", Usage: usage + ": file://cosign.key, a path, or a pkcs11: URI"},
		&cli.StringFlag{Name: name + "-password-file", Usage: "file holding the " + name + " key password (default $" + keys.PasswordEnv + ")"},
		&cli.StringFlag{Name: name + "-pin-file", Usage: "file holding the PKCS#11 PIN (default $" + keys.PINEnv + ")"},
	}
}

// loadKey loads NAME-key; required says whether a missing flag is an error (else nil is returned).
func loadKey(c *cli.Context, name string, required bool) (*keys.Key, error) {
	flag := name + "-key"
	if name == "release" {
		flag = "release-signing-key"
	}
	s := c.String(flag)
	if s == "" {
		if required {
			return nil, result.Errorf(result.ClassInput, "--%s is required", flag)
		}
		return nil, nil
	}
	ref, err := keys.ParseRef(s)
	if err != nil {
		return nil, err
	}
	return keys.Load(c.Context, ref, keys.LoadOptions{PasswordFile: c.String(name + "-password-file"), PINFile: c.String(name + "-pin-file")})
}

// readPubs reads public keys (PEM files or pkcs11: URIs) with the one reader every helper uses.
func readPubs(paths []string, flag string) ([]crypto.PublicKey, error) {
	return keys.LoadPublics(context.Background(), paths, "--"+flag, keys.LoadOptions{})
}

func splitPair(s, flag string) (string, string, error) {
	a, b, ok := strings.Cut(s, "=")
	if !ok || a == "" || b == "" {
		return "", "", result.Errorf(result.ClassInput, "--%s %q: want PATH=SIGNATURE", flag, s)
	}
	return a, b, nil
}
