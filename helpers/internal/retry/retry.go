// Package retry classifies infrastructure errors and retries the transient ones with backoff, jitter and Retry-After.
package retry

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/cenkalti/backoff/v4"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// HTTPError is a non-2xx answer from a dependency; its class follows the status code.
type HTTPError struct {
	Dependency string
	Status     int
	RetryAfter time.Duration // from the Retry-After header, zero when absent
	Detail     string
}

func (e *HTTPError) Error() string {
	msg := fmt.Sprintf("%s answered %d %s", e.Dependency, e.Status, http.StatusText(e.Status))
	if e.Detail != "" {
		msg += ": " + e.Detail
	}
	return msg
}

// FromResponse builds an HTTPError from resp, reading Retry-After (seconds or HTTP date).
func FromResponse(dependency string, resp *http.Response, detail string) *HTTPError {
	return &HTTPError{Dependency: dependency, Status: resp.StatusCode, RetryAfter: ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now()), Detail: detail}
}

// ParseRetryAfter reads a Retry-After value given in seconds or as an HTTP date; zero when absent or invalid.
func ParseRetryAfter(v string, now time.Time) time.Duration {
	if v == "" {
		return 0
	}
	if s, err := strconv.Atoi(v); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(v); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// ClassForStatus maps an HTTP status code to a failure class: 408, 429 and 5xx are transient, 401 and 403 auth,
// any other 4xx bad input (the request as given was refused).
func ClassForStatus(code int) result.Class {
	switch {
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		return result.ClassTransient
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		return result.ClassAuth
	default:
		return result.ClassInput
	}
}

// Hooks teach the one failure table a client's own error types; the table itself lives only in Classify.
type Hooks struct {
	Own    func(error) result.Class // the client's own sentinels (e.g. the registry's not-found): "" when not one
	Status func(error) int          // the HTTP status carried by the client's error types: 0 when none
}

// Classify returns the failure class of an infrastructure error along the one table (see Hooks.Classify).
func Classify(err error) result.Class { return Hooks{}.Classify(err) }

// Classify returns the failure class of err. In order: a classified error keeps its class; an interrupted call is
// unavailable; the hooks' own sentinels; an HTTP status (HTTPError, a StatusCode() method or the Status hook) by
// ClassForStatus; a TLS certificate or plain-HTTP mismatch is config; timeouts, resets, refused connections, EOFs
// and every connection-level error (*net.OpError, *net.DNSError) are transient. A bare net.Error is transient only
// when it reports Timeout(): what it wraps decides otherwise. Anything else is internal.
func (h Hooks) Classify(err error) result.Class {
	if err == nil {
		return ""
	}
	var re *result.Error
	if errors.As(err, &re) {
		return re.Class
	}
	if errors.Is(err, context.Canceled) {
		return result.ClassUnavailable
	}
	if h.Own != nil {
		if c := h.Own(err); c != "" {
			return c
		}
	}
	if code := h.status(err); code != 0 {
		return ClassForStatus(code)
	}
	var certErr *tls.CertificateVerificationError
	var uaErr x509.UnknownAuthorityError
	var hostErr x509.HostnameError
	var invalidErr x509.CertificateInvalidError
	if errors.As(err, &certErr) || errors.As(err, &uaErr) || errors.As(err, &hostErr) || errors.As(err, &invalidErr) ||
		strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
		return result.ClassConfig
	}
	var tmp interface{ Temporary() bool }
	if errors.As(err, &tmp) && tmp.Temporary() {
		return result.ClassTransient
	}
	var ne net.Error
	var oe *net.OpError
	var de *net.DNSError
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return result.ClassTransient
	case errors.As(err, &ne) && ne.Timeout():
		return result.ClassTransient
	case errors.As(err, &oe), errors.As(err, &de):
		return result.ClassTransient
	}
	msg := err.Error() // errors that reached us flattened to text (e.g. through another library's error string)
	if strings.Contains(msg, "connection refused") || strings.Contains(msg, "connection reset") {
		return result.ClassTransient
	}
	return result.ClassInternal
}

func (h Hooks) status(err error) int {
	var he *HTTPError
	if errors.As(err, &he) && he.Status != 0 { // a bare Retry-After hint carries no status
		return he.Status
	}
	if h.Status != nil {
		if code := h.Status(err); code != 0 {
			return code
		}
	}
	var sc interface{ StatusCode() int }
	if errors.As(err, &sc) {
		return sc.StatusCode()
	}
	return 0
}

// Policy bounds a retry loop.
type Policy struct {
	Tries        int           // total attempts, at least 1
	Initial      time.Duration // first backoff
	Max          time.Duration // cap on one backoff and on an honoured Retry-After
	OnRetry      func(attempt int, wait time.Duration, err error)
	ClassifyFunc func(error) result.Class // defaults to Classify
	// Sleep replaces the real pause between tries, so a test can check the wait asked for (a Retry-After honoured)
	// without spending it; nil waits on a timer.
	Sleep func(time.Duration)
}

// Default is the policy the helpers use for registries, HSMs, Slack and Jenkins.
var Default = Policy{Tries: 4, Initial: 200 * time.Millisecond, Max: 10 * time.Second}

// RequestDefault is the per-request policy of Transport: short waits, since an operation-level retry sits above it.
var RequestDefault = Policy{Tries: 4, Initial: 20 * time.Millisecond, Max: 2 * time.Second}

// Do runs op until it succeeds, fails with a non-transient class, or the tries run out.
// The returned error is classified: exhausted transient failures become ClassUnavailable.
func Do(ctx context.Context, p Policy, dependency string, op func(context.Context) error) error {
	if p.Tries < 1 {
		p.Tries = 1
	}
	classify := p.ClassifyFunc
	if classify == nil {
		classify = Classify
	}
	exp := backoff.NewExponentialBackOff(backoff.WithInitialInterval(p.Initial), backoff.WithMaxInterval(p.Max), backoff.WithMaxElapsedTime(0))
	ra := &retryAfter{inner: exp, max: p.Max}
	b := backoff.WithContext(backoff.WithMaxRetries(ra, uint64(p.Tries-1)), ctx)
	attempt := 0
	var last error
	var timer backoff.Timer // nil: backoff's real timer
	if p.Sleep != nil {
		timer = &sleepTimer{sleep: p.Sleep}
	}
	err := backoff.RetryNotifyWithTimer(func() error {
		attempt++
		err := op(ctx)
		if err == nil {
			return nil
		}
		last = err
		if classify(err) != result.ClassTransient {
			return backoff.Permanent(err)
		}
		var he *HTTPError
		if errors.As(err, &he) {
			ra.next = he.RetryAfter
		}
		return err
	}, b, func(err error, wait time.Duration) {
		if p.OnRetry != nil {
			p.OnRetry(attempt, wait, err)
		}
	}, timer)
	if err == nil {
		return nil
	}
	if last == nil {
		last = err
	}
	if class := classify(last); class != result.ClassTransient {
		return result.Wrap(class, last)
	}
	if ctx.Err() != nil {
		return result.Errorf(result.ClassUnavailable, "%s unavailable: %v (interrupted after %d tries)", dependency, last, attempt)
	}
	return result.Errorf(result.ClassUnavailable, "%s unavailable after %d tries: %w", dependency, attempt, last)
}

// retryAfter lets a server's Retry-After stretch the next backoff, capped at max.
type retryAfter struct {
	inner backoff.BackOff
	next  time.Duration
	max   time.Duration
}

func (r *retryAfter) NextBackOff() time.Duration {
	d := r.inner.NextBackOff()
	if r.next > d {
		d = r.next
		if r.max > 0 && d > r.max {
			d = r.max
		}
	}
	r.next = 0
	return d
}

func (r *retryAfter) Reset() { r.inner.Reset(); r.next = 0 }

// sleepTimer is a backoff.Timer that hands each pause to Policy.Sleep and then fires at once.
type sleepTimer struct {
	sleep func(time.Duration)
	c     chan time.Time
}

func (t *sleepTimer) Start(d time.Duration) {
	t.sleep(d)
	t.c = make(chan time.Time, 1)
	t.c <- time.Now()
}

func (t *sleepTimer) Stop() {}

func (t *sleepTimer) C() <-chan time.Time { return t.c }
