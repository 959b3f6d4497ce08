// Command sign-artifacts signs and verifies blobs and images with cosign and Notary Project signatures.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
)

func newApp() *cli.App {
	a := app.New("sign-artifacts", "sign and verify blobs and images (cosign, Notary Project), keys from files or PKCS#11")
	keys := keysCommand()
	keys.Subcommands = append(keys.Subcommands, lifecycleCommands()...) // keys.yaml: status, rotate, revoke
	a.Commands = []*cli.Command{runCommand(), blobCommand(), imageCommand(), keys}
	return a
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Run(ctx, newApp(), os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
