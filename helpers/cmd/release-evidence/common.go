package main

import (
	"crypto"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func registryFlags() []cli.Flag {
	return []cli.Flag{
		&cli.BoolFlag{Name: "plain-http", Usage: "allow plain HTTP registries (tests, local registries only)"},
		&cli.StringFlag{Name: "docker-config", Usage: "directory holding config.json (default $DOCKER_CONFIG or ~/.docker); or set $" + registry.UsernameEnv + "/$" + registry.PasswordEnv},
	}
}

func registryClient(c *cli.Context) *registry.Client {
	return registry.New(registry.Options{PlainHTTP: c.Bool("plain-http"), ConfigDir: c.String("docker-config"),
		Username: os.Getenv(registry.UsernameEnv), Password: os.Getenv(registry.PasswordEnv)})
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
	s := c.String(name + "-key")
	if s == "" {
		if required {
			return nil, result.Errorf(result.ClassInput, "--%s-key is required", name)
		}
		return nil, nil
	}
	ref, err := keys.ParseRef(s)
	if err != nil {
		return nil, err
	}
	return keys.Load(c.Context, ref, keys.LoadOptions{PasswordFile: c.String(name + "-password-file"), PINFile: c.String(name + "-pin-file")})
}

// readPubs reads PEM public key files.
func readPubs(paths []string, flag string) ([]crypto.PublicKey, error) {
	var out []crypto.PublicKey
	for _, p := range paths {
		b, err := os.ReadFile(p)
		if err != nil {
			return nil, result.Errorf(result.ClassInput, "--%s %s: %v", flag, p, unwrap(err))
		}
		k, err := keys.ParsePublicPEM(b, p)
		if err != nil {
			return nil, err
		}
		out = append(out, k)
	}
	return out, nil
}

func unwrap(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}

func splitPair(s, flag string) (string, string, error) {
	a, b, ok := strings.Cut(s, "=")
	if !ok || a == "" || b == "" {
		return "", "", result.Errorf(result.ClassInput, "--%s %q: want PATH=SIGNATURE", flag, s)
	}
	return a, b, nil
}
