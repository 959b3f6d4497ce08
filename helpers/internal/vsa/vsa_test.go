package vsa_test

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"crypto"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/release-gates/release-gates/helpers/internal/breaker/breakertest"
	"github.com/release-gates/release-gates/helpers/internal/peertest"
	"github.com/release-gates/release-gates/helpers/internal/provenance"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/registry/registrytest"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/vsa"
)

func TestMain(m *testing.M) { breakertest.Main(m) }

const password = "vsa-pw"

func registries(t *testing.T) map[string]string {
	t.Helper()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)), ggcrregistry.WithReferrersSupport(true)))
	t.Cleanup(srv.Close)
	deb := registrytest.Start(t, registrytest.Options{})
	return map[string]string{"referrers API": strings.TrimPrefix(srv.URL, "http://"), "fallback tag": deb.Host}
}

func push(t *testing.T, rc *registry.Client, ref string) registry.Target {
	t.Helper()
	d := registrytest.PushRandom(t, rc, ref)
	r, err := rc.Parse(d.String())
	if err != nil {
		t.Fatal(err)
	}
	tg, err := rc.Resolve(context.Background(), r, r.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func statement(t *testing.T, image string) provenance.Statement[vsa.Predicate] {
	t.Helper()
	s, err := vsa.Statement(vsa.Input{Image: image, VerifierVersion: "test", Policy: map[string]string{"environment": "prod"},
		Evidence: []vsa.Descriptor{{Name: "ledger-head", URI: "ledger.jsonl", Digest: map[string]string{"sha256": strings.Repeat("ab", 32)}}}})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestAVSAIsIssuedOnceAndAcceptedByUsAndStockCosign(t *testing.T) {
	ctx := context.Background()
	rc := registry.New(registry.Options{PlainHTTP: true, Backoff: time.Millisecond})
	verifier, other := peertest.CachedKey(t, "verifier", "verifier", password), peertest.CachedKey(t, "other", "verifier", password)
	for name, host := range registries(t) {
		t.Run(name+"/legacy image", func(t *testing.T) {
			// an image signed the cosign v2 way gets a VSA in that layout, which both stock versions read
			tg := push(t, rc, host+"/legacy:1")
			issued, err := vsa.Issue(ctx, rc, tg, verifier.Key.Signer, statement(t, tg.Digest.String()), "")
			if err != nil || issued.Bundle != nil {
				t.Fatalf("issue: %+v %v, want no bundle", issued, err)
			}
			for _, tool := range []string{"cosign", "cosign3"} {
				args := []string{"verify-attestation", "--type", vsa.PredicateType, "--key", verifier.Pub, "--insecure-ignore-tlog=true", "--allow-http-registry", tg.Digest.String()}
				if out, err := peertest.Run(t, tool, nil, args...); err != nil {
					t.Fatalf("%s refused the VSA: %v: %s", tool, err, out)
				}
			}
		})
		t.Run(name, func(t *testing.T) {
			tg := push(t, rc, host+"/svc:1")
			stmt := statement(t, tg.Digest.String())
			if _, err := vsa.Issue(ctx, rc, tg, verifier.Key.Signer, stmt, "v0.3"); err != nil {
				t.Fatal(err)
			}
			again, err := vsa.Issue(ctx, rc, tg, verifier.Key.Signer, stmt, "")
			if err != nil || again.Bundle == nil || !again.Bundle.Reused {
				t.Fatalf("re-issuing pushed a duplicate bundle: %+v %v", again, err)
			}
			got, err := vsa.Verify(ctx, rc, tg.Digest.String(), []crypto.PublicKey{verifier.Key.Public()}, vsa.Expect{})
			if err != nil || got.Predicate.ResourceURI != tg.Digest.String() || got.Predicate.VerificationResult != vsa.Passed {
				t.Fatalf("verify: %+v %v", got, err)
			}
			t.Run("stock cosign v2 and v3 verify-attestation accept it", func(t *testing.T) {
				for _, tool := range []string{"cosign", "cosign3"} {
					// offline, a v0.3 bundle needs a trusted root (cosign v2.6.5 also auto-detects bundles); online it is TUF's
					args := []string{"verify-attestation", "--type", vsa.PredicateType, "--key", verifier.Pub, "--insecure-ignore-tlog=true", "--allow-http-registry",
						"--trusted-root", peertest.EmptyTrustedRoot(t)}
					if out, err := peertest.Run(t, tool, nil, append(args, tg.Digest.String())...); err != nil {
						t.Fatalf("%s refused the VSA: %v: %s", tool, err, out)
					}
					bad := append([]string{}, args...)
					bad[4] = other.Pub
					if out, err := peertest.Run(t, tool, nil, append(bad, tg.Digest.String())...); err == nil {
						t.Fatalf("%s accepted the VSA with another key: %s", tool, out)
					}
				}
			})
			t.Run("a VSA signed by an untrusted key is rejected", func(t *testing.T) {
				_, err := vsa.Verify(ctx, rc, tg.Digest.String(), []crypto.PublicKey{other.Key.Public()}, vsa.Expect{})
				if result.ClassOf(err).ExitCode() != 1 || !strings.Contains(err.Error(), "verif") {
					t.Fatalf("err = %v, want exit 1", err)
				}
			})
			t.Run("a VSA about another digest is rejected", func(t *testing.T) {
				victim := push(t, rc, host+"/svc:2")
				// the VSA of tg, copied onto victim: its subject is not the victim's digest
				env, err := provenance.Sign(stmt, verifier.Key.Signer)
				if err != nil {
					t.Fatal(err)
				}
				if _, err := provenance.Attach(ctx, rc, victim, env, vsa.PredicateType, verifier.Key.Public(), true); err != nil {
					t.Fatal(err)
				}
				_, err = vsa.Verify(ctx, rc, victim.Digest.String(), []crypto.PublicKey{verifier.Key.Public()}, vsa.Expect{})
				if result.ClassOf(err).ExitCode() != 1 {
					t.Fatalf("copied VSA: err = %v, want exit 1", err)
				}
				// a VSA whose subject is the victim but whose resourceUri names the other image
				forged := statement(t, victim.Digest.String())
				forged.Predicate.ResourceURI = tg.Digest.String()
				env, _ = provenance.Sign(forged, verifier.Key.Signer)
				if _, err := provenance.Attach(ctx, rc, victim, env, vsa.PredicateType, verifier.Key.Public(), true); err != nil {
					t.Fatal(err)
				}
				_, err = vsa.Verify(ctx, rc, victim.Digest.String(), []crypto.PublicKey{verifier.Key.Public()}, vsa.Expect{})
				if result.ClassOf(err).ExitCode() != 1 || !strings.Contains(err.Error(), "it is for") {
					t.Fatalf("resourceUri of another image: err = %v, want exit 1 naming the resourceUri", err)
				}
			})
			t.Run("a VSA lacking a required level or from another verifier is rejected", func(t *testing.T) {
				for _, e := range []vsa.Expect{{Levels: []string{"SLSA_BUILD_LEVEL_3"}}, {VerifierID: "https://other.example/verifier"}} {
					if _, err := vsa.Verify(ctx, rc, tg.Digest.String(), []crypto.PublicKey{verifier.Key.Public()}, e); result.ClassOf(err) != result.ClassPolicy {
						t.Fatalf("%+v: err = %v, want policy", e, err)
					}
				}
			})
		})
	}
}

func TestStatementRefusesATagAsResource(t *testing.T) {
	if _, err := vsa.Statement(vsa.Input{Image: "registry.example/svc:1.0"}); result.ClassOf(err) != result.ClassInput {
		t.Fatalf("err = %v, want input", err)
	}
}
