package registry_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/registry"
)

// inFlight is a registry stand-in that records the most requests it ever served at once. Each request is held
// until `want` are in flight together (or 30s pass), so a slow machine still reaches the bound when it is allowed.
type inFlight struct {
	now, peak atomic.Int64
	want      int64
	reached   chan struct{}
	once      sync.Once
}

func (f *inFlight) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := f.now.Add(1)
	defer f.now.Add(-1)
	for {
		p := f.peak.Load()
		if n <= p || f.peak.CompareAndSwap(p, n) {
			break
		}
	}
	if n >= f.want {
		f.once.Do(func() { close(f.reached) })
	}
	select {
	case <-f.reached:
		time.Sleep(50 * time.Millisecond) // let any request the limiter failed to hold back arrive
	case <-time.After(30 * time.Second):
	}
	w.WriteHeader(http.StatusOK)
}

// fire sends n requests at once through c's transport.
func fire(t *testing.T, c *registry.Client, url string, n int) {
	t.Helper()
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			req, _ := http.NewRequestWithContext(context.Background(), http.MethodGet, url+"/v2/", nil)
			resp, err := c.Transport().RoundTrip(req)
			if err != nil {
				errs <- err
				return
			}
			resp.Body.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func TestMaxRequestsBoundsTheRequestsInFlightAcrossTheClient(t *testing.T) {
	t.Setenv("RELEASE_GATES_STATE_DIR", t.TempDir())
	for _, tc := range []struct {
		max, want int
	}{
		{1, 1},
		{3, 3},
		{0, registry.DefaultMaxRequests}, // the default is a bound too
	} {
		srv := &inFlight{want: int64(tc.want), reached: make(chan struct{})}
		ts := httptest.NewServer(srv)
		c := registry.New(registry.Options{PlainHTTP: true, MaxRequests: tc.max})
		fire(t, c, ts.URL, 2*registry.DefaultMaxRequests)
		ts.Close()
		// At most the bound, and the bound is reached: the requests really ran side by side up to it.
		if got := srv.peak.Load(); got != int64(tc.want) {
			t.Errorf("MaxRequests %d: the registry saw up to %d requests at once, want %d", tc.max, got, tc.want)
		}
	}
}

func TestAWaitingRequestGivesUpWhenItsContextEnds(t *testing.T) {
	t.Setenv("RELEASE_GATES_STATE_DIR", t.TempDir())
	release := make(chan struct{})
	ts := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { <-release }))
	defer ts.Close()
	defer close(release)
	c := registry.New(registry.Options{PlainHTTP: true, MaxRequests: 1})
	go func() { // holds the only slot
		req, _ := http.NewRequest(http.MethodGet, ts.URL+"/v2/", nil)
		if resp, err := c.Transport().RoundTrip(req); err == nil {
			resp.Body.Close()
		}
	}()
	time.Sleep(50 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL+"/v2/", nil)
	if _, err := c.Transport().RoundTrip(req); err == nil {
		t.Fatal("a request waiting for a slot past its deadline succeeded")
	}
}
