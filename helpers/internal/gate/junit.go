package gate

import (
	"encoding/json"
	"encoding/xml"
	"fmt"
	"io"
	"sort"
	"strings"

	"github.com/release-gates/release-gates/helpers/internal/atomicfile"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

type junitSuites struct {
	XMLName xml.Name     `xml:"testsuites"`
	Suites  []junitSuite `xml:"testsuite"`
}

type junitSuite struct {
	Name     string      `xml:"name,attr"`
	Tests    int         `xml:"tests,attr"`
	Failures int         `xml:"failures,attr"`
	Errors   int         `xml:"errors,attr"`
	Time     string      `xml:"time,attr"`
	Cases    []junitCase `xml:"testcase"`
}

type junitCase struct {
	Class     string        `xml:"classname,attr"`
	Name      string        `xml:"name,attr"`
	Time      string        `xml:"time,attr"`
	Failure   *junitProblem `xml:"failure,omitempty"`
	Error     *junitProblem `xml:"error,omitempty"`
	SystemOut string        `xml:"system-out,omitempty"`
}

type junitProblem struct {
	Message string `xml:"message,attr"`
	Type    string `xml:"type,attr"`
	Body    string `xml:",chardata"`
}

// WriteJUnit writes one testcase per outcome atomically: a rejection is a <failure>, anything else an <error>.
func WriteJUnit(path, suite string, outcomes []*Outcome) error {
	s := junitSuite{Name: suite}
	var total float64
	for _, o := range outcomes {
		secs := o.Duration.Seconds()
		total += secs
		c := junitCase{Class: suite, Name: o.Check, Time: fmt.Sprintf("%.3f", secs)}
		details := detailsText(o)
		if o.Err != nil {
			p := &junitProblem{Message: oneLine(o.Err.Error(), nil), Type: string(o.Class()), Body: details}
			if o.Class().ExitCode() == result.ExitRejected {
				c.Failure = p
				s.Failures++
			} else {
				c.Error = p
				s.Errors++
			}
		} else {
			c.SystemOut = details
		}
		s.Cases = append(s.Cases, c)
	}
	s.Tests = len(s.Cases)
	s.Time = fmt.Sprintf("%.3f", total)
	return atomicfile.Write(path, 0o644, func(w io.Writer) error {
		if _, err := io.WriteString(w, xml.Header); err != nil {
			return err
		}
		enc := xml.NewEncoder(w)
		enc.Indent("", "  ")
		if err := enc.Encode(junitSuites{Suites: []junitSuite{s}}); err != nil {
			return err
		}
		_, err := io.WriteString(w, "\n")
		return err
	})
}

// detailsText renders an outcome's items and data for humans reading the JUnit report.
func detailsText(o *Outcome) string {
	var b strings.Builder
	if o.Err != nil {
		fmt.Fprintf(&b, "%s\n\n", o.Err)
	}
	for _, it := range o.Items {
		fmt.Fprintf(&b, "[%s] %s", it.Status, it.Name)
		if it.Message != "" {
			fmt.Fprintf(&b, ": %s", it.Message)
		}
		b.WriteString("\n")
		if d, ok := it.Details["diff"]; ok && d != "" {
			fmt.Fprintf(&b, "%v\n", d)
		}
		if r, ok := it.Details["reason"]; ok {
			fmt.Fprintf(&b, "    accepted: %v\n", r)
		}
	}
	keys := make([]string, 0, len(o.Data))
	for k := range o.Data {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		v := o.Data[k]
		if s, ok := v.(string); ok && strings.Contains(s, "\n") {
			fmt.Fprintf(&b, "%s:\n%s\n", k, s)
			continue
		}
		j, _ := json.Marshal(v)
		fmt.Fprintf(&b, "%s: %s\n", k, j)
	}
	return b.String()
}
