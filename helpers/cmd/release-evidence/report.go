package main

import (
	"bytes"
	"io"
	"time"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/atomicfile"
	"github.com/release-gates/release-gates/helpers/internal/ledger"
	"github.com/release-gates/release-gates/helpers/internal/report"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func reportCommand() *cli.Command {
	return &cli.Command{
		Name:  "report",
		Usage: "render the release report from the audit ledger: self-contained HTML, Markdown summary, Prometheus textfile metrics",
		Flags: []cli.Flag{
			&cli.StringFlag{Name: "ledger", Required: true, Usage: "the release's audit ledger"},
			&cli.StringSliceFlag{Name: "pub", Required: true, Usage: "audit public key (PEM; repeatable)"},
			&cli.StringFlag{Name: "title", Value: "release", Usage: "report title, e.g. the service and version"},
			&cli.StringFlag{Name: "service", Value: "service", Usage: "service label of the metrics"},
			&cli.StringFlag{Name: "html", Usage: "write the HTML report here"},
			&cli.StringFlag{Name: "markdown", Usage: "write the Markdown summary here"},
			&cli.StringFlag{Name: "metrics", Usage: "write Prometheus textfile metrics here (*.prom)"},
		},
		Action: func(c *cli.Context) error {
			call := app.From(c)
			if c.String("html") == "" && c.String("markdown") == "" && c.String("metrics") == "" {
				return result.Errorf(result.ClassInput, "report: pass at least one of --html, --markdown, --metrics")
			}
			pubs, err := readPubs(c.StringSlice("pub"), "pub")
			if err != nil {
				return err
			}
			rep, verr := ledger.Verify(c.String("ledger"), ledger.VerifyOptions{Keys: pubs})
			if verr != nil && result.ClassOf(verr) != result.ClassTamper {
				return verr
			}
			m := report.Build(c.String("title"), c.String("ledger"), rep, verr, time.Now())
			outs := []struct {
				path   string
				render func(io.Writer) error
			}{
				{c.String("html"), func(w io.Writer) error { return report.HTML(w, m) }},
				{c.String("markdown"), func(w io.Writer) error { return report.Markdown(w, m) }},
				{c.String("metrics"), func(w io.Writer) error { return report.Metrics(w, m, c.String("service")) }},
			}
			for _, o := range outs {
				if o.path == "" {
					continue
				}
				var b bytes.Buffer
				if err := o.render(&b); err != nil {
					return result.Errorf(result.ClassInternal, "rendering %s: %v", o.path, err)
				}
				if err := atomicfile.WriteFile(o.path, b.Bytes(), 0o644); err != nil {
					return result.Errorf(result.ClassInput, "writing %s: %v", o.path, err)
				}
				call.Log.Printf("wrote %s", o.path)
				call.Result.Add(result.Item{Name: o.path, Kind: "report", Status: result.StatusPassed})
			}
			call.Result.Set("outcome", m.Outcome)
			call.Result.Set("records", m.Records)
			call.Result.Set("head", m.LedgerHead)
			// A report of a tampered chain is still written, so people can see it, but the call fails.
			return verr
		},
	}
}
