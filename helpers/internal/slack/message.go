package slack

import (
	"encoding/json"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/slack-go/slack"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Action ids of the two buttons; the relay routes on them.
const (
	ActionApprove = "rg_approve"
	ActionReject  = "rg_reject"
	BlockActions  = "rg_decision"
)

// Request describes the release waiting for approval.
type Request struct {
	Service, Environment, Version, Commit, Branch string
	Requester                                     string // Slack user id
	BuildURL, TraceID                             string
	Expires                                       time.Time
}

// Summary condenses another helper's result file into one line per gate and per signed item.
type Summary struct {
	Helper, Verb, Status string
	Lines                []string
	Digests              []string // sha256:... digests of the items
}

// LoadSummary reads a result.Result JSON file written by any helper.
func LoadSummary(path string) (Summary, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return Summary{}, fmt.Errorf("reading summary %s: %w", path, err)
	}
	var r result.Result
	if err := json.Unmarshal(b, &r); err != nil || r.Helper == "" || r.Status == "" {
		return Summary{}, fmt.Errorf("summary %s is not a helper result file (want helper, verb, status, items)", path)
	}
	s := Summary{Helper: r.Helper, Verb: r.Verb, Status: r.Status}
	for _, it := range r.Items {
		line := fmt.Sprintf("%s %s", statusIcon(it.Status), it.Name)
		if d, ok := it.Details["digest"].(string); ok && d != "" {
			line += " `" + d + "`"
			if i := strings.LastIndex(d, "@"); i >= 0 {
				d = d[i+1:] // an image reference by digest
			}
			if strings.HasPrefix(d, "sha256:") {
				s.Digests = append(s.Digests, d)
			}
		}
		s.Lines = append(s.Lines, line)
	}
	return s, nil
}

func statusIcon(status string) string {
	switch status {
	case result.StatusPassed:
		return ":white_check_mark:"
	case result.StatusSkipped:
		return ":white_circle:"
	default:
		return ":x:"
	}
}

// maxSectionText is Slack's limit on a section's text.
const maxSectionText = 3000

// RequestBlocks builds the approval message with Approve and Reject buttons carrying the signed tokens.
func RequestBlocks(req Request, sums []Summary, approveToken, rejectToken string) []slack.Block {
	md := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
	}
	header := slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, truncate(fmt.Sprintf("Release approval: %s → %s", req.Service, req.Environment), 150), false, false))
	fields := []*slack.TextBlockObject{
		md("*Service*\n" + esc(req.Service)),
		md("*Environment*\n" + esc(req.Environment)),
		md("*Version*\n" + esc(req.Version)),
		md("*Commit*\n`" + esc(shortSHA(req.Commit)) + "`"),
		md("*Branch*\n" + esc(req.Branch)),
		md("*Requested by*\n<@" + esc(req.Requester) + ">"),
	}
	blocks := []slack.Block{
		header,
		slack.NewSectionBlock(nil, fields, nil),
		slack.NewSectionBlock(md(fmt.Sprintf("<%s|Open the build in Jenkins>", req.BuildURL)), nil, nil),
	}
	for _, s := range sums {
		text := fmt.Sprintf("%s *%s %s*: %s", statusIcon(s.Status), esc(s.Helper), esc(s.Verb), esc(s.Status))
		if len(s.Lines) > 0 {
			text += "\n" + strings.Join(s.Lines, "\n")
		}
		blocks = append(blocks, slack.NewSectionBlock(md(truncate(text, maxSectionText)), nil, nil))
	}
	approve := slack.NewButtonBlockElement(ActionApprove, approveToken, slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false)).WithStyle(slack.StylePrimary)
	reject := slack.NewButtonBlockElement(ActionReject, rejectToken, slack.NewTextBlockObject(slack.PlainTextType, "Reject", false, false)).WithStyle(slack.StyleDanger)
	blocks = append(blocks,
		slack.NewActionBlock(BlockActions, approve, reject),
		slack.NewContextBlock("", md(fmt.Sprintf("trace `%s` · buttons expire %s", esc(req.TraceID), req.Expires.UTC().Format(time.RFC3339)))),
	)
	return blocks
}

// RequestText is the notification fallback text of the approval message.
func RequestText(req Request) string {
	return fmt.Sprintf("Approval needed: %s %s → %s (trace %s)", req.Service, req.Version, req.Environment, req.TraceID)
}

// DecisionBlocks replaces the approval message once decided: the outcome, who, why; no buttons.
func DecisionBlocks(decision, by, reason, traceID string) ([]slack.Block, string) {
	icon := map[string]string{"approved": ":white_check_mark:", "rejected": ":no_entry:", "expired": ":hourglass:"}[decision]
	text := fmt.Sprintf("%s *%s* by %s", icon, strings.ToUpper(decision[:1])+decision[1:], esc(by))
	if decision == "expired" && by == "" {
		text = fmt.Sprintf("%s *Expired*: nobody decided in time", icon)
	}
	if reason != "" {
		text += "\n>" + esc(reason)
	}
	md := slack.NewTextBlockObject(slack.MarkdownType, truncate(text, maxSectionText), false, false)
	blocks := []slack.Block{slack.NewSectionBlock(md, nil, nil)}
	if traceID != "" {
		blocks = append(blocks, slack.NewContextBlock("", slack.NewTextBlockObject(slack.MarkdownType, "trace `"+esc(traceID)+"`", false, false)))
	}
	return blocks, fmt.Sprintf("Release %s by %s", decision, by)
}

// esc escapes Slack mrkdwn control characters in user-supplied text.
// escaper escapes mrkdwn's control characters; built once (a Replacer builds its tables on first use).
var escaper = strings.NewReplacer("&", "&amp;", "<", "&lt;", ">", "&gt;")

func esc(s string) string { return escaper.Replace(s) }

func shortSHA(s string) string {
	if len(s) > 12 {
		return s[:12]
	}
	return s
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n-1] + "…"
}

// View is the relay's approval message at one moment: the request, the tally, and (once closed) the outcome.
type View struct {
	Request
	RequestID string
	Required  int
	Approvals []string // "name (U...)" of each approval so far, in order
	Summary   []string // one line per artifact or gate
	// State is pending, approved, rejected or expired; buttons show only while pending.
	State  string
	Reason string
}

// ProgressLine is the tally line, e.g. "1 of 2: bob approved".
func (v View) ProgressLine() string {
	if len(v.Approvals) == 0 {
		return fmt.Sprintf("0 of %d approvals", v.Required)
	}
	return fmt.Sprintf("%d of %d: %s approved", len(v.Approvals), v.Required, strings.Join(v.Approvals, ", "))
}

// ViewBlocks renders v; the buttons carry the request id and appear only while the request is pending.
func ViewBlocks(v View) ([]slack.Block, string) {
	md := func(s string) *slack.TextBlockObject {
		return slack.NewTextBlockObject(slack.MarkdownType, s, false, false)
	}
	header := slack.NewHeaderBlock(slack.NewTextBlockObject(slack.PlainTextType, truncate(fmt.Sprintf("Release approval: %s → %s", v.Service, v.Environment), 150), false, false))
	fields := []*slack.TextBlockObject{
		md("*Service*\n" + esc(v.Service)), md("*Environment*\n" + esc(v.Environment)), md("*Version*\n" + esc(v.Version)),
		md("*Commit*\n`" + esc(shortSHA(v.Commit)) + "`"), md("*Branch*\n" + esc(v.Branch)), md("*Requested by*\n" + mentions(v.Requester)),
	}
	blocks := []slack.Block{header, slack.NewSectionBlock(nil, fields, nil), slack.NewSectionBlock(md(fmt.Sprintf("<%s|Open the build in Jenkins>", v.BuildURL)), nil, nil)}
	if len(v.Summary) > 0 {
		blocks = append(blocks, slack.NewSectionBlock(md(truncate(esc(strings.Join(v.Summary, "\n")), maxSectionText)), nil, nil))
	}
	status := ":hourglass_flowing_sand: " + esc(v.ProgressLine())
	text := RequestText(v.Request)
	switch v.State {
	case "approved":
		status, text = ":white_check_mark: *Approved* · "+esc(v.ProgressLine()), "Release approved: "+v.Service+" → "+v.Environment
	case "rejected":
		status, text = ":no_entry: *Rejected* · "+esc(v.Reason), "Release rejected: "+v.Service+" → "+v.Environment
	case "expired":
		status, text = ":hourglass: *Expired* · "+esc(v.ProgressLine()), "Release approval expired: "+v.Service+" → "+v.Environment
	}
	blocks = append(blocks, slack.NewSectionBlock(md(status), nil, nil))
	if v.State == "pending" || v.State == "" {
		approve := slack.NewButtonBlockElement(ActionApprove, v.RequestID, slack.NewTextBlockObject(slack.PlainTextType, "Approve", false, false)).WithStyle(slack.StylePrimary)
		reject := slack.NewButtonBlockElement(ActionReject, v.RequestID, slack.NewTextBlockObject(slack.PlainTextType, "Reject", false, false)).WithStyle(slack.StyleDanger)
		blocks = append(blocks, slack.NewActionBlock(BlockActions, approve, reject))
	}
	blocks = append(blocks, slack.NewContextBlock("", md(fmt.Sprintf("trace `%s` · request `%s` · expires %s", esc(v.TraceID), esc(shortID(v.RequestID)), v.Expires.UTC().Format(time.RFC3339)))))
	return blocks, text
}

func mentions(ids string) string {
	var out []string
	for _, id := range strings.Split(ids, ",") {
		if id = strings.TrimSpace(id); id != "" {
			out = append(out, "<@"+esc(id)+">")
		}
	}
	if len(out) == 0 {
		return "unknown"
	}
	return strings.Join(out, ", ")
}

func shortID(s string) string {
	if len(s) > 8 {
		return s[:8]
	}
	return s
}
