package app

import (
	"os"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/registry"
)

// PlainHTTPFlag is --plain-http, the same in every helper.
func PlainHTTPFlag() cli.Flag {
	return &cli.BoolFlag{Name: "plain-http", Usage: "allow plain HTTP to the registry (never implied, even for localhost)"}
}

// DockerConfigFlag is --docker-config (deprecated alias --registry-config), the same in every helper.
func DockerConfigFlag() cli.Flag {
	return &cli.StringFlag{Name: "docker-config", Aliases: []string{"registry-config"},
		Usage: "docker config dir with config.json (default: $DOCKER_CONFIG, else ~/.docker); $" + registry.UsernameEnv + "/$" + registry.PasswordEnv + " win"}
}

// RegistryClient returns the registry client of a command with PlainHTTPFlag and DockerConfigFlag; the login comes
// from $REGISTRY_USERNAME/$REGISTRY_PASSWORD (bound by withCredentials), else the docker config.
func RegistryClient(c *cli.Context) *registry.Client {
	return registry.New(registry.Options{PlainHTTP: c.Bool("plain-http"), ConfigDir: c.String("docker-config"),
		Username: os.Getenv(registry.UsernameEnv), Password: os.Getenv(registry.PasswordEnv),
		// --max-requests where the command has it; 0 (no flag) is the default bound, never unbounded
		MaxRequests: c.Int("max-requests")})
}
