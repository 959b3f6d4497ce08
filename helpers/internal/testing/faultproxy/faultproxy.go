// Package faultproxy (test support, never linked into a helper) is a loopback HTTP proxy that injects 503s, 429s, resets, latency and truncated bodies for fault-injection tests.
package faultproxy

import (
	"io"
	"log"
	"math/rand"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Fault is one kind of injected failure.
type Fault string

// The faults the proxy can inject.
const (
	None        Fault = ""
	Unavailable Fault = "503"        // 503 Service Unavailable
	TooMany     Fault = "429"        // 429 with Retry-After
	Reset       Fault = "reset"      // TCP reset before any response
	Latency     Fault = "latency"    // the real answer, late
	Truncated   Fault = "truncated"  // the real status and headers, then half the body and a closed connection
	Down        Fault = "down"       // every request is reset: the dependency is down
	LostReply   Fault = "lost-reply" // the request reaches the target and is acted on, then the client sees a reset
)

// rule injects faults into the next requests that match.
type rule struct {
	match  func(*http.Request) bool
	faults []Fault
}

// Proxy forwards to a target and injects faults by rate or by script.
type Proxy struct {
	srv    *httptest.Server
	target *url.URL

	mu         sync.Mutex
	rng        *rand.Rand
	rate       float64 // share of requests that fail transiently
	kinds      []Fault // faults drawn from when rate hits
	script     []Fault // faults for the next requests, in order; beats rate
	rules      []*rule // faults for the next matching requests; beat script and rate
	down       bool
	latency    time.Duration
	retryAfter int

	requests atomic.Int64
	injected atomic.Int64
}

// New starts a proxy on 127.0.0.1 in front of target; seed makes the fault sequence repeatable.
func New(target string, seed int64) (*Proxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, err
	}
	p := &Proxy{target: u, rng: rand.New(rand.NewSource(seed)), kinds: []Fault{Unavailable, TooMany, Reset, Truncated}, latency: 50 * time.Millisecond}
	rp := httputil.NewSingleHostReverseProxy(u)
	rp.ErrorLog = log.New(io.Discard, "", 0) // an aborted client is expected here, not news
	p.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.requests.Add(1)
		f := p.next(r)
		if f != None {
			p.injected.Add(1)
		}
		switch f {
		case Unavailable:
			http.Error(w, "injected 503", http.StatusServiceUnavailable)
		case TooMany:
			p.mu.Lock()
			ra := p.retryAfter
			p.mu.Unlock()
			w.Header().Set("Retry-After", strconv.Itoa(ra))
			http.Error(w, "injected 429", http.StatusTooManyRequests)
		case Reset, Down:
			reset(w)
		case Latency:
			p.mu.Lock()
			d := p.latency
			p.mu.Unlock()
			time.Sleep(d)
			rp.ServeHTTP(w, r)
		case LostReply:
			rec := httptest.NewRecorder()
			rp.ServeHTTP(rec, r)
			reset(w)
		case Truncated:
			rp.ServeHTTP(&truncator{ResponseWriter: w}, r)
		default:
			rp.ServeHTTP(w, r)
		}
	}))
	return p, nil
}

// URL is the proxy's base URL.
func (p *Proxy) URL() string { return p.srv.URL }

// Host is the proxy's host:port.
func (p *Proxy) Host() string { return p.srv.Listener.Addr().String() }

// Close stops the proxy.
func (p *Proxy) Close() { p.srv.Close() }

// SetRate makes a share of requests fail with one of kinds (all transient kinds when none given).
func (p *Proxy) SetRate(rate float64, kinds ...Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rate = rate
	if len(kinds) > 0 {
		p.kinds = kinds
	}
}

// Script queues faults for the next requests, in order.
func (p *Proxy) Script(faults ...Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.script = append(p.script, faults...)
}

// SetDown makes every request fail with a reset until called with false.
func (p *Proxy) SetDown(down bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.down = down
}

// SetLatency sets the delay of a Latency fault; SetRetryAfter the Retry-After seconds of a 429.
func (p *Proxy) SetLatency(d time.Duration) { p.mu.Lock(); p.latency = d; p.mu.Unlock() }

// SetRetryAfter sets the Retry-After seconds sent with injected 429s.
func (p *Proxy) SetRetryAfter(s int) { p.mu.Lock(); p.retryAfter = s; p.mu.Unlock() }

// Counts returns the requests seen and the faults injected.
func (p *Proxy) Counts() (requests, injected int64) { return p.requests.Load(), p.injected.Load() }

// When queues faults for the next requests that match, in order (e.g. only manifest PUTs).
func (p *Proxy) When(match func(*http.Request) bool, faults ...Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.rules = append(p.rules, &rule{match: match, faults: faults})
}

func (p *Proxy) next(r *http.Request) Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.down {
		return Down
	}
	for i, ru := range p.rules {
		if ru.match(r) {
			f := ru.faults[0]
			if ru.faults = ru.faults[1:]; len(ru.faults) == 0 {
				p.rules = append(p.rules[:i:i], p.rules[i+1:]...)
			}
			return f
		}
	}
	if len(p.script) > 0 {
		f := p.script[0]
		p.script = p.script[1:]
		return f
	}
	if p.rate > 0 && p.rng.Float64() < p.rate {
		return p.kinds[p.rng.Intn(len(p.kinds))]
	}
	return None
}

// reset closes the client connection with SO_LINGER 0 so the client sees a TCP RST.
func reset(w http.ResponseWriter) {
	hj, ok := w.(http.Hijacker)
	if !ok {
		http.Error(w, "reset", http.StatusBadGateway)
		return
	}
	conn, _, err := hj.Hijack()
	if err != nil {
		return
	}
	if tc, ok := conn.(*net.TCPConn); ok {
		_ = tc.SetLinger(0)
	}
	conn.Close()
}

// truncator passes the status and headers on, then cuts the body in half and drops the connection.
type truncator struct {
	http.ResponseWriter
	status  int
	written int64
	limit   int64
	cut     bool
}

func (t *truncator) WriteHeader(code int) {
	t.status = code
	if n, err := strconv.ParseInt(t.Header().Get("Content-Length"), 10, 64); err == nil && n > 1 {
		t.limit = n / 2
	} else {
		t.limit = 1
	}
	t.ResponseWriter.WriteHeader(code)
}

func (t *truncator) Write(b []byte) (int, error) {
	if t.status == 0 {
		t.WriteHeader(http.StatusOK)
	}
	if t.cut {
		return len(b), nil
	}
	if t.written+int64(len(b)) >= t.limit {
		n := t.limit - t.written
		_, _ = t.ResponseWriter.Write(b[:n])
		if f, ok := t.ResponseWriter.(http.Flusher); ok {
			f.Flush()
		}
		t.cut = true
		reset(t.ResponseWriter)
		return len(b), nil
	}
	n, err := t.ResponseWriter.Write(b)
	t.written += int64(n)
	return n, err
}
