// Package retry classifies infrastructure errors and retries the transient ones with backoff, jitter and Retry-After.
package retry

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
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

// ClassForStatus maps an HTTP status code to a failure class.
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

// Classify returns the failure class of an infrastructure error: transient for timeouts, resets, refused connections, 5xx and 429.
func Classify(err error) result.Class {
	if err == nil {
		return ""
	}
	var re *result.Error
	if errors.As(err, &re) {
		return re.Class
	}
	var he *HTTPError
	if errors.As(err, &he) {
		return ClassForStatus(he.Status)
	}
	var sc interface{ StatusCode() int }
	if errors.As(err, &sc) {
		return ClassForStatus(sc.StatusCode())
	}
	var tmp interface{ Temporary() bool }
	if errors.As(err, &tmp) && tmp.Temporary() {
		return result.ClassTransient
	}
	var ne net.Error
	switch {
	case errors.Is(err, context.DeadlineExceeded),
		errors.Is(err, syscall.ECONNREFUSED), errors.Is(err, syscall.ECONNRESET),
		errors.Is(err, syscall.EPIPE), errors.Is(err, io.ErrUnexpectedEOF), errors.Is(err, io.EOF):
		return result.ClassTransient
	case errors.As(err, &ne) && ne.Timeout():
		return result.ClassTransient
	}
	var oe *net.OpError
	if errors.As(err, &oe) {
		return result.ClassTransient
	}
	return result.ClassInternal
}

// Policy bounds a retry loop.
type Policy struct {
	Tries        int           // total attempts, at least 1
	Initial      time.Duration // first backoff
	Max          time.Duration // cap on one backoff and on an honoured Retry-After
	OnRetry      func(attempt int, wait time.Duration, err error)
	ClassifyFunc func(error) result.Class // defaults to Classify
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
	err := backoff.RetryNotify(func() error {
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
	})
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
