package main

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/gate"
	"github.com/release-gates/release-gates/helpers/internal/params"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func newApp() *cli.App {
	a := app.New("go-build-gate", "check a Go service before release: module graph, API compatibility, health smoke test")
	a.DisableSliceFlagSeparator = true // --arg values may contain commas
	a.Commands = []*cli.Command{modverifyCommand(), apidiffCommand(), smokeCommand(), runCommand()}
	return a
}

// record copies a single check's findings into the result file.
func record(c *cli.Context, o *gate.Outcome) error {
	call := app.From(c)
	for _, it := range o.Items {
		call.Result.Add(it)
	}
	for k, v := range o.Data {
		call.Result.Set(k, v)
	}
	return o.Err
}

func modverifyCommand() *cli.Command {
	return &cli.Command{
		Name:  "modverify",
		Usage: "go mod verify, go.sum present and tidy (go mod tidy -e -diff; tidy errors are a warning), -mod=readonly, GOSUMDB on, GOPROXY set",
		Flags: []cli.Flag{&cli.StringFlag{Name: "dir", Value: ".", Usage: "module root (holds go.mod)"}},
		Action: func(c *cli.Context) error {
			return record(c, gate.ModVerify(c.Context, gate.ModOptions{Dir: c.String("dir"), Log: app.From(c).Log}))
		},
	}
}

func apidiffCommand() *cli.Command {
	return &cli.Command{
		Name:  "apidiff",
		Usage: "reject breaking OpenAPI changes between the head spec and the last release (oasdiff's default checks)",
		Description: "The base is --base-spec, or --base-path at --base-ref, or (neither given) --base-path at the newest\n" +
			"tag matching --tag-pattern reachable from HEAD in --dir's git repository. Swagger 2.0 (as swag writes it)\n" +
			"and OpenAPI 3 are accepted, JSON or YAML. The allow-list is a YAML/JSON list of {id, path, method?, reason}.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "spec", Required: true, Usage: "head spec (e.g. docs/swagger.json from swag init)"},
			&cli.StringFlag{Name: "base-spec", Usage: "base spec file"},
			&cli.StringFlag{Name: "base-ref", Usage: "git ref holding the base spec"},
			&cli.StringFlag{Name: "base-path", Usage: "path of the spec inside the ref, relative to --dir (default: --spec relative to --dir)"},
			&cli.StringFlag{Name: "dir", Value: ".", Usage: "git working tree for ref and tag lookups"},
			&cli.StringFlag{Name: "tag-pattern", Value: "v*", Usage: "glob for release tags when no base is given"},
			&cli.StringFlag{Name: "fail-on", Value: "ERR", Usage: "fail on changes at this level or above: ERR, WARN or INFO"},
			&cli.StringFlag{Name: "allow-list", Usage: "accepted changes: YAML/JSON list of {id, path, method?, reason}"},
		},
		Action: func(c *cli.Context) error {
			return record(c, gate.APIDiff(c.Context, gate.APIDiffOptions{
				Dir: c.String("dir"), Spec: c.String("spec"), BaseSpec: c.String("base-spec"), BaseRef: c.String("base-ref"),
				BasePath: c.String("base-path"), TagPattern: c.String("tag-pattern"), FailOn: c.String("fail-on"),
				AllowList: c.String("allow-list"), Log: app.From(c).Log,
			}))
		},
	}
}

func smokeCommand() *cli.Command {
	return &cli.Command{
		Name:  "smoke",
		Usage: "start the service in its own process group, wait for a 2xx health answer, always stop the group",
		Description: "Exit 2 when the health port is already taken or the command cannot start; exit 1 when the service\n" +
			"exits, or does not answer 2xx (with --expect-body contained in its JSON body) before --deadline:\n" +
			"the gate started the service itself, so that is the service's fault. The last 50 lines of its output\n" +
			"go to the result file. The group gets SIGTERM, then SIGKILL after --grace, also when the gate is interrupted.\n" +
			"The gate is a child subreaper: what the service daemonizes out of its group (setsid, double fork) reparents\n" +
			"to the gate and is killed and reaped the same way, reported as an \"escaped processes\" warning.",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "cmd", Required: true, Usage: "service binary"},
			&cli.StringSliceFlag{Name: "arg", Usage: "service argument (repeatable)"},
			&cli.StringSliceFlag{Name: "env", Usage: "KEY=VALUE for the service (repeatable; values are not recorded)"},
			&cli.StringFlag{Name: "workdir", Usage: "service working directory"},
			&cli.StringFlag{Name: "url", Value: gate.DefaultHealthURL, Usage: "health URL on this machine"},
			&cli.DurationFlag{Name: "try-timeout", Value: 3 * time.Second, Usage: "timeout of one health request"},
			&cli.DurationFlag{Name: "deadline", Value: 60 * time.Second, Usage: "give up after this long"},
			&cli.DurationFlag{Name: "grace", Value: 5 * time.Second, Usage: "wait between SIGTERM and SIGKILL"},
			&cli.StringFlag{Name: "expect-body", Usage: "JSON the body must contain, e.g. '{\"status\":\"ok\"}'"},
		},
		Action: func(c *cli.Context) error {
			var expect any
			if s := c.String("expect-body"); s != "" {
				var err error
				if expect, err = gate.ParseExpectBody(json.RawMessage(s)); err != nil {
					return err
				}
			}
			return record(c, gate.Smoke(c.Context, gate.SmokeOptions{
				Command: c.String("cmd"), Args: c.StringSlice("arg"), Env: c.StringSlice("env"), Workdir: c.String("workdir"),
				URL: c.String("url"), TryTimeout: c.Duration("try-timeout"), Deadline: c.Duration("deadline"),
				Grace: c.Duration("grace"), ExpectBody: expect, Log: app.From(c).Log,
			}))
		},
	}
}

func runCommand() *cli.Command {
	return &cli.Command{
		Name:  "run",
		Usage: "run the checks a params JSON selects (written by the goBuildGate step), concurrently; result + JUnit",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "params", Required: true, Usage: "params JSON file"},
			&cli.StringFlag{Name: "junit", Usage: "write a JUnit XML report here (one testcase per check)"},
		},
		Action: func(c *cli.Context) error {
			call := app.From(c)
			doc, data, err := params.ReadFile(c.String("params"))
			if data != nil && params.IsDoc(data) {
				if err != nil {
					return err
				}
				return runStep(c, call, doc)
			}
			junit := c.String("junit")
			outcomes, err := runParams(c, call)
			if junit != "" {
				if err != nil && outcomes == nil {
					outcomes = []*gate.Outcome{{Check: "params", Err: err}}
				}
				if werr := gate.WriteJUnit(junit, "goBuildGate", outcomes); werr != nil {
					return result.Errorf(result.ClassInput, "writing JUnit report %s: %v", junit, werr)
				}
			}
			return err
		},
	}
}

// runStep runs the goBuildGate step's params document (the runner contract): checks, JUnit, archive, summary, returns.
func runStep(c *cli.Context, call *app.Call, doc *params.Doc) error {
	var p gate.StepParams
	if err := doc.Decode(&p); err != nil {
		return err
	}
	gp := p.GateParams()
	call.Result.Set("dir", gp.Dir)
	call.Result.Set("checks", gp.Checks)
	outcomes, err := gate.Run(c.Context, gp, gate.RunOptions{Log: call.Log, Spell: p.Spelling()})
	for _, o := range outcomes {
		call.Result.Add(o.Item())
	}
	junit := strings.TrimSuffix(p.ResultFile, ".json") + ".junit.xml"
	if err != nil && outcomes == nil {
		outcomes = []*gate.Outcome{{Check: "params", Err: err}}
	}
	if werr := gate.WriteJUnit(junit, "goBuildGate", outcomes); werr != nil && err == nil {
		err = result.Errorf(result.ClassInput, "writing JUnit report %s: %v", junit, werr)
	}
	call.Result.Archive(junit)
	if p.JUnit {
		call.Result.JUnit(junit)
	}
	status := result.ClassOf(err).Status()
	call.Result.Summary(fmt.Sprintf("goBuildGate: %s (trace %s)", status, call.TraceID))
	items := call.Result.Items()
	for _, it := range items {
		msg := ""
		if it.Message != "" {
			first, _, _ := strings.Cut(it.Message, "\n")
			if len(first) > 200 {
				first = first[:200] + "..."
			}
			msg = ": " + first
		}
		call.Result.Summary(fmt.Sprintf("goBuildGate:   %s %s%s", it.Name, it.Status, msg))
	}
	call.Result.Returns(map[string]any{"helper": "go-build-gate", "verb": "run", "status": status, "exit_code": result.ClassOf(err).ExitCode(),
		"message": messageOf(err), "trace_id": call.TraceID, "items": items, "data": map[string]any{"dir": gp.Dir, "checks": gp.Checks}})
	return err
}

func messageOf(err error) string {
	if err == nil {
		return ""
	}
	return err.Error()
}

func runParams(c *cli.Context, call *app.Call) ([]*gate.Outcome, error) {
	f, err := os.Open(c.String("params"))
	if err != nil {
		return nil, result.Errorf(result.ClassInput, "params file %s: %v", c.String("params"), err)
	}
	defer f.Close()
	p, err := gate.ParseParams(f)
	if err != nil {
		return nil, err
	}
	call.Result.Set("dir", p.Dir)
	call.Result.Set("checks", p.Checks)
	outcomes, err := gate.Run(c.Context, p, gate.RunOptions{Log: call.Log, Spell: p.Spelling()})
	for _, o := range outcomes {
		call.Result.Add(o.Item())
	}
	return outcomes, err
}
