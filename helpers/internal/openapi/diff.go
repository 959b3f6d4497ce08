package openapi

import (
	"fmt"
	"sort"
	"strings"

	"github.com/getkin/kin-openapi/openapi3"
	"github.com/oasdiff/oasdiff/checker"
	"github.com/oasdiff/oasdiff/diff"
	"github.com/oasdiff/oasdiff/load"
)

// Change is one difference found by oasdiff's checks, as recorded in the result file.
type Change struct {
	ID        string `json:"id"`
	Level     string `json:"level"`
	Operation string `json:"operation,omitempty"`
	Path      string `json:"path,omitempty"`
	Text      string `json:"text"`
	Accepted  bool   `json:"accepted,omitempty"`
	Reason    string `json:"reason,omitempty"`
	Failing   bool   `json:"failing"`
}

// Report is the outcome of one comparison.
type Report struct {
	FailOn  string   `json:"fail_on"`
	Changes []Change `json:"changes"`
	Failing int      `json:"failing"`
	Allowed int      `json:"accepted"`
}

// ParseLevel accepts ERR, WARN or INFO (any case).
func ParseLevel(s string) (checker.Level, error) {
	l, err := checker.NewLevel(strings.ToUpper(strings.TrimSpace(s)))
	if err != nil || (l != checker.ERR && l != checker.WARN && l != checker.INFO) {
		return checker.INVALID, fmt.Errorf("fail-on %q: want ERR, WARN or INFO", s)
	}
	return l, nil
}

// Breaking compares base with head using oasdiff's default checks (like `oasdiff breaking`);
// changes at or above failOn fail unless the allow-list accepts them.
func Breaking(base, head *openapi3.T, failOn checker.Level, allow AllowList) (*Report, error) {
	s1 := &load.SpecInfo{Url: "base", Spec: base}
	s2 := &load.SpecInfo{Url: "head", Spec: head}
	d, sources, err := diff.GetWithOperationsSourcesMap(diff.NewConfig(), s1, s2)
	if err != nil {
		return nil, fmt.Errorf("diffing specs: %w", err)
	}
	until := checker.WARN // what `oasdiff breaking` reports
	if failOn < until {
		until = failOn
	}
	changes := checker.CheckBackwardCompatibilityUntilLevel(checker.NewConfig(checker.GetAllChecks()), d, sources, until)
	loc := checker.NewDefaultLocalizer()
	rep := &Report{FailOn: failOn.String(), Changes: make([]Change, 0, len(changes))}
	for _, c := range changes {
		ch := Change{
			ID:        c.GetId(),
			Level:     c.GetLevel().String(),
			Operation: c.GetOperation(),
			Path:      c.GetPath(),
			Text:      c.GetUncolorizedText(loc),
		}
		if a := allow.Match(ch.ID, ch.Path, ch.Operation); a != nil {
			ch.Accepted, ch.Reason = true, a.Reason
			rep.Allowed++
		} else if c.GetLevel() >= failOn {
			ch.Failing = true
			rep.Failing++
		}
		rep.Changes = append(rep.Changes, ch)
	}
	sort.SliceStable(rep.Changes, func(i, j int) bool {
		a, b := rep.Changes[i], rep.Changes[j]
		if a.Failing != b.Failing {
			return a.Failing
		}
		if a.Path != b.Path {
			return a.Path < b.Path
		}
		if a.Operation != b.Operation {
			return a.Operation < b.Operation
		}
		return a.ID < b.ID
	})
	return rep, nil
}
