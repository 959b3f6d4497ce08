// Command slack-approval asks the approval relay for approvals, verifies its signed decisions, and runs the relay.
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
	a := app.New("slack-approval", "interactive Slack approvals that resume Jenkins input steps")
	a.Commands = []*cli.Command{requestCommand(), verifyCommand(), relayCommand(), keygenCommand(), ruleCommand(), auditCommand(), rbacCommand()}
	return a
}

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	code := app.Run(ctx, newApp(), os.Args, os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}
