package image_test

import (
	"crypto"
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
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/testing/faultproxy"
)

// downAfter serves the in-process registry behind a fault proxy; once armed, the first request matching trip is
// answered and then the proxy goes down, so the rest of the verification meets a dead registry.
type downAfter struct {
	proxy *faultproxy.Proxy
	armed atomic.Bool
	trip  func(*http.Request) bool
	fired atomic.Bool
}

func startDownAfter(t *testing.T, referrers bool, trip func(*http.Request) bool) (*downAfter, string) {
	t.Helper()
	d := &downAfter{trip: trip}
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)), ggcrregistry.WithReferrersSupport(referrers))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		reg.ServeHTTP(w, r)
		if d.armed.Load() && d.trip(r) && d.fired.CompareAndSwap(false, true) {
			d.proxy.SetDown(true)
		}
	}))
	t.Cleanup(srv.Close)
	p, err := faultproxy.New(srv.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	d.proxy = p
	return d, p.Host()
}

func isGET(r *http.Request, part string) bool {
	return r.Method == http.MethodGet && strings.Contains(r.URL.Path, part)
}

func TestARegistryThatGoesDownDuringVerificationIsUnavailableNotTamper(t *testing.T) {
	cases := []struct {
		name      string
		format    image.Format
		referrers bool
		trip      func(*http.Request) bool
	}{
		{"cosign signature tag: down once the .sig manifest is read", image.Cosign, false,
			func(r *http.Request) bool {
				return isGET(r, "/manifests/sha256-") && strings.HasSuffix(r.URL.Path, ".sig")
			}},
		{"cosign referrers: down once the referrer list is read", image.Cosign, true,
			func(r *http.Request) bool { return isGET(r, "/referrers/") }},
		{"cosign referrers: down once a referrer manifest is read", image.Cosign, true,
			func(r *http.Request) bool { return isGET(r, "/manifests/sha256:") }},
		{"notation: down once a signature manifest is read", image.Notation, false,
			func(r *http.Request) bool { return isGET(r, "/manifests/sha256:") }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			isolateState(t)
			d, host := startDownAfter(t, tc.referrers, tc.trip)
			// The default client: per-request retries and the breaker, as the CLI uses it.
			rc := registry.New(registry.Options{PlainHTTP: true, Backoff: time.Millisecond})
			p := newPKI(t)
			ref := registrytest.PushRandom(t, rc, host+"/app:v1").String()
			if _, err := signAll(t, rc, []string{ref}, p.key(), image.SignOptions{Formats: []image.Format{tc.format}, Referrers: tc.referrers}); err != nil {
				t.Fatalf("sign: %v", err)
			}
			policy, store := p.writeTrust(t, "*")
			v, err := image.LoadVerifier(policy, store)
			if err != nil {
				t.Fatal(err)
			}
			d.armed.Store(true)
			err = verifyAll(t, rc, []string{ref}, image.VerifyOptions{Formats: []image.Format{tc.format}, CosignKeys: []crypto.PublicKey{p.LeafKey.Public()}, Notation: v})
			if !d.fired.Load() {
				t.Fatal("the registry never went down: the trip request was not seen")
			}
			if got := result.ClassOf(err); got != result.ClassUnavailable {
				t.Fatalf("class = %q, want unavailable (exit 3), not a verdict on the signature: %v", got, err)
			}
			if result.ClassOf(err).ExitCode() != 3 {
				t.Fatalf("exit code %d, want 3", result.ClassOf(err).ExitCode())
			}
		})
	}
}
