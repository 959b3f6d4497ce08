package main

import (
	"errors"
	"os"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/relay"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func relayCommand() *cli.Command {
	return &cli.Command{
		Name:  "relay",
		Usage: "run the approval relay: the request API, Slack clicks (HTTP or Socket Mode), and one signed answer per Jenkins input",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "config", Required: true, Usage: "relay config file (YAML; secrets are named there as env vars or files)"},
			&cli.StringFlag{Name: "listen", Usage: "override the config's listen address"},
		},
		Action: func(c *cli.Context) error {
			call := app.From(c)
			call.AllowCleanStop()
			setup, err := relay.LoadConfig(c.String("config"))
			if err != nil {
				return result.Errorf(result.ClassConfig, "%v", err)
			}
			m, err := relay.Serve(c.Context, setup, relay.ServeOptions{Listen: c.String("listen"), Log: call.Log,
				OnListen: func(addr string) { call.Result.Set("listen", addr) }})
			if m != nil {
				call.Result.Set("counted", m.Clicks(relay.OutcomeCounted))
				call.Result.Set("delivered", m.Deliveries(relay.DeliverySubmitted))
			}
			switch {
			case errors.Is(err, relay.ErrServe):
				return result.Errorf(result.ClassUnavailable, "%v", err)
			case err != nil:
				return result.Errorf(result.ClassConfig, "%v", err)
			}
			call.Log.Printf("relay stopped")
			return nil
		},
	}
}

func keygenCommand() *cli.Command {
	return &cli.Command{
		Name:  "keygen",
		Usage: "create the relay's decision key (ECDSA P-256, PEM) and its public key for slackApproval's relayPublicKey",
		Flags: []cli.Flag{req("out", "private key file (written 0600)"), req("public-out", "public key file")},
		Action: func(c *cli.Context) error {
			if _, err := os.Stat(c.String("out")); err == nil {
				return result.Errorf(result.ClassInput, "--out %s exists: refusing to replace a decision key", c.String("out"))
			}
			s, err := generateKey(c.String("out"))
			if err != nil {
				return result.Errorf(result.ClassInput, "--out: %v", err)
			}
			if err := writeAtomic(c.String("public-out"), s.PublicPEM(), 0o644); err != nil {
				return result.Errorf(result.ClassInput, "--public-out: %v", err)
			}
			app.From(c).Result.Set("keyId", s.KeyID)
			return nil
		},
	}
}

func req(name, usage string) *cli.StringFlag {
	return &cli.StringFlag{Name: name, Usage: usage, Required: true}
}
