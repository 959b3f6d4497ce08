package resiliencetest

import (
	"context"
	"crypto"
	"net/http"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/image"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/registry/registrytest"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/testing/faultproxy"
)

type registryTarget = registry.Target

// every returns a fault for every nth of the next count requests.
func every(n, count int, f faultproxy.Fault) []faultproxy.Fault {
	out := make([]faultproxy.Fault, count)
	for i := n - 1; i < count; i += n {
		out[i] = f
	}
	return out
}

func isSigManifestPut(r *http.Request) bool {
	return r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/sha256-")
}

func TestCosignSigningThroughInjectedFaultsSucceedsAndLeavesExactlyOneSignature(t *testing.T) {
	e := newEnv(t)
	cases := []struct {
		name  string
		setup func(p *faultproxy.Proxy)
	}{
		{"every third request answers 503", func(p *faultproxy.Proxy) { p.Script(every(3, 30, faultproxy.Unavailable)...) }},
		{"every third request answers 429 with Retry-After", func(p *faultproxy.Proxy) {
			p.SetRetryAfter(1)
			p.Script(every(3, 12, faultproxy.TooMany)...)
		}},
		{"every fourth connection is reset", func(p *faultproxy.Proxy) { p.Script(every(4, 30, faultproxy.Reset)...) }},
		{"every third answer is late", func(p *faultproxy.Proxy) { p.Script(every(3, 30, faultproxy.Latency)...) }},
		{"every third body is truncated", func(p *faultproxy.Proxy) { p.Script(every(3, 30, faultproxy.Truncated)...) }},
		{"the signature manifest is stored but its reply is lost", func(p *faultproxy.Proxy) { p.When(isSigManifestPut, faultproxy.LostReply) }},
		{"a mix at a 15% rate", func(p *faultproxy.Proxy) {
			p.SetRate(0.15, faultproxy.Unavailable, faultproxy.TooMany, faultproxy.Reset, faultproxy.Truncated, faultproxy.LostReply)
		}},
	}
	for i, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ref := e.push(t, "app"+string(rune('a'+i)))
			tg := e.target(t, ref)
			key := newKey(t)
			e.proxy.SetRetryAfter(0)
			tc.setup(e.proxy)
			before, injectedBefore := e.proxy.Counts()
			out, err := image.SignCosign(context.Background(), e.client, tg, key, false)
			e.proxy.SetRate(0)
			if err != nil {
				t.Fatalf("signing failed through faults: %q %v", result.ClassOf(err), err)
			}
			after, injected := e.proxy.Counts()
			if injected == injectedBefore {
				t.Fatalf("no fault was injected in %d requests: the case tests nothing", after-before)
			}
			res, err := image.VerifyCosign(context.Background(), e.direct, directTarget(e, tg), []crypto.PublicKey{key.Public()}, false)
			if err != nil || res.Signatures != 1 {
				t.Fatalf("want exactly one valid signature, got %d (%v); sign outcome %+v", res.Signatures, err, out)
			}
			again, err := image.SignCosign(context.Background(), e.client, tg, key, false)
			if err != nil || !again.Reused || again.Signatures != 1 {
				t.Fatalf("re-signing with the same key must add nothing: %+v %v", again, err)
			}
		})
	}
}

// directTarget is tg as seen without the proxy, so verification sees the registry's true content.
func directTarget(e *env, tg registryTarget) registryTarget {
	d := strings.Replace(tg.Digest.String(), e.proxy.Host(), e.reg.Host, 1)
	r, err := e.direct.Parse(d)
	if err != nil {
		panic(err)
	}
	tg.Digest = r.Repo.Digest(r.Digest.String())
	return tg
}

func TestARegistryThatStaysDownEndsTheSigningWithClassUnavailableAndOpensTheBreaker(t *testing.T) {
	e := newEnv(t)
	ref := e.push(t, "down")
	tg := e.target(t, ref)
	e.proxy.SetDown(true)
	defer e.proxy.SetDown(false)
	_, err := image.SignCosign(context.Background(), e.client, tg, newKey(t), false)
	if result.ClassOf(err) != result.ClassUnavailable || result.ClassOf(err).ExitCode() != 3 {
		t.Fatalf("class %q: %v", result.ClassOf(err), err)
	}
	if st := e.set.Status("registry " + e.proxy.Host()); !st.Open {
		t.Fatalf("breaker state %+v, want open", st)
	}
	before, _ := e.proxy.Counts()
	_, err = image.SignCosign(context.Background(), e.client, tg, newKey(t), false)
	if !strings.Contains(err.Error(), "breaker open until") {
		t.Fatalf("the next signing must fail fast on the open breaker: %v", err)
	}
	if after, _ := e.proxy.Counts(); after != before {
		t.Fatalf("%d requests reached the proxy through an open breaker", after-before)
	}
}

func TestRegistryAuthFailuresAreNotRetried(t *testing.T) {
	r := registrytest.Start(t, registrytest.Options{Username: "ci", Password: "right-password"})
	p, err := faultproxy.New("http://"+r.Host, 1)
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	base := http.DefaultTransport.(*http.Transport).Clone()
	c := registry.New(registry.Options{PlainHTTP: true, Username: "ci", Password: "wrong-password", Attempts: 4,
		Transport: breaker.Stack(base, breaker.New(t.TempDir(), 8, time.Minute), requestPolicy)})
	ref, err := c.Parse(p.Host() + "/app:v1")
	if err != nil {
		t.Fatal(err)
	}
	_, err = c.Resolve(context.Background(), ref, v1.Hash{})
	if result.ClassOf(err) != result.ClassAuth || strings.Contains(err.Error(), "wrong-password") {
		t.Fatalf("class %q: %v", result.ClassOf(err), err)
	}
	if n, _ := p.Counts(); n > 3 {
		t.Fatalf("%d requests for a refused login: auth failures must not be retried", n)
	}
}
