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

// Outcomes of one Slack interaction, used as the metrics label.
const (
	OutcomeCounted     = "counted"   // stored and counted
	OutcomeDuplicate   = "duplicate" // the approver already answered this request
	OutcomeReplayed    = "replayed"  // the same Slack event again
	OutcomeClosed      = "closed"    // the request is decided or expired
	OutcomeDenied      = "denied"    // not an approver, or the requester (four eyes)
	OutcomeUnknown     = "unknown_request"
	OutcomeForged      = "forged" // bad or missing signature
	OutcomeStale       = "stale"  // timestamp more than 5 minutes off
	OutcomeTooLarge    = "too_large"
	OutcomeBadPayload  = "bad_payload"
	OutcomeIgnored     = "ignored"     // not one of our buttons
	OutcomeUnavailable = "unavailable" // the database did not answer: not acknowledged
)

var outcomes = []string{OutcomeCounted, OutcomeDuplicate, OutcomeReplayed, OutcomeClosed, OutcomeDenied, OutcomeUnknown, OutcomeForged,
	OutcomeStale, OutcomeTooLarge, OutcomeBadPayload, OutcomeIgnored, OutcomeUnavailable}

var requestResults = []string{"created", "unauthorized", "input", "config", "rejected", "unavailable"}

var decisions = []string{"approved", "rejected", "expired"}

// Metrics holds the relay's counters and histograms; it is safe for concurrent use.
type Metrics struct {
	clicks      map[string]*atomic.Uint64
	requests    map[string]*atomic.Uint64
	decisions   map[string]*atomic.Uint64
	deliveries  map[string]*atomic.Uint64
	undelivered atomic.Int64
	ack         *histogram
	delivered   *histogram
	mu          sync.Mutex
	decidedAt   map[string]time.Time
}

func counters(labels []string) map[string]*atomic.Uint64 {
	m := map[string]*atomic.Uint64{}
	for _, l := range labels {
		m[l] = new(atomic.Uint64)
	}
	return m
}

func newMetrics() *Metrics {
	return &Metrics{clicks: counters(outcomes), requests: counters(requestResults), decisions: counters(decisions),
		deliveries: counters(deliveryResults), ack: newHistogram(), delivered: newHistogram(), decidedAt: map[string]time.Time{}}
}

// Clicks returns the count of interactions with outcome.
func (m *Metrics) Clicks(outcome string) uint64 { return m.clicks[outcome].Load() }

// Deliveries returns the count of outbox deliveries with result.
func (m *Metrics) Deliveries(res string) uint64 { return m.deliveries[res].Load() }

func (m *Metrics) count(outcome string, ack time.Duration) {
	m.clicks[outcome].Add(1)
	m.ack.observe(ack)
}

func (m *Metrics) requestResult(class string) {
	if c, ok := m.requests[class]; ok {
		c.Add(1)
	}
}

func (m *Metrics) decided(state string) {
	if c, ok := m.decisions[state]; ok {
		c.Add(1)
	}
}

func (m *Metrics) delivery(res string) { m.deliveries[res].Add(1) }

// markDecided remembers when this replica decided a request, for the decided-to-delivered histogram.
func (m *Metrics) markDecided(id string, at time.Time) {
	m.mu.Lock()
	m.decidedAt[id] = at
	m.mu.Unlock()
}

func (m *Metrics) deliveredAfter(id string) {
	m.mu.Lock()
	at, ok := m.decidedAt[id]
	delete(m.decidedAt, id)
	m.mu.Unlock()
	if ok {
		m.delivered.observe(time.Since(at))
	}
}

// WriteTo writes the Prometheus text exposition format.
func (m *Metrics) WriteTo(w io.Writer) (int64, error) {
	cw := &countWriter{w: w}
	family := func(name, help, label string, labels []string, c map[string]*atomic.Uint64) {
		fmt.Fprintf(cw, "# HELP %s %s\n# TYPE %s counter\n", name, help, name)
		for _, l := range labels {
			fmt.Fprintf(cw, "%s{%s=%q} %d\n", name, label, l, c[l].Load())
		}
	}
	family("rg_relay_clicks_total", "Slack interactions by outcome.", "outcome", outcomes, m.clicks)
	family("rg_relay_requests_total", "Approval requests by result.", "result", requestResults, m.requests)
	family("rg_relay_decisions_total", "Requests decided by this replica, by decision.", "decision", decisions, m.decisions)
	family("rg_relay_deliveries_total", "Outbox delivery attempts to Jenkins by result.", "result", deliveryResults, m.deliveries)
	fmt.Fprintf(cw, "# HELP rg_relay_outbox_undelivered Decisions not yet delivered to Jenkins.\n# TYPE rg_relay_outbox_undelivered gauge\nrg_relay_outbox_undelivered %d\n", m.undelivered.Load())
	m.ack.write(cw, "rg_relay_ack_seconds", "Time from receiving a Slack interaction to acknowledging it (after the commit).")
	m.delivered.write(cw, "rg_relay_decision_delivered_seconds", "Time from the deciding click to Jenkins accepting the answer.")
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
