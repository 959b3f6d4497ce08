package image_test

import (
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/release-gates/release-gates/helpers/internal/image"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/registry/registrytest"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/testing/faultproxy"
)

func isNotationManifestPut(r *http.Request) bool {
	return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/sha256:")
}

func TestANotationPushAnswered429Or503IsRetriedAndFinallyUnavailable(t *testing.T) {
	for _, fault := range []faultproxy.Fault{faultproxy.Unavailable, faultproxy.TooMany} {
		t.Run(string(fault), func(t *testing.T) {
			isolateState(t)
			srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
			t.Cleanup(srv.Close)
			p, err := faultproxy.New(srv.URL, 1)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(p.Close)
			rc := registry.New(registry.Options{PlainHTTP: true, Backoff: time.Millisecond})
			ref := registrytest.PushRandom(t, rc, p.Host()+"/app:v1").String()
			pk := newPKI(t)
			opts := image.SignOptions{Formats: []image.Format{image.Notation}}

			// More faults in a row than one request's own retries take: only the operation-level retry gets through,
			// and it can only if the push error kept the registry's status.
			p.When(isNotationManifestPut, fault, fault, fault, fault, fault, fault)
			if _, err := signAll(t, rc, []string{ref}, pk.key(), opts); err != nil {
				t.Fatalf("a notation push answered %s six times was not retried through: class %q: %v", fault, result.ClassOf(err), err)
			}
			if n, _ := notationSignatures(t, rc, ref); n != 1 {
				t.Fatalf("%d notation signatures after the retried push, want 1", n)
			}

			ref2 := registrytest.PushRandom(t, rc, p.Host()+"/app:v2").String()
			many := make([]faultproxy.Fault, 200)
			for i := range many {
				many[i] = fault
			}
			p.When(isNotationManifestPut, many...)
			_, err = signAll(t, rc, []string{ref2}, pk.key(), opts)
			if result.ClassOf(err).ExitCode() != 3 {
				t.Fatalf("a registry that keeps answering %s: class %q (exit %d), want exit 3: %v", fault, result.ClassOf(err), result.ClassOf(err).ExitCode(), err)
			}
		})
	}
}

func TestANotationPushAnswered429WaitsForTheRetryAfter(t *testing.T) {
	isolateState(t)
	reg := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	var mu sync.Mutex
	var armed, refused, retried bool
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		put := isNotationManifestPut(r)
		mu.Lock()
		first := armed && put && !refused
		if first {
			refused = true
		} else if put && refused {
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
		if refused && !retried { // only the pause between the 429 and the retried push counts
			waits = append(waits, d)
		}
	}
	rc := registry.New(registry.Options{PlainHTTP: true, Attempts: 3, Backoff: time.Millisecond, Transport: plain, Sleep: sleep})
	ref := registrytest.PushRandom(t, rc, host+"/app:v1").String()
	mu.Lock()
	armed = true
	mu.Unlock()
	if _, err := signAll(t, rc, []string{ref}, newPKI(t).key(), image.SignOptions{Formats: []image.Format{image.Notation}}); err != nil {
		t.Fatalf("a notation push answered 429 once: %v", err)
	}
	mu.Lock()
	sent, again, asked := refused, retried, append([]time.Duration(nil), waits...)
	mu.Unlock()
	if !sent || !again {
		t.Fatal("the 429 was never sent or never retried")
	}
	// The pause asked for, not the time spent: the next push must not come before the registry allowed it.
	if len(asked) != 1 || asked[0] != time.Second {
		t.Fatalf("waits %v between the 429 and the retried push, want one of exactly the Retry-After (1s)", asked)
	}
	if n, _ := notationSignatures(t, rc, ref); n != 1 {
		t.Fatalf("%d notation signatures, want 1", n)
	}
}
