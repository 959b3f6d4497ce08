package gate

import (
	"context"
	"fmt"
	"log"
	"strings"

	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/vocab"
)

// RunOptions configures a full gate run.
type RunOptions struct {
	Go, Git string // commands; default "go" and "git"
	Log     *log.Logger

	// Spell names the options in errors as the caller's user writes them (StepParams.Spelling for the step); nil: helper flags.
	Spell vocab.Spelling
}

// Run validates params, runs the selected checks concurrently and returns their outcomes in params order
// with the overall error: any input/config error gives exit 2, else any unavailable 3, else any rejection 1.
func Run(ctx context.Context, p *Params, opts RunOptions) ([]*Outcome, error) {
	lg := logger(opts.Log)
	if err := p.validate(opts.Spell); err != nil {
		return nil, err
	}
	outcomes := make([]*Outcome, len(p.Checks))
	var wg result.Group // a panicking check is exit 4 with the result file written, not a crash
	for i, check := range p.Checks {
		wg.Go(func() {
			switch check {
			case CheckModVerify:
				outcomes[i] = ModVerify(ctx, ModOptions{Dir: p.Dir, Go: opts.Go, Log: lg, Spell: opts.Spell})
			case CheckAPIDiff:
				ao := p.APIDiffOptions()
				ao.Git, ao.Log, ao.Spell = opts.Git, lg, opts.Spell
				outcomes[i] = APIDiff(ctx, ao)
			case CheckSmoke:
				so, _ := p.SmokeOptions() // validated above
				so.Log, so.Spell = lg, opts.Spell
				outcomes[i] = Smoke(ctx, so)
			}
			o := outcomes[i]
			lg.Printf("%s: %s %s", o.Check, statusOf(o), firstLineOf(o.Err))
		})
	}
	if err := wg.Wait(); err != nil {
		return nil, err
	}
	return outcomes, Summarize(outcomes)
}

// Summarize turns outcomes into the overall classified error, nil when all passed.
func Summarize(outcomes []*Outcome) error {
	var classes []result.Class
	var failed []string
	for _, o := range outcomes {
		if o.Err != nil {
			classes = append(classes, o.Class())
			failed = append(failed, o.Check+": "+o.Err.Error())
		}
	}
	if len(failed) == 0 {
		return nil
	}
	return result.Errorf(worst(classes...), "%d of %d checks failed: %s", len(failed), len(outcomes), strings.Join(failed, " | "))
}

func statusOf(o *Outcome) string {
	return o.Class().Status()
}

func firstLineOf(err error) string {
	if err == nil {
		return ""
	}
	return fmt.Sprintf("(%s)", oneLine(err.Error(), nil))
}
