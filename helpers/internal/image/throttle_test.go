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
		defer now.Add(-1)
		for p := peak.Load(); n > p && !peak.CompareAndSwap(p, n); p = peak.Load() {
		}
		time.Sleep(2 * time.Millisecond) // long enough for unthrottled requests to overlap
		inner.ServeHTTP(w, r)
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
