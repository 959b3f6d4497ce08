package main

import (
	"os"
	"path/filepath"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/atomicfile"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/signing"
)

// keysCommand wires `keys generate` and `keys public`; lifecycle subcommands are appended in main.
func keysCommand() *cli.Command {
	secretFlags := []cli.Flag{
		&cli.StringFlag{Name: "password-file", Usage: "file holding the key password (default: $COSIGN_PASSWORD)"},
		&cli.StringFlag{Name: "pin-file", Usage: "file holding the PKCS#11 PIN (default: the URI's pin-source, else $PKCS11_PIN)"},
	}
	return &cli.Command{
		Name:  "keys",
		Usage: "create signing keys and certificates, export public keys",
		Subcommands: []*cli.Command{
			{
				Name:  "generate",
				Usage: "create a cosign key pair (file), an ECDSA P-256 key in an HSM (pkcs11), or a test CA with a code-signing leaf (ca)",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "type", Required: true, Usage: "file | pkcs11 | ca"},
					&cli.StringFlag{Name: "out-prefix", Usage: "file: write PREFIX.key (encrypted) and PREFIX.pub"},
					&cli.StringFlag{Name: "key", Usage: "pkcs11: the key URI with token=, object=, id= and ?module-path=; ca: issue the leaf for this existing key"},
					&cli.StringFlag{Name: "out-dir", Usage: "ca: write ca.crt, leaf.crt, chain.pem (leaf first) and, without --key, leaf.key/leaf.pub here"},
					&cli.StringFlag{Name: "subject", Usage: "ca: leaf subject, 'CN=release signer,O=example' (the CA gets CN + ' CA')"},
					&cli.DurationFlag{Name: "validity", Value: 365 * 24 * time.Hour, Usage: "ca: certificate lifetime"},
				}, secretFlags...),
				Action: keysGenerate,
			},
			{
				Name:  "public",
				Usage: "write the public key of a key reference as PEM (cosign .pub format)",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "key", Required: true, Usage: "file://cosign.key, a path, or a pkcs11: URI"},
					&cli.StringFlag{Name: "out", Required: true, Usage: "output PEM file ('-' for stdout)"},
				}, secretFlags...),
				Action: keysPublic,
			},
		},
	}
}

func loadOptions(c *cli.Context) keys.LoadOptions {
	return keys.LoadOptions{PasswordFile: c.String("password-file"), PINFile: c.String("pin-file")}
}

func keysGenerate(c *cli.Context) error {
	call := app.From(c)
	var (
		k   *keys.Key
		err error
	)
	switch t := c.String("type"); t {
	case "file":
		prefix := c.String("out-prefix")
		if prefix == "" {
			return result.Errorf(result.ClassInput, "keys generate --type file needs --out-prefix PREFIX")
		}
		pass, err := keys.ReadSecret(c.String("password-file"), keys.PasswordEnv, "key password")
		if err != nil {
			return err
		}
		if k, err = keys.GenerateFile(prefix, pass); err != nil {
			return err
		}
		call.Result.Add(result.Item{Name: prefix + ".key", Kind: "key", Status: result.StatusPassed, Details: map[string]any{"key_id": k.ID, "public": prefix + ".pub"}})
	case "pkcs11":
		ref, err := keys.ParseRef(c.String("key"))
		if err != nil {
			return err
		}
		if ref.Scheme != keys.SchemePKCS11 {
			return result.Errorf(result.ClassInput, "keys generate --type pkcs11 needs --key 'pkcs11:token=T;object=L;id=%%01?module-path=...'")
		}
		if k, err = keys.GeneratePKCS11(c.Context, ref, loadOptions(c)); err != nil {
			return err
		}
		defer k.Close()
		call.Result.Add(result.Item{Name: ref.String(), Kind: "key", Status: result.StatusPassed, Details: map[string]any{"key_id": k.ID}})
	case "ca":
		return generateCA(c)
	default:
		return result.Errorf(result.ClassInput, "keys generate --type %q: want file, pkcs11 or ca", t)
	}
	call.Result.Set("key_id", k.ID)
	call.Log.Printf("generated key %s", k.ID)
	return err
}

func generateCA(c *cli.Context) error {
	call := app.From(c)
	dir, subject := c.String("out-dir"), c.String("subject")
	if dir == "" || subject == "" {
		return result.Errorf(result.ClassInput, "keys generate --type ca needs --out-dir DIR and --subject 'CN=...'")
	}
	if _, err := keys.ParseSubject(subject); err != nil {
		return err
	}
	var (
		k   *keys.Key
		err error
	)
	if s := c.String("key"); s != "" {
		ref, err := keys.ParseRef(s)
		if err != nil {
			return err
		}
		if k, err = keys.Load(c.Context, ref, loadOptions(c)); err != nil {
			return err
		}
		defer k.Close()
	} else {
		pass, err := keys.ReadSecret(c.String("password-file"), keys.PasswordEnv, "key password")
		if err != nil {
			return err
		}
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return result.Errorf(result.ClassInput, "creating %s: %v", dir, err)
		}
		if k, err = keys.GenerateFile(filepath.Join(dir, "leaf"), pass); err != nil {
			return err
		}
	}
	validity := c.Duration("validity")
	ca, err := keys.NewCA(subject, validity)
	if err != nil {
		return err
	}
	leaf, err := ca.IssueCodeSigning(k.Public(), subject, validity)
	if err != nil {
		return err
	}
	out := map[string][]byte{
		"ca.crt":    keys.EncodeCerts(ca.Cert),
		"leaf.crt":  keys.EncodeCerts(leaf),
		"chain.pem": keys.EncodeCerts(leaf, ca.Cert),
	}
	for name, b := range out {
		if err := atomicfile.WriteFile(filepath.Join(dir, name), b, 0o644); err != nil {
			return result.Errorf(result.ClassInput, "%v", err)
		}
	}
	call.Result.Add(result.Item{Name: filepath.Join(dir, "chain.pem"), Kind: "certificate", Status: result.StatusPassed, Details: map[string]any{
		"key_id": k.ID, "subject": leaf.Subject.String(), "ca": filepath.Join(dir, "ca.crt"), "not_after": leaf.NotAfter.UTC().Format(time.RFC3339),
	}})
	call.Result.Set("key_id", k.ID)
	call.Log.Printf("issued code-signing certificate %q for key %s (CA %q)", leaf.Subject.String(), k.ID, ca.Cert.Subject.String())
	return nil
}

func keysPublic(c *cli.Context) error {
	call := app.From(c)
	ref, err := keys.ParseRef(c.String("key"))
	if err != nil {
		return err
	}
	k, err := keys.Load(c.Context, ref, loadOptions(c))
	if err != nil {
		return err
	}
	defer k.Close()
	pemBytes, err := k.PublicPEM()
	if err != nil {
		return err
	}
	out := c.String("out")
	if out == "-" {
		_, err = call.Stdout.Write(pemBytes)
	} else {
		err = atomicfile.WriteFile(out, pemBytes, 0o644)
	}
	if err != nil {
		return result.Errorf(result.ClassInput, "writing public key: %v", err)
	}
	call.Result.Set("key_id", k.ID)
	call.Result.Add(result.Item{Name: out, Kind: "public-key", Status: result.StatusPassed, Details: map[string]any{"key_id": k.ID, "key": ref.String()}})
	return nil
}

// signingKeyFlags name the key of blob sign and image sign: --key, or --keyring with --environment (exclusive).
func signingKeyFlags() []cli.Flag {
	return []cli.Flag{
		&cli.StringFlag{Name: "key", Usage: "signing key: file://cosign.key, a path, or a pkcs11: URI (or --keyring with --environment)"},
		&cli.StringFlag{Name: "keyring", Usage: "keys.yaml: sign with --environment's current key after an HSM health check; a software fallback only where keys.yaml allows it"},
		&cli.StringFlag{Name: "environment", Usage: "with --keyring: the environment whose current key signs"},
		&cli.StringFlag{Name: "fallback-log", Aliases: []string{"audit-log"}, Usage: "with --keyring: append a JSON line here for every software fallback (it is always in the result file too)"},
	}
}

// chooseSigningKey checks --key versus --keyring/--environment and resolves the key with signing.ChooseKey
// (HSM health check, software-fallback policy, fallback log), recording the choice in the result.
func chooseSigningKey(c *cli.Context, call *app.Call) (signing.Key, error) {
	key, kr, env := c.String("key"), c.String("keyring"), c.String("environment")
	switch {
	case key != "" && kr != "":
		return signing.Key{}, result.Errorf(result.ClassInput, "--key and --keyring exclude each other: pass --key KEYREF, or --keyring keys.yaml --environment ENV")
	case key == "" && kr == "":
		return signing.Key{}, result.Errorf(result.ClassInput, "no signing key: pass --key KEYREF, or --keyring keys.yaml --environment ENV")
	case kr != "" && env == "":
		return signing.Key{}, result.Errorf(result.ClassInput, "--keyring needs --environment ENV: the environment whose current key signs")
	case kr == "" && env != "":
		return signing.Key{}, result.Errorf(result.ClassInput, "--environment applies only with --keyring keys.yaml")
	case kr == "" && c.String("fallback-log") != "":
		return signing.Key{}, result.Errorf(result.ClassInput, "--fallback-log applies only with --keyring keys.yaml")
	}
	k, err := signing.ChooseKey(signing.KeyOptions{Key: key, Keyring: kr, Environment: env, FallbackLog: c.String("fallback-log"),
		PINFile: c.String("pin-file"), TraceID: call.TraceID, Log: call.Log})
	if err != nil {
		return k, err
	}
	k.Record(call.Result)
	return k, nil
}
