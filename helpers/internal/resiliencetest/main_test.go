package resiliencetest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/hsm/softhsmtest"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/registry/registrytest"
	"github.com/release-gates/release-gates/helpers/internal/retry"
	"github.com/release-gates/release-gates/helpers/internal/testing/faultproxy"
)

var token softhsmtest.Token

// TestMain runs on a fresh token, with the breaker state of default clients (env.direct) in this binary's own temp dir:
// make test gives every package the same $RELEASE_GATES_STATE_DIR, and registry ports are reused across packages.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "breaker-state-")
	if err != nil {
		panic(err)
	}
	os.Setenv(breaker.DirEnv, dir)
	code := softhsmtest.Main(m, &token)
	os.RemoveAll(dir)
	os.Exit(code)
}

// env is a real Debian registry with a fault proxy in front and a client that reaches it only through the proxy.
type env struct {
	reg    *registrytest.Registry
	proxy  *faultproxy.Proxy
	direct *registry.Client
	client *registry.Client
	set    *breaker.Set
}

// requestPolicy is the per-request retry policy the tests and the bench use: short waits, bounded tries.
var requestPolicy = retry.Policy{Tries: 4, Initial: 20 * time.Millisecond, Max: 2 * time.Second}

func newEnv(t *testing.T) *env {
	t.Helper()
	r := registrytest.Start(t, registrytest.Options{})
	p, err := faultproxy.New("http://"+r.Host, 7)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(p.Close)
	set := breaker.New(t.TempDir(), 8, 30*time.Second)
	base := http.DefaultTransport.(*http.Transport).Clone()
	return &env{
		reg: r, proxy: p, set: set,
		direct: registry.New(registry.Options{PlainHTTP: true}),
		client: registry.New(registry.Options{PlainHTTP: true, Attempts: 4, Backoff: 50 * time.Millisecond, Transport: breaker.Stack(base, set, requestPolicy)}),
	}
}

// push writes a random image straight to the registry (no faults) and returns the reference through the proxy.
func (e *env) push(t *testing.T, repo string) string {
	t.Helper()
	img, err := random.Image(512, 1)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := name.ParseReference(e.reg.Host+"/"+repo+":v1", name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img, e.direct.RemoteOptions(context.Background())...); err != nil {
		t.Fatal(err)
	}
	return e.proxy.Host() + "/" + repo + ":v1"
}

func (e *env) target(t *testing.T, ref string) registry.Target {
	t.Helper()
	r, err := e.client.Parse(ref)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := e.direct.Resolve(context.Background(), mustParse(t, e.direct, strings.Replace(ref, e.proxy.Host(), e.reg.Host, 1)), v1.Hash{})
	if err != nil {
		t.Fatal(err)
	}
	return registry.Target{Given: ref, Digest: r.Repo.Digest(tg.Descriptor.Digest.String()), Descriptor: tg.Descriptor}
}

func mustParse(t *testing.T, c *registry.Client, s string) registry.Reference {
	t.Helper()
	r, err := c.Parse(s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func newKey(t *testing.T) crypto.Signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return k
}
