package main

import (
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/jenkins"
	"github.com/release-gates/release-gates/helpers/internal/relay"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// standInCommand serves the in-process Jenkins stand-in for the demo; it is hidden from help.
func standInCommand() *cli.Command {
	return &cli.Command{
		Name:   "jenkins-standin",
		Usage:  "serve a Jenkins stand-in with waiting input steps (demo only)",
		Hidden: true,
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "listen", Value: "127.0.0.1:0"},
			&cli.StringSliceFlag{Name: "input", Usage: "BUILD_PATH:INPUT_ID, e.g. /job/payments/7:approve-prod (repeatable)"},
			&cli.BoolFlag{Name: "auto-inputs", Usage: "treat every input as waiting until first answered"},
			&cli.BoolFlag{Name: "require-crumb", Usage: "demand a crumb like session-authenticated Jenkins"},
		},
		Action: func(c *cli.Context) error {
			call := app.From(c)
			call.AllowCleanStop()
			user, tok := lookupEnv(envJenkinsUser), lookupEnv(envJenkinsToken)
			if user == "" || tok == "" {
				return result.Errorf(result.ClassConfig, "set %s and %s for the stand-in", envJenkinsUser, envJenkinsToken)
			}
			si := jenkins.NewStandIn(user, tok)
			si.AutoInputs, si.RequireCrumb = c.Bool("auto-inputs"), c.Bool("require-crumb")
			for _, in := range c.StringSlice("input") {
				build, id, ok := strings.Cut(in, ":")
				if !ok || !strings.Contains(build, "/job/") || id == "" {
					return result.Errorf(result.ClassInput, "--input %q: use BUILD_PATH:INPUT_ID", in)
				}
				// The input declares exactly the parameters the relay submits, as the pipeline's input step must.
				si.AddInput(strings.TrimRight(build, "/"), id, relay.ParamApprover, relay.ParamApproverName, relay.ParamEventID, relay.ParamComment, relay.ParamDecision, relay.ParamTraceID)
			}
			var mu sync.Mutex
			enc := json.NewEncoder(call.Stdout)
			si.OnDecision = func(s jenkins.Submission) {
				mu.Lock()
				defer mu.Unlock()
				_ = enc.Encode(s)
			}
			ln, err := net.Listen("tcp", c.String("listen"))
			if err != nil {
				return result.Errorf(result.ClassInput, "--listen: %v", err)
			}
			call.Log.Printf("jenkins stand-in on http://%s", ln.Addr())
			srv := &http.Server{Handler: si, ReadHeaderTimeout: 5 * time.Second}
			go func() { <-c.Context.Done(); _ = srv.Close() }()
			_ = srv.Serve(ln)
			call.Result.Set("submissions", len(si.Submissions()))
			return nil
		},
	}
}
