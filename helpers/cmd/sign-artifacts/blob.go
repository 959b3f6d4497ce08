package main

import (
	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// blobCommand is replaced by its real implementation (work in progress).
func blobCommand() *cli.Command {
	return &cli.Command{Name: "blob", Action: func(*cli.Context) error {
		return result.Errorf(result.ClassInternal, "blob: not built yet")
	}}
}
