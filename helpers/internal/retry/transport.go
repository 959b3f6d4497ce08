package retry

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"

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
	idempotent := req.Method == http.MethodGet || req.Method == http.MethodHead
	replayable := req.Body == nil || req.Body == http.NoBody || req.GetBody != nil
	var resp *http.Response
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
			return err
		}
		switch res.StatusCode {
		case http.StatusTooManyRequests, http.StatusBadGateway, http.StatusServiceUnavailable, http.StatusGatewayTimeout:
			if !replayable {
				resp = res
				return nil
			}
			he := FromResponse(dep, res, "")
			io.Copy(io.Discard, io.LimitReader(res.Body, 4096))
			res.Body.Close()
			return he
		}
		if req.Method == http.MethodGet && res.ContentLength <= maxBuf {
			// Read the body now: a connection cut mid-body is then one more retry, not a failed operation.
			b, rerr := io.ReadAll(io.LimitReader(res.Body, maxBuf+1))
			if rerr != nil {
				res.Body.Close()
				return fmt.Errorf("%s: reading %s %s: %w", dep, req.Method, req.URL.Path, rerr)
			}
			if int64(len(b)) > maxBuf { // a large body of unknown length: hand it on as it streams
				res.Body = readCloser{io.MultiReader(bytes.NewReader(b), res.Body), res.Body}
				resp = res
				return nil
			}
			res.Body.Close()
			if res.ContentLength >= 0 && int64(len(b)) != res.ContentLength {
				return fmt.Errorf("%s: %s: got %d of %d bytes: %w", dep, req.URL.Path, len(b), res.ContentLength, io.ErrUnexpectedEOF)
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
		return nil, err
	}
	return resp, nil
}

type readCloser struct {
	io.Reader
	io.Closer
}
