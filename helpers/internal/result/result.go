package result

import (
	"encoding/json"
	"strings"
	"sync"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/atomicfile"
)

// Status words written to the result file.
const (
	StatusPassed      = "passed"
	StatusRejected    = "rejected"
	StatusError       = "error"
	StatusUnavailable = "unavailable"
	StatusSkipped     = "skipped"
)

// Item is one thing checked or signed.
type Item struct {
	Name         string         `json:"name"`
	Kind         string         `json:"kind,omitempty"`
	Status       string         `json:"status"`
	FailureClass Class          `json:"failure_class,omitempty"`
	Message      string         `json:"message,omitempty"`
	DurationMS   int64          `json:"duration_ms"`
	Details      map[string]any `json:"details,omitempty"`
}

// Result is the JSON document every helper call writes to --result-file.
type Result struct {
	Helper       string         `json:"helper"`
	Version      string         `json:"version"`
	Verb         string         `json:"verb"`
	Status       string         `json:"status"`
	ExitCode     int            `json:"exit_code"`
	FailureClass Class          `json:"failure_class,omitempty"`
	Message      string         `json:"message"`
	TraceID      string         `json:"trace_id"`
	StartedAt    time.Time      `json:"started_at"`
	FinishedAt   time.Time      `json:"finished_at"`
	DurationMS   int64          `json:"duration_ms"`
	Items        []Item         `json:"items"`
	Data         map[string]any `json:"data,omitempty"`
	// The runner contract (`<helper> run`): what the step archives, publishes as JUnit, echoes and returns.
	Archive []string       `json:"archive,omitempty"`
	JUnit   []string       `json:"junit,omitempty"`
	Summary []string       `json:"summary,omitempty"`
	Returns map[string]any `json:"returns,omitempty"`
}

// Recorder collects items and data for one helper call; it is safe for concurrent use.
type Recorder struct {
	mu sync.Mutex
	r  Result
}

// NewRecorder starts a result for helper/verb with the given trace id.
func NewRecorder(helper, version, verb, traceID string) *Recorder {
	return &Recorder{r: Result{Helper: helper, Version: version, Verb: verb, TraceID: traceID, StartedAt: time.Now().UTC(), Items: []Item{}}}
}

// SetVerb names the verb once the command line has been parsed.
func (rec *Recorder) SetVerb(verb string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.r.Verb = verb
}

// Add appends one item.
func (rec *Recorder) Add(it Item) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if it.Status == "" {
		it.Status = it.FailureClass.Status()
	}
	rec.r.Items = append(rec.r.Items, it)
}

// Set records a top-level data value (e.g. the GOPROXY in force).
func (rec *Recorder) Set(key string, value any) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.r.Data == nil {
		rec.r.Data = map[string]any{}
	}
	rec.r.Data[key] = value
}

// Archive lists workspace files the step archives (duplicates and empty paths are dropped).
func (rec *Recorder) Archive(paths ...string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	for _, p := range paths {
		if p == "" || contains(rec.r.Archive, p) {
			continue
		}
		rec.r.Archive = append(rec.r.Archive, p)
	}
}

// JUnit lists JUnit XML reports the step publishes.
func (rec *Recorder) JUnit(paths ...string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.r.JUnit = append(rec.r.JUnit, paths...)
}

// Summary appends console lines the step echoes.
func (rec *Recorder) Summary(lines ...string) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.r.Summary = append(rec.r.Summary, lines...)
}

// Returns sets the map the step returns to the Jenkinsfile.
func (rec *Recorder) Returns(m map[string]any) {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.r.Returns = m
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// Items returns a copy of the items recorded so far.
func (rec *Recorder) Items() []Item {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	return append([]Item(nil), rec.r.Items...)
}

// Finish closes the result with the outcome of err and returns it.
func (rec *Recorder) Finish(err error, message string) Result {
	rec.mu.Lock()
	defer rec.mu.Unlock()
	rec.r.FinishedAt = time.Now().UTC()
	rec.r.DurationMS = rec.r.FinishedAt.Sub(rec.r.StartedAt).Milliseconds()
	class := ClassOf(err)
	rec.r.FailureClass = class
	rec.r.ExitCode = class.ExitCode()
	rec.r.Status = class.Status()
	rec.r.Message = message
	if err != nil && message == "" {
		rec.r.Message = err.Error()
	}
	if class == ClassInternal && !strings.HasPrefix(rec.r.Message, BugPrefix) {
		rec.r.Message = BugPrefix + rec.r.Message
	}
	return rec.r
}

// WriteFile writes r atomically as indented JSON.
func WriteFile(path string, r Result) error {
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(path, append(b, '\n'), 0o644)
}

// NonNil returns s, or an empty slice when s is nil, so a result field is written as [] rather than null.
func NonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}
