package main

import (
	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// keysCommand is replaced by its real implementation (work in progress).
func keysCommand() *cli.Command {
	return &cli.Command{Name: "keys", Action: func(*cli.Context) error {
		return result.Errorf(result.ClassInternal, "keys: not built yet")
	}}
}
