package retry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Transport retries single HTTP requests along the failure table: an answer of 429, 502, 503 or 504 is retried
// for any method whose body can be replayed (the server refused before acting), while resets, timeouts and
// truncated bodies are retried only for GET and HEAD, whose repetition is harmless. Other requests hand such
// failures up unretried, to an operation-level retry that can redo the whole step idempotently.
type Transport struct {
	Next       http.RoundTripper              // default http.DefaultTransport
	Policy     Policy                         // tries and backoff per request
	Dependency func(req *http.Request) string // names the dependency in errors; default "registry <host>"
	MaxBuffer  int64                          // GET bodies up to this size are read whole so a cut body is retried; default 16 MiB
	// Idempotent says whether repeating req is harmless even when the first try may have been acted on;
	// default: GET, HEAD and OPTIONS. RegistryIdempotent adds manifest PUTs and upload-session POSTs.
	Idempotent func(req *http.Request) bool
}

// RegistryIdempotent is Idempotent for the OCI distribution API: besides reads, a manifest PUT (same bytes, same
// digest) and the POST that opens a blob upload session (an unused session just expires) are safe to repeat.
func RegistryIdempotent(req *http.Request) bool {
	switch req.Method {
	case http.MethodGet, http.MethodHead, http.MethodOptions:
		return true
	case http.MethodPut:
		return strings.Contains(req.URL.Path, "/manifests/")
	case http.MethodPost:
		return strings.HasSuffix(strings.TrimSuffix(req.URL.Path, "/"), "/blobs/uploads") && !req.URL.Query().Has("digest")
	}
	return false
}

func defaultIdempotent(req *http.Request) bool {
	return req.Method == http.MethodGet || req.Method == http.MethodHead || req.Method == http.MethodOptions
}

// errNoReplay marks a failure this layer must not retry.
type errNoReplay struct{ err error }

func (e errNoReplay) Error() string { return e.err.Error() }
func (e errNoReplay) Unwrap() error { return e.err }

// RoundTrip sends req, retrying as described on Transport.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	next := t.Next
	if next == nil {
		next = http.DefaultTransport
	}
	dep := "registry " + req.URL.Host
	if t.Dependency != nil {
		dep = t.Dependency(req)
	}
	maxBuf := t.MaxBuffer
	if maxBuf == 0 {
		maxBuf = 16 << 20
	}
	isIdem := t.Idempotent
	if isIdem == nil {
		isIdem = defaultIdempotent
	}
	idempotent := isIdem(req)
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	if !replayable && (req.ContentLength < 0 || req.ContentLength <= maxBuf) {
		// Hold a small streamed body (a blob PATCH) in memory so a refused request can be sent again.
		b, err := io.ReadAll(io.LimitReader(req.Body, maxBuf+1))
		if err != nil {
			req.Body.Close()
			return nil, err
		}
		if int64(len(b)) <= maxBuf {
			req.Body.Close()
			req = req.Clone(req.Context())
			req.Body = io.NopCloser(bytes.NewReader(b))
			req.GetBody = func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(b)), nil }
			replayable = true
		} else {
			req.Body = readCloser{io.MultiReader(bytes.NewReader(b), req.Body), req.Body}
		}
	}
	var resp, lastAnswer *http.Response
	var lastErr error
	attempt := 0
	p := t.Policy
	base := p.ClassifyFunc
	if base == nil {
		base = Classify
	}
	p.ClassifyFunc = func(err error) result.Class {
		var nr errNoReplay
		if errors.As(err, &nr) {
			return result.ClassInternal // stop here; the caller sees the original error
		}
		return base(err)
	}
	err := Do(req.Context(), p, dep, func(ctx context.Context) error {
		r := req
		if attempt > 0 {
			if !replayable {
				return errNoReplay{fmt.Errorf("%s: request body cannot be replayed", dep)}
			}
			r = req.Clone(ctx)
			if req.GetBody != nil {
				b, err := req.GetBody()
				if err != nil {
					return errNoReplay{err}
				}
				r.Body = b
			}
		}
		attempt++
		res, err := next.RoundTrip(r)
		if err != nil {
			if !idempotent {
				return errNoReplay{err}
			}
			lastErr, lastAnswer = err, nil
			return err
		}
		switch res.StatusCode {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			if !replayable {
				resp = res
				return nil
			}
			he := FromResponse(dep, res, "")
			b, _ := io.ReadAll(io.LimitReader(res.Body, 64<<10))
			res.Body.Close()
			res.Body = io.NopCloser(bytes.NewReader(b))
			lastErr, lastAnswer = he, res
			return he
		}
		if req.Method == http.MethodGet && res.ContentLength <= maxBuf {
			// Read the body now: a connection cut mid-body is then one more retry, not a failed operation.
			b, rerr := io.ReadAll(io.LimitReader(res.Body, maxBuf+1))
			if rerr != nil {
				res.Body.Close()
				lastErr, lastAnswer = fmt.Errorf("%s: reading %s %s: %w", dep, req.Method, req.URL.Path, rerr), nil
				return lastErr
			}
			if int64(len(b)) > maxBuf { // a large body of unknown length: hand it on as it streams
				res.Body = readCloser{io.MultiReader(bytes.NewReader(b), res.Body), res.Body}
				resp = res
				return nil
			}
			res.Body.Close()
			if res.ContentLength >= 0 && int64(len(b)) != res.ContentLength {
				lastErr, lastAnswer = fmt.Errorf("%s: %s: got %d of %d bytes: %w", dep, req.URL.Path, len(b), res.ContentLength, io.ErrUnexpectedEOF), nil
				return lastErr
			}
			res.Body = io.NopCloser(bytes.NewReader(b))
		}
		resp = res
		return nil
	})
	if err != nil {
		var nr errNoReplay
		if errors.As(err, &nr) {
			return nil, nr.err
		}
		// Tries exhausted: hand up the last answer or error itself, so the operation-level retry above decides
		// and names the outcome. A refusal by an open breaker keeps its ClassUnavailable through the wrap.
		exhausted := lastErr != nil && errors.Is(err, lastErr)
		switch {
		case exhausted && lastAnswer != nil:
			return lastAnswer, nil
		case exhausted:
			return nil, fmt.Errorf("%s: %d tries: %w", dep, attempt, lastErr)
		}
		return nil, err
	}
	return resp, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}
