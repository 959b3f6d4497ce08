package gate

import (
	"io"
	"log"
	"strings"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Check names, as used in params and results.
const (
	CheckModVerify = "modverify"
	CheckAPIDiff   = "apidiff"
	CheckSmoke     = "smoke"
)

// Outcome is what one check found: its sub-items, its data and its classified error (nil when it passed).
type Outcome struct {
	Check    string
	Err      error
	Items    []result.Item
	Data     map[string]any
	Duration time.Duration
}

// Class returns the failure class of the outcome ("" when it passed).
func (o *Outcome) Class() result.Class { return result.ClassOf(o.Err) }

// Item summarises the outcome as one result item, with sub-items and data in its details.
func (o *Outcome) Item() result.Item {
	it := result.Item{Name: o.Check, Kind: "check", FailureClass: o.Class(), DurationMS: o.Duration.Milliseconds(), Details: map[string]any{}}
	if o.Err != nil {
		it.Message = o.Err.Error()
	}
	for k, v := range o.Data {
		it.Details[k] = v
	}
	it.Details["items"] = o.Items
	return it
}

func (o *Outcome) add(it result.Item) {
	if it.Status == "" {
		it.Status = it.FailureClass.Status()
	}
	o.Items = append(o.Items, it)
}

func (o *Outcome) set(k string, v any) {
	if o.Data == nil {
		o.Data = map[string]any{}
	}
	o.Data[k] = v
}

// worst returns the class that decides the overall exit: a helper bug beats input/config, which beats unavailable, which beats rejected.
func worst(classes ...result.Class) result.Class {
	rank := func(c result.Class) int {
		switch c.ExitCode() {
		case result.ExitInternal:
			return 4
		case result.ExitInput:
			return 3
		case result.ExitUnavailable:
			return 2
		case result.ExitRejected:
			return 1
		}
		return 0
	}
	var w result.Class
	for _, c := range classes {
		if rank(c) > rank(w) {
			w = c
		}
	}
	return w
}

func logger(l *log.Logger) *log.Logger {
	if l == nil {
		return log.New(io.Discard, "", 0)
	}
	return l
}

// tailLines returns the last n lines of s.
func tailLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	lines := strings.Split(s, "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return strings.Join(lines, "\n")
}
