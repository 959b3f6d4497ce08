package relay

import (
	"fmt"
	"io"
	"math"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Outcomes of one interaction request, used as the metrics label.
const (
	OutcomeAccepted   = "accepted"  // queued for Jenkins
	OutcomeForged     = "forged"    // bad or missing signature
	OutcomeStale      = "stale"     // timestamp more than 5 minutes off
	OutcomeTooLarge   = "too_large" // body over the cap
	OutcomeBadPayload = "bad_payload"
	OutcomeIgnored    = "ignored"  // not one of our buttons
	OutcomeTampered   = "tampered" // button token fails its MAC or is malformed
	OutcomeExpired    = "expired"
	OutcomeReplayed   = "replayed"
	OutcomeDenied     = "denied" // RBAC said no
	OutcomeOverloaded = "overloaded"
)

var outcomes = []string{OutcomeAccepted, OutcomeForged, OutcomeStale, OutcomeTooLarge, OutcomeBadPayload, OutcomeIgnored, OutcomeTampered, OutcomeExpired, OutcomeReplayed, OutcomeDenied, OutcomeOverloaded}

// Jenkins call results, used as the metrics label.
const (
	JenkinsOK          = "ok"
	JenkinsGone        = "gone"
	JenkinsFailed      = "failed"
	JenkinsUnavailable = "unavailable"
)

var jenkinsResults = []string{JenkinsOK, JenkinsGone, JenkinsFailed, JenkinsUnavailable}

// Metrics holds the relay's counters and histograms; it is safe for concurrent use.
type Metrics struct {
	requests map[string]*atomic.Uint64
	jenkins  map[string]*atomic.Uint64
	ack      *histogram
	call     *histogram
}

func newMetrics() *Metrics {
	m := &Metrics{requests: map[string]*atomic.Uint64{}, jenkins: map[string]*atomic.Uint64{}, ack: newHistogram(), call: newHistogram()}
	for _, o := range outcomes {
		m.requests[o] = new(atomic.Uint64)
	}
	for _, o := range jenkinsResults {
		m.jenkins[o] = new(atomic.Uint64)
	}
	return m
}

// Requests returns the count of interaction requests with outcome.
func (m *Metrics) Requests(outcome string) uint64 { return m.requests[outcome].Load() }

// JenkinsCalls returns the count of Jenkins calls with result.
func (m *Metrics) JenkinsCalls(res string) uint64 { return m.jenkins[res].Load() }

func (m *Metrics) count(outcome string, ack time.Duration) {
	m.requests[outcome].Add(1)
	m.ack.observe(ack)
}

// WriteTo writes the Prometheus text exposition format.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	fmt.Fprintln(cw, "# HELP rg_relay_requests_total Slack interaction requests by outcome.")
	fmt.Fprintln(cw, "# TYPE rg_relay_requests_total counter")
	for _, o := range outcomes {
		fmt.Fprintf(cw, "rg_relay_requests_total{outcome=%q} %d\n", o, m.requests[o].Load())
	}
	fmt.Fprintln(cw, "# HELP rg_relay_jenkins_calls_total Jenkins input answers by result.")
	fmt.Fprintln(cw, "# TYPE rg_relay_jenkins_calls_total counter")
	for _, o := range jenkinsResults {
		fmt.Fprintf(cw, "rg_relay_jenkins_calls_total{result=%q} %d\n", o, m.jenkins[o].Load())
	}
	m.ack.write(cw, "rg_relay_ack_seconds", "Time from receiving a request to acknowledging it.")
	m.call.write(cw, "rg_relay_jenkins_seconds", "Time from receiving a click to Jenkins accepting the answer.")
	return cw.n, cw.err
}

type countWriter struct {
	w   io.Writer
	n   int64
	err error
}

func (c *countWriter) Write(b []byte) (int, error) {
	if c.err != nil {
		return 0, c.err
	}
	n, err := c.w.Write(b)
	c.n += int64(n)
	c.err = err
	return n, err
}

var buckets = []float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.02, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// histogram is a fixed-bucket Prometheus histogram.
type histogram struct {
	mu     sync.Mutex
	counts []uint64
	sum    float64
	total  uint64
}

func newHistogram() *histogram { return &histogram{counts: make([]uint64, len(buckets))} }

func (h *histogram) observe(d time.Duration) {
	s := d.Seconds()
	i := sort.SearchFloat64s(buckets, s)
	h.mu.Lock()
	if i < len(buckets) {
		h.counts[i]++
	}
	h.sum += s
	h.total++
	h.mu.Unlock()
}

func (h *histogram) write(w io.Writer, name, help string) {
	h.mu.Lock()
	defer h.mu.Unlock()
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	var cum uint64
	for i, b := range buckets {
		cum += h.counts[i]
		fmt.Fprintf(w, "%s_bucket{le=\"%s\"} %d\n", name, fmtFloat(b), cum)
	}
	fmt.Fprintf(w, "%s_bucket{le=\"+Inf\"} %d\n%s_sum %s\n%s_count %d\n", name, h.total, name, fmtFloat(h.sum), name, h.total)
}

func fmtFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return fmt.Sprintf("%.0f", f)
	}
	return fmt.Sprintf("%g", f)
}
