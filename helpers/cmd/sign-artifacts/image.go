package main

import (
	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// imageCommand is replaced by its real implementation (work in progress).
func imageCommand() *cli.Command {
	return &cli.Command{Name: "image", Action: func(*cli.Context) error {
		return result.Errorf(result.ClassInternal, "image: not built yet")
	}}
}
