package registrytest

import (
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/testing/faultproxy"
)

// AgentStateEnv names the variable carrying an agent process's own state dir (its breaker state and locks).
const AgentStateEnv = "RG_AGENT_STATE"

// Slowed serves go-containerregistry's in-process registry (with the OCI 1.1 referrers API when referrers is set)
// behind a proxy that delays each of the first n requests matching slow by 300ms, and returns the proxy.
func Slowed(t testing.TB, referrers bool, n int, slow func(*http.Request) bool) *faultproxy.Proxy {
	t.Helper()
	opts := []ggcrregistry.Option{ggcrregistry.Logger(log.New(io.Discard, "", 0))}
	if referrers {
		opts = append(opts, ggcrregistry.WithReferrersSupport(true))
	}
	srv := httptest.NewServer(ggcrregistry.New(opts...))
	t.Cleanup(srv.Close)
	proxy, err := faultproxy.New(srv.URL, 1)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(proxy.Close)
	proxy.SetLatency(300 * time.Millisecond)
	faults := make([]faultproxy.Fault, n)
	for i := range faults {
		faults[i] = faultproxy.Latency
	}
	proxy.When(slow, faults...)
	return proxy
}

// SlowTagRegistry serves the in-process registry (no referrers API: cosign's sha256-<hex> tags are the only index)
// behind a proxy that slows each read and write of such a tag, so two signers both read the tag before either writes it.
func SlowTagRegistry(t testing.TB) *faultproxy.Proxy {
	t.Helper()
	return Slowed(t, false, 40, func(r *http.Request) bool {
		return (r.Method == http.MethodGet || r.Method == http.MethodPut) && strings.Contains(r.URL.Path, "/manifests/sha256-")
	})
}

// AgentKey, in an agent process, points the breaker state at $RG_AGENT_STATE and returns the PKCS#8 ECDSA key
// in the PEM file named by $keyEnv.
func AgentKey(t testing.TB, keyEnv string) *ecdsa.PrivateKey {
	t.Helper()
	os.Setenv(breaker.DirEnv, os.Getenv(AgentStateEnv))
	raw, _ := os.ReadFile(os.Getenv(keyEnv))
	blk, _ := pem.Decode(raw)
	if blk == nil {
		t.Fatalf("$%s (%s) holds no PEM key", keyEnv, os.Getenv(keyEnv))
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	return k.(*ecdsa.PrivateKey)
}

// RunAgents runs n copies of this test binary at once, each with args (a -test.run flag, then env settings), and
// returns their exit codes and output.
func RunAgents(t testing.TB, n int, args func(i int) []string) ([]int, []string) {
	t.Helper()
	codes, outs := make([]int, n), make([]string, n)
	var wg sync.WaitGroup
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			a := args(i)
			cmd := exec.Command(os.Args[0], a[0], "-test.v")
			cmd.Env = append(os.Environ(), a[1:]...)
			b, err := cmd.CombinedOutput()
			outs[i] = string(b)
			var ee *exec.ExitError
			if errors.As(err, &ee) {
				codes[i] = ee.ExitCode()
			} else if err != nil {
				codes[i] = -1
			}
		}(i)
	}
	wg.Wait()
	return codes, outs
}
