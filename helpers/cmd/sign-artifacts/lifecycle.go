package main

import (
	"fmt"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/keyring"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/signing"
)

// lifecycleCommands returns the keys.yaml subcommands of `keys`: status, rotate, revoke and select.
func lifecycleCommands() []*cli.Command {
	keyringFlag := &cli.StringFlag{Name: "keyring", Usage: "keys.yaml, the key registry", Required: true}
	return []*cli.Command{
		{
			Name:  "status",
			Usage: "report every key in keys.yaml; exit 1 when an active key is expired, expires within --warn-days or is due for rotation",
			Flags: []cli.Flag{keyringFlag, &cli.IntFlag{Name: "warn-days", Value: 14, Usage: "warn this many days before an expiry"}},
			Action: func(c *cli.Context) error {
				call := app.From(c)
				if c.Int("warn-days") < 0 {
					return result.Errorf(result.ClassInput, "--warn-days must not be negative")
				}
				f, err := keyring.Load(c.String("keyring"))
				if err != nil {
					return err
				}
				var due []string
				for _, st := range f.Status(time.Now(), time.Duration(c.Int("warn-days"))*24*time.Hour) {
					it := result.Item{Name: st.ID, Kind: "key", Status: result.StatusPassed, Details: map[string]any{
						"state": st.State, "current_for": st.CurrentFor, "not_after": st.NotAfter, "days_left": st.DaysLeft,
						"rotation_due": st.RotationDue, "signatures": st.Signatures}}
					line := fmt.Sprintf("key %s: %s, %d days left", st.ID, st.State, st.DaysLeft)
					if st.NeedsAction {
						it.Status, it.FailureClass, it.Message = result.StatusRejected, result.ClassPolicy, st.Problem
						line += ": " + st.Problem
						due = append(due, st.ID)
					}
					call.Result.Add(it)
					call.Log.Print(line)
				}
				if len(due) > 0 {
					return result.Errorf(result.ClassPolicy, "%d key(s) need rotation now or within %d days: %v (run keys rotate)", len(due), c.Int("warn-days"), due)
				}
				return nil
			},
		},
		{
			Name:  "rotate",
			Usage: "make a new file or HSM key current for an environment, certify it, deprecate the previous key and rewrite the trust bundle",
			Flags: []cli.Flag{
				keyringFlag,
				&cli.StringFlag{Name: "environment", Required: true, Usage: "environment whose current key is replaced"},
				&cli.StringFlag{Name: "new-id", Required: true, Usage: "id of the new key"},
				&cli.StringFlag{Name: "backend", Required: true, Usage: "file or pkcs11"},
				&cli.StringFlag{Name: "key-prefix", Usage: "file backend: write prefix.key/.pub (default keys/<new-id> next to keys.yaml)"},
				&cli.StringFlag{Name: "pkcs11-uri", Usage: "pkcs11 backend: pkcs11:token=..;object=..;id=..?module-path=.. of the key to create"},
				&cli.StringFlag{Name: "password-file", Usage: "file backend: file holding the new key's password (else $" + keys.PasswordEnv + ")"},
				&cli.StringFlag{Name: "pin-file", Usage: "pkcs11 backend: file holding the user PIN (else $" + keys.PINEnv + ")"},
				&cli.StringFlag{Name: "ca-cert", Usage: "CA certificate (from keys generate --type ca) that issues the new key's code-signing certificate"},
				&cli.StringFlag{Name: "ca-key", Usage: "the CA's private key (cosign-encrypted: password in $" + keyring.CAPasswordEnv + " or --ca-password-file)"},
				&cli.StringFlag{Name: "ca-password-file", Usage: "file holding the CA key's password"},
				&cli.StringFlag{Name: "import-cert-chain", Usage: "an already issued PEM chain for the new key, leaf first (instead of --ca-*)"},
				&cli.BoolFlag{Name: "no-cert", Usage: "cosign-only key: no certificate (default without --ca-*/--import-cert-chain: a fresh CA for this key, as keys generate --type ca makes)"},
				&cli.StringFlag{Name: "subject", Usage: "certificate subject (default CN=<new-id>)"},
				&cli.StringFlag{Name: "validity", Value: "365d", Usage: "key and certificate validity"},
				&cli.StringFlag{Name: "max-age", Usage: "rotation policy: rotate after this age (default: the previous key's, else 90d)"},
				&cli.Int64Flag{Name: "max-signatures", Usage: "rotation policy: rotate after this many signatures (0: no limit)"},
			},
			Action: func(c *cli.Context) error {
				call := app.From(c)
				unlock, err := keyring.Lock(c.String("keyring")) // signing calls count into the same file
				if err != nil {
					return err
				}
				defer unlock()
				f, err := keyring.Load(c.String("keyring"))
				if err != nil {
					return err
				}
				o := keyring.RotateOptions{
					Environment: c.String("environment"), NewID: c.String("new-id"), Backend: c.String("backend"),
					KeyPrefix: c.String("key-prefix"), PKCS11URI: c.String("pkcs11-uri"),
					Secrets:     keys.LoadOptions{PasswordFile: c.String("password-file"), PINFile: c.String("pin-file")},
					ImportChain: c.String("import-cert-chain"), NoCert: c.Bool("no-cert"), Subject: c.String("subject"), MaxSignatures: c.Int64("max-signatures"),
				}
				if o.Validity, err = durationFlag(c, "validity"); err != nil {
					return err
				}
				if o.MaxAge, err = durationFlag(c, "max-age"); err != nil {
					return err
				}
				if c.String("ca-cert") != "" || c.String("ca-key") != "" {
					if c.String("ca-cert") == "" || c.String("ca-key") == "" {
						return result.Errorf(result.ClassInput, "--ca-cert and --ca-key go together")
					}
					if o.CA, err = keyring.LoadCA(c.String("ca-cert"), c.String("ca-key"), c.String("ca-password-file")); err != nil {
						return err
					}
				}
				out, err := f.Rotate(c.Context, o)
				if err != nil {
					return err
				}
				call.Log.Printf("rotated %s: new key %s (%s), previous key %s deprecated; trust bundle in %s", o.Environment, out.New.ID, out.New.Backend, orNone(out.Deprecated), out.Bundle.Dir)
				call.Result.Add(result.Item{Name: out.New.ID, Kind: "key", Status: result.StatusPassed, Details: map[string]any{
					"environment": o.Environment, "backend": out.New.Backend, "public_key": out.New.PublicKey, "cert_chain": out.New.CertChain,
					"not_after": out.New.NotAfter, "deprecated": out.Deprecated}})
				call.Result.Set("trust_bundle", out.Bundle)
				for _, w := range out.Bundle.Warnings {
					call.Log.Print("warning: " + w)
				}
				if out.New.CertChain == "" {
					call.Log.Printf("warning: key %s has no certificate chain: it can sign cosign signatures only (pass --ca-cert/--ca-key for notation)", out.New.ID)
				}
				return nil
			},
		},
		{
			Name:  "revoke",
			Usage: "mark a key revoked, take it out of every environment and the trust bundle",
			Flags: []cli.Flag{keyringFlag,
				&cli.StringFlag{Name: "id", Required: true, Usage: "key to revoke"},
				&cli.StringFlag{Name: "reason", Usage: "why (recorded in keys.yaml)"}},
			Action: func(c *cli.Context) error {
				call := app.From(c)
				unlock, err := keyring.Lock(c.String("keyring"))
				if err != nil {
					return err
				}
				defer unlock()
				f, err := keyring.Load(c.String("keyring"))
				if err != nil {
					return err
				}
				b, orphaned, err := f.Revoke(c.String("id"), c.String("reason"), time.Now())
				if err != nil {
					return err
				}
				call.Log.Printf("revoked %s; trust bundle in %s", c.String("id"), b.Dir)
				for _, w := range b.Warnings {
					call.Log.Print("warning: " + w)
				}
				for _, env := range orphaned {
					call.Log.Printf("warning: environment %s has no current key now: run keys rotate --environment %s", env, env)
				}
				call.Result.Add(result.Item{Name: c.String("id"), Kind: "key", Status: result.StatusPassed, Details: map[string]any{"state": keyring.Revoked, "environments_without_key": orphaned}})
				call.Result.Set("trust_bundle", b)
				return nil
			},
		},
		{
			Name:  "select",
			Usage: "print the key reference an environment signs with now, after an HSM health check; falls back to a software key only where keys.yaml allows it",
			Flags: []cli.Flag{keyringFlag,
				&cli.StringFlag{Name: "environment", Required: true, Usage: "environment to sign for"},
				&cli.StringFlag{Name: "pin-file", Usage: "file holding the HSM user PIN (else the URI's pin-source, else $" + keys.PINEnv + ")"},
				&cli.StringFlag{Name: "fallback-log", Aliases: []string{"audit-log"}, Usage: "append a JSON line here for every software fallback (it is always in the result file too)"}},
			Action: func(c *cli.Context) error {
				call := app.From(c)
				sel, err := signing.ChooseKey(signing.KeyOptions{Keyring: c.String("keyring"), Environment: c.String("environment"),
					FallbackLog: c.String("fallback-log"), PINFile: c.String("pin-file"), TraceID: call.TraceID, Log: call.Log})
				if err != nil {
					return err
				}
				details := map[string]any{"environment": sel.Env, "ref": sel.Ref.String(), "cert_chain": sel.CertChain}
				if sel.Fallback != nil {
					details["fallback"] = sel.Fallback
				}
				sel.Record(call.Result)
				call.Result.Add(result.Item{Name: sel.ID, Kind: "key", Status: result.StatusPassed, Details: details})
				call.Result.Set("key_ref", sel.Ref.String())
				call.Result.Set("cert_chain", sel.CertChain)
				fmt.Fprintln(call.Stdout, sel.Ref.String())
				return nil
			},
		},
	}
}

func durationFlag(c *cli.Context, name string) (time.Duration, error) {
	if c.String(name) == "" {
		return 0, nil
	}
	d, err := keyring.ParseDuration(c.String(name))
	if err != nil {
		return 0, result.Errorf(result.ClassInput, "--%s: %v", name, err)
	}
	return d, nil
}

func orNone(s string) string {
	if s == "" {
		return "(none)"
	}
	return s
}
