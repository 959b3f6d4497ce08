// Package app wires a helper's urfave/cli App to the result-file contract: trace id, exit codes, stderr progress.
package app

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log"
	"os"
	"strings"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/version"
)

// TraceEnv is the environment variable that carries a release's trace id across steps.
const TraceEnv = "RELEASE_TRACE_ID"

// ResultFileFlag is the flag every verb accepts; its value is also pre-scanned so parse errors still write a result.
const ResultFileFlag = "result-file"

type ctxKey struct{}

// Call is what an action gets: the recorder for its result file, a stderr logger and the trace id.
type Call struct {
	Result  *result.Recorder
	Log     *log.Logger
	TraceID string
	Stdout  io.Writer

	cleanStop bool
}

// AllowCleanStop marks a long-running verb (a relay, a stand-in) for which SIGTERM is a normal end, not exit 3.
func (c *Call) AllowCleanStop() { c.cleanStop = true }

// From returns the Call stored in a command's context.
func From(c *cli.Context) *Call {
	if v, ok := c.Context.Value(ctxKey{}).(*Call); ok {
		return v
	}
	return &Call{Result: result.NewRecorder("", version.Version, "", ""), Log: log.New(io.Discard, "", 0), Stdout: io.Discard}
}

// NewTraceID returns a fresh random trace id.
func NewTraceID() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return "rg-" + hex.EncodeToString(b)
}

// New returns a cli.App preset for the contract; callers add Commands.
func New(name, usage string) *cli.App {
	a := cli.NewApp()
	a.Name = name
	a.Usage = usage
	a.Version = version.Version
	a.HideHelpCommand = true
	a.EnableBashCompletion = false
	a.ExitErrHandler = func(*cli.Context, error) {} // only main exits
	a.OnUsageError = usageError
	a.Flags = []cli.Flag{
		&cli.StringFlag{Name: "trace-id", Usage: "release trace id (default: $" + TraceEnv + ", else a new one)", EnvVars: []string{TraceEnv}},
	}
	return a
}

func usageError(c *cli.Context, err error, _ bool) error {
	return result.Errorf(result.ClassInput, "%s: %v (see --help)", c.Command.FullName(), err)
}

// WithResultFile adds the --result-file flag and usage-error mapping to every command and subcommand.
func WithResultFile(cmds []*cli.Command) []*cli.Command {
	for _, c := range cmds {
		if len(c.Subcommands) > 0 {
			WithResultFile(c.Subcommands)
			continue
		}
		c.Flags = append(c.Flags, &cli.StringFlag{Name: ResultFileFlag, Usage: "write the result JSON here (always, also on failure)"})
		c.OnUsageError = usageError
	}
	return cmds
}

// Run runs a with args, writes the result file on every outcome (a panic too: exit 4), and returns the exit code.
func Run(ctx context.Context, a *cli.App, args []string, stdout, stderr io.Writer) int {
	a.Writer, a.ErrWriter = stdout, stderr
	a.Commands = WithResultFile(a.Commands)
	resultPath := scanFlag(args, ResultFileFlag)
	traceID := scanFlag(args, "trace-id")
	if traceID == "" {
		traceID = os.Getenv(TraceEnv)
	}
	if traceID == "" {
		traceID = NewTraceID()
	}
	call := &Call{
		Result:  result.NewRecorder(a.Name, version.Version, verbOf(a, args), traceID),
		Log:     log.New(stderr, a.Name+": ", 0),
		TraceID: traceID,
		Stdout:  stdout,
	}
	err := runRecovering(context.WithValue(ctx, ctxKey{}, call), a, args)
	if err == nil && ctx.Err() != nil && !call.cleanStop {
		err = result.Errorf(result.ClassUnavailable, "interrupted: %v", ctx.Err())
	}
	var panicked *result.Panic
	if err != nil && result.ClassOf(err) == result.ClassInternal && !errors.As(err, &panicked) && isParseError(err) {
		err = result.Wrap(result.ClassInput, err)
	}
	res := call.Result.Finish(err, "")
	if err != nil && res.FailureClass == result.ClassInternal {
		fmt.Fprintf(stderr, "%s: %s\n", a.Name, res.Message)
		var p *result.Panic
		if errors.As(err, &p) {
			fmt.Fprintf(stderr, "%s\n", p.Stack)
		}
	} else if err != nil {
		fmt.Fprintf(stderr, "%s: %s error: %v\n", a.Name, res.FailureClass, err)
	}
	if resultPath != "" {
		if werr := result.WriteFile(resultPath, res); werr != nil {
			fmt.Fprintf(stderr, "%s: writing result file: %v\n", a.Name, werr)
			if res.ExitCode == 0 {
				return result.ExitInput
			}
		}
	}
	return res.ExitCode
}

// runRecovering runs a, turning a panic into an internal-class error (exit 4) so the result file is still written.
func runRecovering(ctx context.Context, a *cli.App, args []string) (err error) {
	defer result.Recover(&err)
	return a.RunContext(ctx, args)
}

// isParseError recognises urfave/cli's own complaints about the command line.
func isParseError(err error) bool {
	s := err.Error()
	for _, p := range []string{"flag provided but not defined", "Required flag", "Required flags", "invalid value", "flag needs an argument", "No help topic", "command not found"} {
		if strings.Contains(s, p) {
			return true
		}
	}
	return false
}

// scanFlag finds --name V or --name=V in args without full parsing.
func scanFlag(args []string, name string) string {
	for i, a := range args {
		for _, p := range []string{"--" + name, "-" + name} {
			if a == p && i+1 < len(args) {
				return args[i+1]
			}
			if strings.HasPrefix(a, p+"=") {
				return strings.TrimPrefix(a, p+"=")
			}
		}
	}
	return ""
}

// verbOf names the verb path (e.g. "blob sign") from the leading non-flag args.
func verbOf(a *cli.App, args []string) string {
	var parts []string
	cmds := a.Commands
	for _, arg := range args[1:] {
		if strings.HasPrefix(arg, "-") {
			continue
		}
		var found *cli.Command
		for _, c := range cmds {
			if c.HasName(arg) {
				found = c
			}
		}
		if found == nil {
			break
		}
		parts = append(parts, found.Name)
		cmds = found.Subcommands
	}
	return strings.Join(parts, " ")
}
