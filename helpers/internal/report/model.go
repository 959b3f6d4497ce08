package report

import (
	"fmt"
	"sort"
	"strings"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/ledger"
)

// Check is one gate check or verification step.
type Check struct {
	Gate, Name, Status, Message string
}

// Signature is one signature or attestation written for an artifact.
type Signature struct {
	Kind, Artifact, Digest, KeyID, Location string
}

// Approval is one approval event.
type Approval struct {
	User, Event, Environment, Reason string
	Time                             time.Time
}

// Event is one timeline line.
type Event struct {
	Time                         time.Time
	Seq                          int
	Kind, Source, Status, Detail string
}

// Stage is one box of the evidence-chain drawing.
type Stage struct {
	Name, Status, Detail string
}

// Model is everything the report shows.
type Model struct {
	Title        string
	TraceID      string
	Generated    time.Time
	LedgerPath   string
	LedgerHead   string
	LedgerOK     bool
	LedgerErr    string
	Records      int
	Digest       string
	Environment  string
	Outcome      string // passed, rejected, error
	FailureClass string
	Checks       []Check
	Signatures   []Signature
	Approvals    []Approval
	Timeline     []Event
	Stages       []Stage
	Durations    map[string]float64 // stage (record source) -> seconds
}

// Build assembles the model from a verified chain (rep) or, when the chain failed to verify, from what could be read.
func Build(title, ledgerPath string, rep ledger.Report, verifyErr error, now time.Time) Model {
	m := Model{Title: title, Generated: now.UTC(), LedgerPath: ledgerPath, LedgerHead: rep.Head, LedgerOK: verifyErr == nil,
		Records: rep.Records, Outcome: "passed", Durations: map[string]float64{}}
	if verifyErr != nil {
		m.LedgerErr = verifyErr.Error()
		m.Outcome, m.FailureClass = "rejected", "tamper"
	}
	stage := map[string]Stage{}
	set := func(name, status, detail string) {
		cur, ok := stage[name]
		if !ok || rank(status) > rank(cur.Status) {
			stage[name] = Stage{Name: name, Status: status, Detail: detail}
		}
	}
	var approvers []string
	for _, e := range rep.Entries {
		if m.TraceID == "" {
			m.TraceID = e.TraceID
		}
		ev := Event{Time: e.Time, Seq: e.Seq, Kind: e.Kind, Source: e.Source, Status: e.Status}
		items, _ := e.Data["items"].([]any)
		if d, ok := e.Data["duration_ms"].(float64); ok && e.Source != "" {
			m.Durations[e.Source] += d / 1000
		}
		switch e.Kind {
		case ledger.KindGate:
			for _, it := range items {
				im, _ := it.(map[string]any)
				m.Checks = append(m.Checks, Check{Gate: e.Source, Name: str(im["name"]), Status: str(im["status"]), Message: str(im["message"])})
			}
			set("Gates", e.Status, fmt.Sprintf("%d checks", len(items)))
			ev.Detail = fmt.Sprintf("%d checks", len(items))
		case ledger.KindSign:
			top, _ := e.Data["data"].(map[string]any)
			for _, it := range items {
				im, _ := it.(map[string]any)
				m.Signatures = append(m.Signatures, signaturesOf(im, str(top["key_id"]), e.Source)...)
			}
			set("Signatures", e.Status, fmt.Sprintf("%d artifacts", len(items)))
			ev.Detail = fmt.Sprintf("%d artifacts", len(items))
		case ledger.KindAttestation:
			pt := str(e.Data["predicate_type"])
			m.Signatures = append(m.Signatures, Signature{Kind: "attestation " + short(pt), Artifact: e.Subject, Digest: e.Subject,
				KeyID: str(e.Data["key_id"]), Location: str(e.Data["location"])})
			if strings.Contains(pt, "approval") {
				set("Approval attestation", e.Status, e.Environment)
			} else {
				set("Provenance", e.Status, str(e.Data["builder"]))
			}
			ev.Detail = pt
		case ledger.KindApproval:
			ap := Approval{User: firstNonEmpty(str(e.Data["user"]), str(e.Data["by"])), Event: firstNonEmpty(str(e.Data["event"]), e.Status),
				Environment: e.Environment, Reason: str(e.Data["reason"]), Time: e.Time}
			m.Approvals = append(m.Approvals, ap)
			st := "passed"
			switch ap.Event {
			case "rejected", "denied", "forged", "replayed", "failed", "expired":
				st = "rejected"
			case "request":
				st = "pending"
			}
			if st == "passed" {
				approvers = append(approvers, ap.User)
			}
			if ap.Event != "request" || stage["Approval"].Status == "" {
				set("Approval", st, "")
			}
			ev.Detail = strings.TrimSpace(ap.User + " " + ap.Environment)
		case ledger.KindRelease:
			m.Digest, m.Environment = e.Subject, e.Environment
			set("Verified release", "passed", e.Environment)
			ev.Detail = e.Subject
		case ledger.KindRollback:
			m.Digest, m.Environment = e.Subject, e.Environment
			set("Verified release", "passed", "rollback to "+short(e.Subject))
			ev.Detail = "rollback to " + e.Subject
		default:
			ev.Detail = str(e.Data["message"])
		}
		if e.Status == "rejected" || e.Status == "error" || e.Status == "unavailable" {
			if m.Outcome == "passed" {
				m.Outcome = "rejected"
				m.FailureClass = str(e.Data["failure_class"])
			}
		}
		m.Timeline = append(m.Timeline, ev)
	}
	if s, ok := stage["Signatures"]; ok {
		n := 0
		for _, sig := range m.Signatures {
			if !strings.HasPrefix(sig.Kind, "attestation") {
				n++
			}
		}
		s.Detail = fmt.Sprintf("%d signatures", n)
		stage["Signatures"] = s
	}
	if s, ok := stage["Approval"]; ok && len(approvers) > 0 {
		s.Detail = fmt.Sprintf("%d: %s", len(approvers), strings.Join(approvers, ", "))
		stage["Approval"] = s
	}
	sort.SliceStable(m.Timeline, func(i, j int) bool { return m.Timeline[i].Seq < m.Timeline[j].Seq })
	for _, n := range []string{"Gates", "Signatures", "Provenance", "Approval", "Approval attestation", "Verified release"} {
		s, ok := stage[n]
		if !ok {
			s = Stage{Name: n, Status: "missing"}
		}
		m.Stages = append(m.Stages, s)
	}
	m.Stages = append([]Stage{{Name: "Ledger", Status: map[bool]string{true: "passed", false: "rejected"}[m.LedgerOK], Detail: fmt.Sprintf("%d records", m.Records)}}, m.Stages...)
	return m
}

func rank(s string) int {
	switch s {
	case "rejected", "error", "unavailable":
		return 3
	case "pending":
		return 1
	case "":
		return 0
	}
	return 2
}

func str(v any) string {
	if v == nil {
		return ""
	}
	if s, ok := v.(string); ok {
		return s
	}
	return fmt.Sprint(v)
}

func firstNonEmpty(ss ...string) string {
	for _, s := range ss {
		if s != "" {
			return s
		}
	}
	return ""
}

func short(s string) string {
	if i := strings.LastIndex(s, "@"); i >= 0 {
		s = s[i+1:]
	}
	s = strings.TrimPrefix(s, "https://")
	if len(s) > 19 && strings.HasPrefix(s, "sha256:") {
		return s[:19] + "…"
	}
	return s
}

// signaturesOf turns one signing result item into rows: one per image signature format, else one for the blob.
func signaturesOf(im map[string]any, keyID, source string) []Signature {
	det, _ := im["details"].(map[string]any)
	base := Signature{Artifact: str(im["name"]), Digest: firstNonEmpty(str(im["digest"]), prefixed(str(im["sha256"]))), KeyID: firstNonEmpty(str(im["key_id"]), keyID)}
	var out []Signature
	if c, ok := det["cosign"].(map[string]any); ok {
		s := base
		s.Kind, s.Location = "cosign", str(c["location"])
		out = append(out, s)
	}
	if n, ok := det["notation"].(map[string]any); ok {
		s := base
		s.Kind, s.Location = "notation "+strings.TrimPrefix(str(n["media_type"]), "application/"), "OCI referrer / sha256 tag"
		out = append(out, s)
	}
	if len(out) == 0 {
		s := base
		s.Kind, s.Location = firstNonEmpty(str(im["kind"]), source), firstNonEmpty(str(im["location"]), str(im["signature"]))
		out = append(out, s)
	}
	return out
}

func prefixed(hexSum string) string {
	if hexSum == "" {
		return ""
	}
	return "sha256:" + hexSum
}
