package main

import (
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Environment variables that carry secrets (never flags).
const (
	envBotToken      = "SLACK_BOT_TOKEN"
	envAppToken      = "SLACK_APP_TOKEN"
	envSigningSecret = "SLACK_SIGNING_SECRET"
	envButtonSecret  = "RG_BUTTON_SECRET"
	envJenkinsUser   = "JENKINS_USER"
	envJenkinsToken  = "JENKINS_API_TOKEN"
	envSlackAPIURL   = "SLACK_API_URL"
)

// secretFlag is a --<name>-file flag naming a file that holds the secret otherwise read from env.
func secretFlag(name, env string) cli.Flag {
	return &cli.StringFlag{Name: name + "-file", Usage: "read the secret from this file instead of $" + env}
}

// secret reads a secret from the file flag, else from env; it never echoes the value.
func secret(c *cli.Context, name, env string) (string, error) {
	if p := c.String(name + "-file"); p != "" {
		b, err := os.ReadFile(p)
		if err != nil {
			return "", result.Errorf(result.ClassConfig, "--%s-file: cannot read %s: %v", name, p, pathErr(err))
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", result.Errorf(result.ClassConfig, "--%s-file: %s is empty", name, p)
		}
		return v, nil
	}
	if v := os.Getenv(env); v != "" {
		return v, nil
	}
	return "", result.Errorf(result.ClassConfig, "%s is not set: export it (withCredentials) or pass --%s-file", env, name)
}

func pathErr(err error) error {
	if pe, ok := err.(*os.PathError); ok {
		return pe.Err
	}
	return err
}
