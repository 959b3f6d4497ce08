package breaker

import (
	"context"
	"net/http"

	"github.com/release-gates/release-gates/helpers/internal/retry"
)

// Transport sends every HTTP request through the breaker of its host, so a dependency that keeps failing is
// refused at once (ClassUnavailable) instead of being waited on, here and in other processes sharing the state dir.
type Transport struct {
	Next       http.RoundTripper              // default http.DefaultTransport
	Set        *Set                           // the breakers
	Dependency func(req *http.Request) string // default "registry <host>"
}

// RoundTrip sends req unless the host's breaker is open. Answers of 429 and 5xx count as failures too.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	next := t.Next
	if next == nil {
		next = http.DefaultTransport
	}
	dep := "registry " + req.URL.Host
	if t.Dependency != nil {
		dep = t.Dependency(req)
	}
	var resp *http.Response
	err := t.Set.Do(req.Context(), dep, func(context.Context) error {
		r, err := next.RoundTrip(req)
		if err != nil {
			return err
		}
		resp = r
		if r.StatusCode == http.StatusTooManyRequests || r.StatusCode >= 500 {
			return statusFailure{r.StatusCode}
		}
		return nil
	})
	var sf statusFailure
	if err != nil && !asStatus(err, &sf) {
		return nil, err
	}
	return resp, nil // a failing status is still the server's answer: the caller reads it
}

// statusFailure lets a 429/5xx answer count against the breaker while the response itself is passed on.
type statusFailure struct{ code int }

func (s statusFailure) Error() string   { return http.StatusText(s.code) }
func (s statusFailure) StatusCode() int { return s.code }

func asStatus(err error, sf *statusFailure) bool {
	v, ok := err.(statusFailure)
	if ok {
		*sf = v
	}
	return ok
}

// Stack returns the resilient registry transport: per-request retries (retry.Transport, OCI idempotency rules) around
// the per-host breaker, around next. A request is retried while the breaker lets attempts through; once it opens,
// the refusal is not transient and every layer above stops at once.
func Stack(next http.RoundTripper, set *Set, p retry.Policy) http.RoundTripper {
	return &retry.Transport{Next: &Transport{Next: next, Set: set}, Policy: p, Idempotent: retry.RegistryIdempotent}
}
