package main

import (
	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/attest"
	"github.com/release-gates/release-gates/helpers/internal/ledger"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func auditCommand() *cli.Command {
	return &cli.Command{
		Name:  "audit",
		Usage: "append to and verify the signed, hash-chained audit ledger of a release",
		Subcommands: []*cli.Command{
			{
				Name:  "append",
				Usage: "append records: helper result files, slack-approval audit lines, or one event",
				Flags: append([]cli.Flag{
					&cli.StringFlag{Name: "ledger", Required: true, Usage: "the ledger file (JSON lines), created when missing"},
					&cli.StringSliceFlag{Name: "from-result", Usage: "a helper result file to record (repeatable)"},
					&cli.StringSliceFlag{Name: "from-audit", Usage: "a slack-approval audit file; each line becomes a record (repeatable)"},
					&cli.StringFlag{Name: "kind", Usage: "record one event of this kind (with --status, --message)"},
					&cli.StringFlag{Name: "status", Usage: "the event's status"},
					&cli.StringFlag{Name: "message", Usage: "the event's message"},
					&cli.StringFlag{Name: "environment", Usage: "the event's environment"},
					&cli.StringFlag{Name: "subject", Usage: "the event's artifact digest or image"},
				}, keyFlags("audit", "the audit signing key")...),
				Action: auditAppend,
			},
			{
				Name:  "verify",
				Usage: "check every record's signature and hash link; names the first bad record",
				Flags: []cli.Flag{
					&cli.StringFlag{Name: "ledger", Required: true, Usage: "the ledger file"},
					&cli.StringSliceFlag{Name: "pub", Required: true, Usage: "accepted audit public key (PEM; repeatable for rotation)"},
					&cli.StringFlag{Name: "expect-head", Usage: "the head hash recorded earlier; catches records cut off the end"},
				},
				Action: auditVerify,
			},
		},
	}
}

func auditAppend(c *cli.Context) error {
	call := app.From(c)
	bodies, err := attest.Bodies(c.StringSlice("from-result"), c.StringSlice("from-audit"), call.TraceID)
	if err != nil {
		return err
	}
	if k := c.String("kind"); k != "" {
		bodies = append(bodies, ledger.Body{Kind: k, Source: "release-evidence audit append", Status: c.String("status"),
			Environment: c.String("environment"), Subject: c.String("subject"), Data: map[string]any{"message": c.String("message")}})
	}
	if len(bodies) == 0 {
		return result.Errorf(result.ClassInput, "audit append: nothing to record: pass --from-result, --from-audit or --kind")
	}
	for i := range bodies {
		if bodies[i].TraceID == "" {
			bodies[i].TraceID = call.TraceID
		}
	}
	key, err := loadKey(c, "audit", true)
	if err != nil {
		return err
	}
	defer key.Close()
	entries, err := ledger.Append(c.String("ledger"), key.Signer, bodies...)
	if err != nil {
		return err
	}
	for _, e := range entries {
		call.Log.Printf("recorded #%d %s %s %s", e.Seq, e.Kind, e.Source, e.Status)
		call.Result.Add(result.Item{Name: e.Source, Kind: e.Kind, Status: result.StatusPassed, Details: map[string]any{"seq": e.Seq, "hash": e.Hash, "trace_id": e.TraceID}})
	}
	call.Result.Set("head", entries[len(entries)-1].Hash)
	call.Result.Set("key_id", key.ID)
	return nil
}

func auditVerify(c *cli.Context) error {
	call := app.From(c)
	pubs, err := readPubs(c.StringSlice("pub"), "pub")
	if err != nil {
		return err
	}
	rep, err := ledger.Verify(c.String("ledger"), ledger.VerifyOptions{Keys: pubs, ExpectHead: c.String("expect-head")})
	call.Result.Set("records", rep.Records)
	call.Result.Set("head", rep.Head)
	if err != nil {
		call.Result.Add(result.Item{Name: c.String("ledger"), Kind: "ledger", FailureClass: result.ClassOf(err), Message: err.Error()})
		return err
	}
	call.Log.Printf("ledger %s: %d records verified, head %s", c.String("ledger"), rep.Records, rep.Head)
	call.Result.Add(result.Item{Name: c.String("ledger"), Kind: "ledger", Status: result.StatusPassed, Details: map[string]any{"records": rep.Records, "head": rep.Head}})
	return nil
}
