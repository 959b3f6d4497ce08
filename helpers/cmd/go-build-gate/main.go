// Command go-build-gate runs the goBuildGate checks: module graph, API compatibility and a health smoke test.
package main

import (
	"context"
	"os"
	"os/signal"
	"syscall"

	"github.com/release-gates/release-gates/helpers/internal/app"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Run(ctx, newApp(), os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
