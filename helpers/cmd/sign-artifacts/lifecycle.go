package main

import "github.com/urfave/cli/v2"

// lifecycleCommands returns the keys.yaml subcommands of `keys` (status, rotate, revoke); work in progress.
func lifecycleCommands() []*cli.Command { return nil }
