package registry

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/google/go-containerregistry/pkg/v1/remote/transport"
	"oras.land/oras-go/v2/errdef"
	"oras.land/oras-go/v2/registry/remote/errcode"

	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/retry"
)

// Classify gives a registry error its failure class; what names the action for the message ("" keeps the message).
// A classified error keeps its class.
func Classify(err error, what string) error {
	if err == nil {
		return nil
	}
	if result.ClassOf(err) != result.ClassInternal {
		return err
	}
	msg := redact(err.Error())
	if what != "" {
		msg = what + ": " + msg
	}
	return result.Errorf(classOf(err), "%s", msg+hint(err))
}

// hooks are what the one failure table (retry.Hooks.Classify) needs to know of registry errors: the client's
// not-found and plain-HTTP refusal, and the HTTP status inside go-containerregistry's and oras' error types.
var hooks = retry.Hooks{Own: own, Status: statusCode}

func classOf(err error) result.Class { return hooks.Classify(err) }

func own(err error) result.Class {
	switch {
	case errors.Is(err, errPlainHTTP) || strings.Contains(err.Error(), errPlainHTTP.Error()):
		return result.ClassConfig
	case isNotFound(err):
		return result.ClassInput
	}
	return ""
}

// isNotFound reports a missing repository or manifest (ggcr, oras and HEAD-without-body forms).
func isNotFound(err error) bool {
	var terr *transport.Error
	if errors.As(err, &terr) {
		if terr.StatusCode == http.StatusNotFound {
			return true
		}
		for _, d := range terr.Errors {
			if d.Code == transport.ManifestUnknownErrorCode || d.Code == transport.NameUnknownErrorCode {
				return true
			}
		}
	}
	return errors.Is(err, errdef.ErrNotFound)
}

func statusCode(err error) int {
	var terr *transport.Error
	if errors.As(err, &terr) {
		return terr.StatusCode
	}
	var oerr *errcode.ErrorResponse
	if errors.As(err, &oerr) {
		return oerr.StatusCode
	}
	return 0
}

func hint(err error) string {
	switch classOf(err) {
	case result.ClassAuth:
		return " (check REGISTRY_USERNAME/REGISTRY_PASSWORD or the docker config given by --registry-config)"
	case result.ClassInput:
		if isNotFound(err) {
			return " (image not found: check the repository and tag or digest)"
		}
	case result.ClassConfig:
		if strings.Contains(err.Error(), "server gave HTTP response to HTTPS client") {
			return " (the registry speaks plain HTTP: pass --plain-http)"
		}
	}
	return ""
}

// redact drops URL query strings (tokens can ride there) from an error text.
func redact(s string) string {
	fields := strings.Fields(s)
	for i, f := range fields {
		trimmed := strings.Trim(f, `"'`)
		if u, err := url.Parse(trimmed); err == nil && u.Scheme != "" && u.RawQuery != "" {
			u.RawQuery = "REDACTED"
			fields[i] = strings.Replace(f, trimmed, u.String(), 1)
		}
	}
	return strings.Join(fields, " ")
}

// Retry runs fn through retry.Do: transient failures are retried up to Attempts times with exponential backoff and
// jitter, a registry's Retry-After stretches the next pause, and anything else stops at once. The returned error is
// classified; an exhausted transient failure becomes ClassUnavailable (exit 3).
func (c *Client) Retry(ctx context.Context, what string, fn func() error) error {
	tries := 0
	var last error
	p := retry.Policy{
		Tries:        c.opts.Attempts,
		Initial:      c.opts.Backoff,
		Max:          c.opts.MaxBackoff,
		ClassifyFunc: func(err error) result.Class { return result.ClassOf(Classify(err, "")) },
		Sleep:        c.opts.Sleep,
	}
	err := retry.Do(ctx, p, "registry", func(context.Context) error {
		tries++
		last = fn()
		if last == nil {
			return nil
		}
		if ra := c.retryAfter.take(last); ra > 0 {
			return &retryAfterError{err: last, hint: &retry.HTTPError{RetryAfter: ra}}
		}
		return last
	})
	if err == nil {
		return nil
	}
	if last == nil { // interrupted before the first try
		return result.Errorf(result.ClassUnavailable, "%s: interrupted: %v", what, err)
	}
	cerr := Classify(last, "")
	if result.ClassOf(cerr) != result.ClassTransient {
		return Classify(last, what)
	}
	if ctx.Err() != nil {
		return result.Errorf(result.ClassUnavailable, "%s: interrupted after %d tries: %v", what, tries, cerr)
	}
	return result.Errorf(result.ClassUnavailable, "%s: registry unavailable after %d tries: %v", what, tries, cerr)
}

// retryAfterError hands a registry's Retry-After to retry.Do while keeping the original error for classification.
type retryAfterError struct {
	err  error
	hint *retry.HTTPError
}

func (e *retryAfterError) Error() string   { return e.err.Error() }
func (e *retryAfterError) Unwrap() []error { return []error{e.err, e.hint} }

// retryAfters remembers the last Retry-After each registry host sent with a 429 or 503: go-containerregistry and
// oras turn the answer into an error without its headers, so the guard transport notes it on the way up.
type retryAfters struct {
	mu sync.Mutex
	m  map[string]time.Duration
}

func (r *retryAfters) note(host string, resp *http.Response) {
	if resp.StatusCode != http.StatusTooManyRequests && resp.StatusCode != http.StatusServiceUnavailable {
		return
	}
	d := retry.ParseRetryAfter(resp.Header.Get("Retry-After"), time.Now())
	if d <= 0 {
		return
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.m == nil {
		r.m = map[string]time.Duration{}
	}
	r.m[host] = d
}

// take returns and forgets the Retry-After noted for the host named by a 429/503 error; zero otherwise.
func (r *retryAfters) take(err error) time.Duration {
	host := ""
	var terr *transport.Error
	var oerr *errcode.ErrorResponse
	switch {
	case errors.As(err, &terr) && terr.Request != nil:
		host = terr.Request.URL.Host
	case errors.As(err, &oerr) && oerr.URL != nil:
		host = oerr.URL.Host
	}
	if code := statusCode(err); host == "" || (code != http.StatusTooManyRequests && code != http.StatusServiceUnavailable) {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	d := r.m[host]
	delete(r.m, host)
	return d
}
