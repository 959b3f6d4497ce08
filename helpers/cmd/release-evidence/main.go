// Command release-evidence keeps a release's evidence: the signed audit chain, SLSA provenance and approval
// attestations, verification before deploy, rollback targets, admission policies and the release report.
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
	a := app.New("release-evidence", "audit chain, provenance and approval attestations, verify before deploy, rollback, admission policies, report")
	a.DisableSliceFlagSeparator = true
	a.Commands = []*cli.Command{runCommand(), auditCommand(), attestCommand(), verifyCommand(), verifyVSACommand(), rollbackCommand(), policyCommand(), reportCommand()}
	return a
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Run(ctx, newApp(), os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
