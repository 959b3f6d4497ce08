package report

import (
	"bytes"
	"fmt"
	"html/template"
	"io"
	"sort"
	"strings"
)

var colors = map[string]string{"passed": "#1a7f37", "approved": "#1a7f37", "verified": "#1a7f37", "chosen": "#1a7f37",
	"rejected": "#cf222e", "error": "#cf222e", "unavailable": "#bc4c00", "pending": "#9a6700", "missing": "#6e7781"}

func color(s string) string {
	if c, ok := colors[s]; ok {
		return c
	}
	return "#0969da"
}

// svgBox is one stage of the drawing, laid out.
type svgBox struct {
	X, Y, W, H  int
	Name, Label string
	Status      string
	Color       string
	ArrowX      int
	Last        bool
}

// chainSVG draws the evidence chain: one box per stage, left to right in two rows, linked by arrows.
func chainSVG(stages []Stage) template.HTML {
	const w, h, gap, perRow = 190, 64, 34, 4
	var b bytes.Buffer
	rows := (len(stages) + perRow - 1) / perRow
	width := perRow*w + (perRow-1)*gap + 20
	height := rows*(h+gap) - gap + 12
	fmt.Fprintf(&b, `<svg xmlns="http://www.w3.org/2000/svg" role="img" aria-label="evidence chain" viewBox="0 0 %d %d" width="%d" height="%d">`, width, height, width, height)
	b.WriteString(`<defs><marker id="arr" viewBox="0 0 10 10" refX="9" refY="5" markerWidth="7" markerHeight="7" orient="auto"><path d="M0,0L10,5L0,10z" fill="#57606a"/></marker></defs>`)
	for i, s := range stages {
		row, col := i/perRow, i%perRow
		if row%2 == 1 {
			col = perRow - 1 - col // snake layout keeps arrows short
		}
		x, y := 10+col*(w+gap), 5+row*(h+gap)
		c := color(s.Status)
		fmt.Fprintf(&b, `<g><rect x="%d" y="%d" width="%d" height="%d" rx="8" fill="#fff" stroke="%s" stroke-width="2.5"/>`, x, y, w, h, c)
		fmt.Fprintf(&b, `<rect x="%d" y="%d" width="%d" height="6" rx="3" fill="%s"/>`, x, y, w, c)
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="14" font-weight="600" fill="#24292f">%s</text>`, x+10, y+27, template.HTMLEscapeString(s.Name))
		fmt.Fprintf(&b, `<text x="%d" y="%d" font-size="12" fill="%s">%s</text>`, x+10, y+46, c, template.HTMLEscapeString(clip(strings.TrimSpace(s.Status+" "+s.Detail), 24)))
		b.WriteString(`</g>`)
		if i+1 < len(stages) {
			nrow, ncol := (i+1)/perRow, (i+1)%perRow
			if nrow%2 == 1 {
				ncol = perRow - 1 - ncol
			}
			nx, ny := 10+ncol*(w+gap), 5+nrow*(h+gap)
			switch {
			case nrow != row:
				fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#57606a" stroke-width="2" marker-end="url(#arr)"/>`, x+w/2, y+h, nx+w/2, ny-2)
			case nx > x:
				fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#57606a" stroke-width="2" marker-end="url(#arr)"/>`, x+w, y+h/2, nx-2, ny+h/2)
			default:
				fmt.Fprintf(&b, `<line x1="%d" y1="%d" x2="%d" y2="%d" stroke="#57606a" stroke-width="2" marker-end="url(#arr)"/>`, x, y+h/2, nx+w+2, ny+h/2)
			}
		}
	}
	b.WriteString(`</svg>`)
	return template.HTML(b.String()) //nolint:gosec // built from escaped parts above
}

func clip(s string, n int) string {
	r := []rune(s)
	if len(r) > n {
		return string(r[:n-1]) + "…"
	}
	return s
}

var page = template.Must(template.New("report").Funcs(template.FuncMap{"color": color, "short": short,
	"ts": func(t interface{ Format(string) string }) string { return t.Format("2006-01-02 15:04:05Z07:00") }}).Parse(`<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>{{.Title}} — release evidence</title>
<style>
body{font:14px/1.45 system-ui,-apple-system,"Segoe UI",Roboto,"DejaVu Sans",sans-serif;color:#24292f;margin:0;background:#f6f8fa}
main{max-width:1040px;margin:0 auto;padding:24px}
h1{font-size:24px;margin:0 0 4px}h2{font-size:17px;margin:28px 0 8px;border-bottom:1px solid #d0d7de;padding-bottom:4px}
.meta{color:#57606a}.meta code{color:#24292f}
.badge{display:inline-block;padding:2px 10px;border-radius:12px;color:#fff;font-weight:600;font-size:13px}
table{border-collapse:collapse;width:100%;background:#fff;border:1px solid #d0d7de}
th,td{text-align:left;padding:6px 10px;border-bottom:1px solid #eaeef2;vertical-align:top}th{background:#f6f8fa;font-weight:600}
code{font:12px ui-monospace,SFMono-Regular,Menlo,"DejaVu Sans Mono",monospace;word-break:break-all}
.card{background:#fff;border:1px solid #d0d7de;border-radius:8px;padding:12px;overflow-x:auto}
.st{font-weight:600}.empty{color:#6e7781;font-style:italic}
</style></head><body><main>
<h1>{{.Title}} <span class="badge" style="background:{{color .Outcome}}">{{.Outcome}}{{if .FailureClass}} · {{.FailureClass}}{{end}}</span></h1>
<p class="meta">trace <code>{{.TraceID}}</code>{{if .Digest}} · digest <code>{{.Digest}}</code>{{end}}{{if .Environment}} · environment <b>{{.Environment}}</b>{{end}}<br>
ledger <code>{{.LedgerPath}}</code>: {{.Records}} records, head <code>{{.LedgerHead}}</code> —
{{if .LedgerOK}}<span class="st" style="color:{{color "passed"}}">chain verified</span>{{else}}<span class="st" style="color:{{color "rejected"}}">chain does NOT verify: {{.LedgerErr}}</span>{{end}}<br>
generated {{ts .Generated}}</p>

<h2>Evidence chain</h2>
<div class="card">{{.SVG}}</div>

<h2>Gates and checks</h2>
{{if .Checks}}<table><tr><th>gate</th><th>check</th><th>status</th><th>message</th></tr>
{{range .Checks}}<tr><td>{{.Gate}}</td><td>{{.Name}}</td><td class="st" style="color:{{color .Status}}">{{.Status}}</td><td>{{.Message}}</td></tr>
{{end}}</table>{{else}}<p class="empty">no gate results in the ledger</p>{{end}}

<h2>Signatures and attestations</h2>
{{if .Signatures}}<table><tr><th>kind</th><th>artifact</th><th>digest</th><th>key id</th><th>stored at</th></tr>
{{range .Signatures}}<tr><td>{{.Kind}}</td><td><code>{{short .Artifact}}</code></td><td><code>{{.Digest}}</code></td><td><code>{{.KeyID}}</code></td><td><code>{{.Location}}</code></td></tr>
{{end}}</table>{{else}}<p class="empty">no signatures in the ledger</p>{{end}}

<h2>Approvals</h2>
{{if .Approvals}}<table><tr><th>time</th><th>who</th><th>event</th><th>environment</th><th>reason</th></tr>
{{range .Approvals}}<tr><td>{{ts .Time}}</td><td>{{.User}}</td><td class="st" style="color:{{color .Event}}">{{.Event}}</td><td>{{.Environment}}</td><td>{{.Reason}}</td></tr>
{{end}}</table>{{else}}<p class="empty">no approvals in the ledger</p>{{end}}

<h2>Timeline</h2>
<table><tr><th>#</th><th>time</th><th>kind</th><th>source</th><th>status</th><th>detail</th></tr>
{{range .Timeline}}<tr><td>{{.Seq}}</td><td>{{ts .Time}}</td><td>{{.Kind}}</td><td>{{.Source}}</td><td class="st" style="color:{{color .Status}}">{{.Status}}</td><td><code>{{.Detail}}</code></td></tr>
{{end}}</table>
</main></body></html>
`))

// HTML writes the report as one self-contained HTML page (inline CSS and SVG, no external resource).
func HTML(w io.Writer, m Model) error {
	return page.Execute(w, struct {
		Model
		SVG template.HTML
	}{m, chainSVG(m.Stages)})
}

// Markdown writes a short summary for the Jenkins build description.
func Markdown(w io.Writer, m Model) error {
	var b strings.Builder
	icon := map[string]string{"passed": "✅", "rejected": "❌", "error": "❌", "unavailable": "⚠️", "pending": "⏳", "missing": "▫️"}
	fmt.Fprintf(&b, "### %s: %s %s\n\n", m.Title, icon[m.Outcome], m.Outcome)
	fmt.Fprintf(&b, "- trace `%s`\n", m.TraceID)
	if m.Digest != "" {
		fmt.Fprintf(&b, "- digest `%s` (%s)\n", m.Digest, m.Environment)
	}
	chain := "verified"
	if !m.LedgerOK {
		chain = "DOES NOT VERIFY: " + m.LedgerErr
	}
	fmt.Fprintf(&b, "- audit chain: %d records, head `%s`, %s\n\n", m.Records, clip(m.LedgerHead, 17), chain)
	b.WriteString("| stage | status | detail |\n|---|---|---|\n")
	for _, s := range m.Stages {
		fmt.Fprintf(&b, "| %s | %s %s | %s |\n", s.Name, icon[s.Status], s.Status, mdEscape(s.Detail))
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func mdEscape(s string) string {
	return strings.NewReplacer("|", `\|`, "\n", " ", "<", "&lt;", ">", "&gt;", "&", "&amp;").Replace(s)
}

// Metrics writes Prometheus textfile-collector metrics: one outcome sample and the duration of each stage.
func Metrics(w io.Writer, m Model, service string) error {
	var b strings.Builder
	lbl := func(s string) string { return strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) }
	b.WriteString("# HELP release_gates_release_outcome 1 for the outcome of this release's evidence chain.\n# TYPE release_gates_release_outcome gauge\n")
	fmt.Fprintf(&b, "release_gates_release_outcome{service=\"%s\",environment=\"%s\",outcome=\"%s\",failure_class=\"%s\"} 1\n",
		lbl(service), lbl(m.Environment), lbl(m.Outcome), lbl(m.FailureClass))
	b.WriteString("# HELP release_gates_stage_duration_seconds Time each helper stage took.\n# TYPE release_gates_stage_duration_seconds gauge\n")
	names := make([]string, 0, len(m.Durations))
	for k := range m.Durations {
		names = append(names, k)
	}
	sort.Strings(names)
	for _, k := range names {
		fmt.Fprintf(&b, "release_gates_stage_duration_seconds{service=\"%s\",stage=\"%s\"} %g\n", lbl(service), lbl(k), m.Durations[k])
	}
	b.WriteString("# HELP release_gates_audit_records Records in the release's audit chain.\n# TYPE release_gates_audit_records gauge\n")
	fmt.Fprintf(&b, "release_gates_audit_records{service=\"%s\"} %d\n", lbl(service), m.Records)
	_, err := io.WriteString(w, b.String())
	return err
}
