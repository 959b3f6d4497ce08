package image_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/hex"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"
	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/release-gates/release-gates/helpers/internal/image"
	"github.com/release-gates/release-gates/helpers/internal/peertest"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/registry/registrytest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// The signing agent: cosign-signs RG_AGENT_IMAGE with RG_AGENT_KEY in its own state dir (so its lock is its own,
// as on another machine) and exits with the helpers' exit code.
func TestHelperCosignAgent(t *testing.T) {
	if os.Getenv("RG_COSIGN_AGENT") != "1" {
		t.Skip("run by TestTwoAgentsSigningOneImageKeepEachSignatureOnce")
	}
	k := registrytest.AgentKey(t, "RG_AGENT_KEY")
	rc := registry.New(registry.Options{PlainHTTP: true, Backoff: time.Millisecond})
	err := image.SignAll(context.Background(), rc, []string{os.Getenv("RG_AGENT_IMAGE")}, image.Key{Signer: k, ID: "agent"},
		image.SignOptions{Formats: []image.Format{image.Cosign}}, func(image.Outcome) {})
	if err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(result.ClassOf(err).ExitCode())
	}
}

func TestTwoAgentsSigningOneImageKeepEachSignatureOnce(t *testing.T) {
	for _, c := range []struct {
		name    string
		sameKey bool
		layers  int
	}{
		{"two keys", false, 2},
		{"one key (a retry on another agent)", true, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			proxy := registrytest.SlowTagRegistry(t)
			rc := registry.New(registry.Options{PlainHTTP: true, Backoff: time.Millisecond})
			d := registrytest.PushRandom(t, rc, proxy.Host()+"/svc/api:v1").String()
			dir := t.TempDir()
			var keyFiles, pubFiles [2]string
			var pubs [2]crypto.PublicKey
			for i := range keyFiles {
				if c.sameKey && i == 1 {
					keyFiles[1], pubFiles[1], pubs[1] = keyFiles[0], pubFiles[0], pubs[0]
					continue
				}
				k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
				der, _ := x509.MarshalPKCS8PrivateKey(k)
				keyFiles[i] = filepath.Join(dir, "agent"+string(rune('0'+i))+".key")
				writePEM(t, keyFiles[i], "PRIVATE KEY", der)
				pder, _ := x509.MarshalPKIXPublicKey(k.Public())
				pubFiles[i], pubs[i] = keyFiles[i]+".pub", k.Public()
				writePEM(t, pubFiles[i], "PUBLIC KEY", pder)
			}
			codes, outs := registrytest.RunAgents(t, 2, func(i int) []string {
				return []string{"-test.run=^TestHelperCosignAgent$", "RG_COSIGN_AGENT=1", "RG_AGENT_STATE=" + t.TempDir(),
					"RG_AGENT_KEY=" + keyFiles[i], "RG_AGENT_IMAGE=" + d}
			})
			for i, code := range codes {
				if code != 0 {
					t.Fatalf("agent %d exited %d:\n%s", i, code, outs[i])
				}
			}
			if n := cosignLayers(t, rc, d); n != c.layers {
				t.Fatalf("%d cosign signatures after two agents, want %d", n, c.layers)
			}
			for i, pub := range pubs { // each agent's signature is there exactly once, and stock cosign accepts it
				if _, err := image.VerifyCosign(context.Background(), rc, resolveDigest(t, rc, d), []crypto.PublicKey{pub}, false); err != nil {
					t.Fatalf("agent %d's signature: %v", i, err)
				}
				cmd := exec.Command(peertest.Tool(t, "cosign"), "verify", "--key", pubFiles[i], "--insecure-ignore-tlog=true", "--allow-http-registry", d)
				cmd.Env = append(os.Environ(), "TUF_ROOT="+t.TempDir())
				out, err := cmd.CombinedOutput()
				if err != nil {
					t.Fatalf("stock cosign verify with agent %d's key: %v\n%s", i, err, out)
				}
				if got := strings.Count(string(out), `"critical"`); got != 1 {
					t.Fatalf("stock cosign found %d signatures by agent %d's key, want 1:\n%s", got, i, out)
				}
			}
		})
	}
}

// swallowingRegistry answers every write of a .sig tag with success and stores nothing, as if another signer's
// write always landed right after ours.
func swallowingRegistry(t *testing.T) string {
	t.Helper()
	inner := ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)))
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut && strings.Contains(r.URL.Path, "/manifests/sha256-") && strings.HasSuffix(r.URL.Path, ".sig") {
			b, _ := io.ReadAll(r.Body)
			sum := sha256.Sum256(b)
			w.Header().Set("Docker-Content-Digest", "sha256:"+hex.EncodeToString(sum[:]))
			w.WriteHeader(http.StatusCreated)
			return
		}
		inner.ServeHTTP(w, r)
	}))
	t.Cleanup(srv.Close)
	return strings.TrimPrefix(srv.URL, "http://")
}

func TestASignatureOverwrittenEveryRoundIsExit3NotTamper(t *testing.T) {
	isolateState(t)
	host := swallowingRegistry(t)
	rc := registry.New(registry.Options{PlainHTTP: true, Backoff: time.Millisecond})
	d := registrytest.PushRandom(t, rc, host+"/svc/api:v1").String()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	_, err := image.SignCosign(context.Background(), rc, resolveDigest(t, rc, d), k, false)
	if cls := result.ClassOf(err); cls != result.ClassUnavailable || cls.ExitCode() != 3 {
		t.Fatalf("class %s (exit %d), want unavailable (exit 3): %v", cls, cls.ExitCode(), err)
	}
	if !strings.Contains(err.Error(), "another signer overwrote it") {
		t.Fatalf("the message must say what happened: %v", err)
	}
}

func resolveDigest(t *testing.T, rc *registry.Client, digestRef string) registry.Target {
	t.Helper()
	ref, err := rc.Parse(digestRef)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := rc.Resolve(context.Background(), ref, v1.Hash{})
	if err != nil {
		t.Fatal(err)
	}
	return tg
}
