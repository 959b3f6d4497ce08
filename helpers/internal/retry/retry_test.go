package retry

import (
	"context"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/testing/downaddr"
)

func fast(tries int) Policy {
	return Policy{Tries: tries, Initial: time.Millisecond, Max: 50 * time.Millisecond}
}

func TestClassifyCoversTheFailureTable(t *testing.T) {
	cases := []struct {
		name string
		err  error
		want result.Class
	}{
		{"503", &HTTPError{Status: 503}, result.ClassTransient},
		{"429", &HTTPError{Status: 429}, result.ClassTransient},
		{"408", &HTTPError{Status: 408}, result.ClassTransient},
		{"401", &HTTPError{Status: 401}, result.ClassAuth},
		{"404", &HTTPError{Status: 404}, result.ClassInput},
		{"refused", fmt.Errorf("dial: %w", syscall.ECONNREFUSED), result.ClassTransient},
		{"reset", fmt.Errorf("read: %w", syscall.ECONNRESET), result.ClassTransient},
		{"deadline", context.DeadlineExceeded, result.ClassTransient},
		{"classified stays", result.Errorf(result.ClassTamper, "digest mismatch"), result.ClassTamper},
		{"plain", errors.New("boom"), result.ClassInternal},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := Classify(tc.err); got != tc.want {
				t.Fatalf("Classify(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}

func TestDoRetriesTransientFailuresUntilSuccess(t *testing.T) {
	var calls int
	err := Do(context.Background(), fast(4), "registry", func(context.Context) error {
		calls++
		if calls < 3 {
			return &HTTPError{Dependency: "registry", Status: 503}
		}
		return nil
	})
	if err != nil || calls != 3 {
		t.Fatalf("err=%v calls=%d, want nil and 3", err, calls)
	}
}

func TestDoDoesNotRetryAuthOrTamper(t *testing.T) {
	for _, e := range []error{&HTTPError{Status: 401}, result.Errorf(result.ClassTamper, "bad digest")} {
		var calls int
		err := Do(context.Background(), fast(5), "registry", func(context.Context) error { calls++; return e })
		if calls != 1 {
			t.Fatalf("%v: %d calls, want 1", e, calls)
		}
		if result.ClassOf(err) == result.ClassUnavailable || result.ClassOf(err) == result.ClassInternal {
			t.Fatalf("%v: class %q", e, result.ClassOf(err))
		}
	}
}

func TestDoGivesUpWithClassUnavailableAfterTheLastTry(t *testing.T) {
	var calls int
	err := Do(context.Background(), fast(3), "jenkins", func(context.Context) error {
		calls++
		return fmt.Errorf("post: %w", syscall.ECONNREFUSED)
	})
	if calls != 3 {
		t.Fatalf("calls = %d, want 3", calls)
	}
	if result.ClassOf(err) != result.ClassUnavailable || result.ClassOf(err).ExitCode() != 3 {
		t.Fatalf("class = %q (%v)", result.ClassOf(err), err)
	}
}

func TestDoHonoursRetryAfterFromARealServer(t *testing.T) {
	var hits atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if hits.Add(1) == 1 {
			w.Header().Set("Retry-After", "1")
			w.WriteHeader(http.StatusTooManyRequests)
			return
		}
	}))
	defer srv.Close()
	var waits []time.Duration
	var hitsAtSleep []int32
	p := Policy{Tries: 3, Initial: time.Millisecond, Max: 2 * time.Second, Sleep: func(d time.Duration) {
		waits = append(waits, d)
		hitsAtSleep = append(hitsAtSleep, hits.Load())
	}}
	err := Do(context.Background(), p, "slack", func(ctx context.Context) error {
		resp, err := http.Get(srv.URL)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		if resp.StatusCode != 200 {
			return FromResponse("slack", resp, "")
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if hits.Load() != 2 || len(waits) != 1 || waits[0] != time.Second || hitsAtSleep[0] != 1 {
		t.Fatalf("%d requests, waits %v (after requests %v); want one wait of exactly the Retry-After (1s) between the 429 and the retry",
			hits.Load(), waits, hitsAtSleep)
	}
}

func TestARetryAfterAboveMaxIsCappedAndTheBackoffIsUsedWithoutOne(t *testing.T) {
	cases := []struct {
		name       string
		retryAfter time.Duration
		want       func(time.Duration) bool
	}{
		{"capped at Max", time.Minute, func(d time.Duration) bool { return d == 2*time.Second }},
		{"no header: the jittered backoff, well under a second", 0, func(d time.Duration) bool { return d > 0 && d < 100*time.Millisecond }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var waits []time.Duration
			p := Policy{Tries: 2, Initial: 10 * time.Millisecond, Max: 2 * time.Second, Sleep: func(d time.Duration) { waits = append(waits, d) }}
			tries := 0
			_ = Do(context.Background(), p, "registry", func(context.Context) error {
				tries++
				return &HTTPError{Dependency: "registry", Status: http.StatusServiceUnavailable, RetryAfter: tc.retryAfter}
			})
			if tries != 2 || len(waits) != 1 || !tc.want(waits[0]) {
				t.Fatalf("%d tries, waits %v", tries, waits)
			}
		})
	}
}

func TestParseRetryAfterAcceptsSecondsAndDates(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	if d := ParseRetryAfter("7", now); d != 7*time.Second {
		t.Fatalf("seconds: %v", d)
	}
	if d := ParseRetryAfter(now.Add(30*time.Second).Format(http.TimeFormat), now); d != 30*time.Second {
		t.Fatalf("date: %v", d)
	}
	if d := ParseRetryAfter("soon", now); d != 0 {
		t.Fatalf("garbage: %v", d)
	}
}

func TestClassifySeesDialErrorsAsTransient(t *testing.T) {
	_, err := net.DialTimeout("tcp", downaddr.New(t), 5*time.Second)
	if err == nil {
		t.Fatal("dialled an address that refuses connections")
	}
	if Classify(err) != result.ClassTransient {
		t.Fatalf("dial error %v classified %q", err, Classify(err))
	}
}

type bareNetErr struct{ timeout bool }

func (e bareNetErr) Error() string   { return "bare net error" }
func (e bareNetErr) Timeout() bool   { return e.timeout }
func (e bareNetErr) Temporary() bool { return false }

func TestTheOneTableDecidesNetErrorsCertificatesAndClientHooksOnce(t *testing.T) {
	sentinel := errors.New("manifest unknown")
	withStatus := errors.New("answered")
	h := Hooks{
		Own: func(err error) result.Class {
			if errors.Is(err, sentinel) {
				return result.ClassInput
			}
			return ""
		},
		Status: func(err error) int {
			if errors.Is(err, withStatus) {
				return 503
			}
			return 0
		},
	}
	cases := []struct {
		name string
		err  error
		want result.Class
	}{
		{"a bare net.Error that timed out", bareNetErr{timeout: true}, result.ClassTransient},
		{"a bare net.Error that did not time out", bareNetErr{}, result.ClassInternal},
		{"a connection-level OpError", &net.OpError{Op: "dial", Err: errors.New("no route")}, result.ClassTransient},
		{"a DNS failure", &net.DNSError{Err: "no such host", Name: "registry.invalid"}, result.ClassTransient},
		{"an unknown certificate authority", fmt.Errorf("tls: %w", x509.UnknownAuthorityError{}), result.ClassConfig},
		{"plain HTTP answering HTTPS", errors.New("http: server gave HTTP response to HTTPS client"), result.ClassConfig},
		{"an interrupted call", fmt.Errorf("get: %w", context.Canceled), result.ClassUnavailable},
		{"a 400", &HTTPError{Status: 400}, result.ClassInput},
		{"the client's not-found hook", fmt.Errorf("get: %w", sentinel), result.ClassInput},
		{"the client's status hook", fmt.Errorf("push: %w", withStatus), result.ClassTransient},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := h.Classify(tc.err); got != tc.want {
				t.Fatalf("Classify(%v) = %q, want %q", tc.err, got, tc.want)
			}
		})
	}
}
