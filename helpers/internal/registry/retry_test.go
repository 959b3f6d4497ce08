package registry_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/remote/transport"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/registry/registrytest"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/testing/downaddr"
)

func TestRetryFollowsTheFailureTable(t *testing.T) {
	reset := fmt.Errorf("read tcp: %w", syscall.ECONNRESET)
	cases := []struct {
		name      string
		errs      []error // what fn returns on each call; the last one repeats
		wantCalls int
		class     result.Class
		msg       string
	}{
		{"a transient failure is retried until the call succeeds", []error{reset, reset, nil}, 3, "", ""},
		{"a 503 is retried", []error{&transport.Error{StatusCode: 503}, nil}, 2, "", ""},
		{"a 429 is retried", []error{&transport.Error{StatusCode: 429}, nil}, 2, "", ""},
		{"tries are bounded and exhausted transient failures are unavailable", []error{reset}, 3, result.ClassUnavailable, "pushing x: registry unavailable after 3 tries"},
		{"a 401 is an auth failure, not retried", []error{&transport.Error{StatusCode: 401}}, 1, result.ClassAuth, "pushing x: "},
		{"a missing manifest is input, not retried", []error{&transport.Error{StatusCode: 404}}, 1, result.ClassInput, "image not found"},
		{"an open breaker stops at once", []error{result.Errorf(result.ClassUnavailable, "registry h unavailable, breaker open")}, 1, result.ClassUnavailable, "breaker open"},
		{"a classified verdict keeps its class", []error{result.Errorf(result.ClassTamper, "bad signature")}, 1, result.ClassTamper, "bad signature"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			c := registry.New(registry.Options{PlainHTTP: true, Attempts: 3, Backoff: time.Millisecond})
			calls := 0
			err := c.Retry(context.Background(), "pushing x", func() error {
				e := tc.errs[min(calls, len(tc.errs)-1)]
				calls++
				return e
			})
			if calls != tc.wantCalls {
				t.Fatalf("fn called %d times, want %d", calls, tc.wantCalls)
			}
			if got := result.ClassOf(err); got != tc.class {
				t.Fatalf("class = %q, want %q (err %v)", got, tc.class, err)
			}
			if err != nil && !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q does not say %q", err, tc.msg)
			}
		})
	}
}

func TestRetryStopsWhenTheContextIsCancelled(t *testing.T) {
	c := registry.New(registry.Options{PlainHTTP: true, Attempts: 5, Backoff: time.Hour})
	ctx, cancel := context.WithCancel(context.Background())
	calls := 0
	err := c.Retry(ctx, "pushing x", func() error {
		calls++
		cancel()
		return syscall.ECONNREFUSED
	})
	if calls != 1 || result.ClassOf(err) != result.ClassUnavailable || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("calls %d, err %v; want one call and an interrupted unavailable error", calls, err)
	}
}

func TestRetryWaitsTheRetryAfterTheRegistrySent(t *testing.T) {
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	var mu sync.Mutex
	var armed, refused, retried bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		first := armed && !refused && strings.Contains(r.URL.Path, "/manifests/")
		if first {
			refused = true
		} else if refused {
			retried = true
		}
		mu.Unlock()
		if first {
			w.Header().Set("Retry-After", "1")
			http.Error(w, `{"errors":[{"code":"TOOMANYREQUESTS","message":"slow down"}]}`, http.StatusTooManyRequests)
			return
		}
		reg.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	// A plain transport, so only the operation-level retry (Client.Retry) is at work.
	plain := http.DefaultTransport.(*http.Transport).Clone()
	var waits []time.Duration
	sleep := func(d time.Duration) {
		mu.Lock()
		defer mu.Unlock()
		if refused && !retried { // only the pause between the 429 and the retry counts
			waits = append(waits, d)
		}
	}
	c := registry.New(registry.Options{PlainHTTP: true, Attempts: 3, Backoff: time.Millisecond, Transport: plain, Sleep: sleep})
	d := registrytest.PushRandom(t, registry.New(registry.Options{PlainHTTP: true, Transport: plain}), host+"/app:v1").DigestStr()
	mu.Lock()
	armed = true // the push went through; refuse the resolve once
	mu.Unlock()

	ref, _ := c.Parse(host + "/app:v1")
	tg, err := c.Resolve(context.Background(), ref, v1.Hash{})
	if err != nil || tg.Digest.DigestStr() != d {
		t.Fatalf("resolve after a 429: %v (%v)", err, tg.Digest)
	}
	mu.Lock()
	defer mu.Unlock()
	if !refused || !retried {
		t.Fatal("the 429 was never sent or never retried")
	}
	// The pause asked for, not the time spent: the next try must not come before the registry allowed it.
	if len(waits) != 1 || waits[0] != time.Second {
		t.Fatalf("waits %v between the 429 and the retry, want one of exactly the Retry-After (1s)", waits)
	}
}

func TestTheDefaultTransportOpensABreakerInTheStateDirAndNeverInHome(t *testing.T) {
	state := isolateState(t)
	home := t.TempDir()
	t.Setenv("HOME", home)
	host := downaddr.New(t) // refuses connections; a closed listener's port could be taken meanwhile

	c := registry.New(registry.Options{PlainHTTP: true, Attempts: 3, Backoff: time.Millisecond})
	ref, _ := c.Parse(host + "/app:v1")
	_, err := c.Resolve(context.Background(), ref, v1.Hash{})
	if result.ClassOf(err) != result.ClassUnavailable {
		t.Fatalf("want unavailable from a dead registry, got %v", err)
	}
	// A second client (as a later step on the agent would be) is refused at once by the shared breaker.
	c2 := registry.New(registry.Options{PlainHTTP: true, Attempts: 3, Backoff: time.Millisecond})
	_, err = c2.Resolve(context.Background(), ref, v1.Hash{})
	if result.ClassOf(err) != result.ClassUnavailable || !strings.Contains(err.Error(), "breaker open") {
		t.Fatalf("want an open-breaker refusal, got %v", err)
	}
	st := breaker.New(filepath.Join(state, "breakers"), 0, 0).Status("registry " + host)
	if !st.Open {
		t.Fatalf("breaker state in %s is not open: %+v", state, st)
	}
	if _, err := os.Stat(filepath.Join(home, ".cache")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("breaker state leaked into HOME: %v", err)
	}
}
