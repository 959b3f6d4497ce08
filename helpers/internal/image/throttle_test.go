package image_test

import (
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/release-gates/release-gates/helpers/internal/image"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/registry/registrytest"
)

// TestSignAllKeepsRegistryRequestsWithinMaxRequestsWhateverTheWorkers signs 12 images with 6 workers through a
// client allowed 2 requests at once: the registry never sees a third, cosign's and notation's requests alike, the
// two throttles do not deadlock, and each image ends with one signature per format.
func TestSignAllKeepsRegistryRequestsWithinMaxRequestsWhateverTheWorkers(t *testing.T) {
	isolateState(t)
	var now, peak atomic.Int64
	inner := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := now.Add(1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(2 * time.Millisecond) // long enough for unthrottled requests to overlap
		// The limiter holds a slot until the response headers arrive. A response larger than net/http's write buffers
		// sends them while this handler still runs, so the next request could be counted before this one
		// ended: the response is buffered and sent only once the request no longer counts.
		rec := httptest.NewRecorder()
		inner.ServeHTTP(rec, r)
		now.Add(-1)
		for k, v := range rec.Header() {
			w.Header()[k] = v
		}
		w.WriteHeader(rec.Code)
		_, _ = w.Write(rec.Body.Bytes())
	}))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	push := registry.New(registry.Options{PlainHTTP: true})
	var images []string
	for i := 0; i < 12; i++ {
		images = append(images, registrytest.PushRandom(t, push, fmt.Sprintf("%s/app%d:v1", host, i)).String())
	}
	peak.Store(0)
	rc := registry.New(registry.Options{PlainHTTP: true, MaxRequests: 2, Backoff: time.Millisecond})
	p := newPKI(t)
	outs, err := signAll(t, rc, images, p.key(), image.SignOptions{Formats: both, Workers: 6})
	if err != nil {
		t.Fatalf("sign: %v", err)
	}
	if got := peak.Load(); got != 2 {
		t.Fatalf("the registry saw up to %d requests at once, want exactly the bound 2", got)
	}
	for _, o := range outs {
		if !o.Cosign.Verified || !o.Notation.Verified {
			t.Fatalf("%s not signed and verified: %+v %+v", o.Given, o.Cosign, o.Notation)
		}
		if n := cosignLayers(t, push, o.Digest); n != 1 {
			t.Fatalf("%s: %d cosign signatures, want 1", o.Digest, n)
		}
		if n, _ := notationSignatures(t, push, o.Digest); n != 1 {
			t.Fatalf("%s: %d notation signatures, want 1", o.Digest, n)
		}
	}
}

// TestARegistryWithoutTheReferrersAPIIsProbedOnce signs three images in three repositories of one registry: a
// registry without the referrers API (Debian's docker-registry, distribution 2.8) is asked once, the others go to
// the sha256-<hex> tag straight away; one with the API is asked for every image. Each image ends with one notation
// signature either way.
func TestARegistryWithoutTheReferrersAPIIsProbedOnce(t *testing.T) {
	for _, tc := range []struct {
		api  bool
		want int64
	}{{false, 1}, {true, 3 * 2}} { // with the API: listed before signing and again after, per image
		t.Run(fmt.Sprintf("referrers API %v", tc.api), func(t *testing.T) {
			isolateState(t)
			var probes atomic.Int64
			inner := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)), ggcrregistry.WithReferrersSupport(tc.api))
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				if r.Method == http.MethodGet && strings.Contains(r.URL.Path, "/referrers/") {
					probes.Add(1)
				}
				inner.ServeHTTP(w, r)
			}))
			defer srv.Close()
			host := strings.TrimPrefix(srv.URL, "http://")
			rc := registry.New(registry.Options{PlainHTTP: true, Backoff: time.Millisecond})
			var images []string
			for i := 0; i < 3; i++ {
				images = append(images, registrytest.PushRandom(t, rc, fmt.Sprintf("%s/app%d:v1", host, i)).String())
			}
			p := newPKI(t)
			outs, err := signAll(t, rc, images, p.key(), image.SignOptions{Formats: []image.Format{image.Notation}, Workers: 1})
			if err != nil {
				t.Fatalf("sign: %v", err)
			}
			if got := probes.Load(); got != tc.want {
				t.Errorf("referrers API asked %d times, want %d", got, tc.want)
			}
			for _, o := range outs {
				if n, _ := notationSignatures(t, rc, o.Digest); n != 1 {
					t.Fatalf("%s: %d notation signatures, want 1", o.Digest, n)
				}
			}
		})
	}
}
