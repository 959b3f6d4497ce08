package bundle_test

import (
	"context"
	"crypto"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/release-gates/release-gates/helpers/internal/bundle"
	"github.com/release-gates/release-gates/helpers/internal/peertest"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/registry/registrytest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// registries gives both ways referrers are found: the OCI 1.1 referrers API (go-containerregistry's in-process
// registry) and the sha256-<hex> fallback tag index (Debian's docker-registry 2.8, which has no referrers API).
func registries(t *testing.T) map[string]string {
	t.Helper()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0)), ggcrregistry.WithReferrersSupport(true)))
	t.Cleanup(srv.Close)
	deb := registrytest.Start(t, registrytest.Options{})
	return map[string]string{"referrers API": strings.TrimPrefix(srv.URL, "http://"), "fallback tag": deb.Host}
}

func client() *registry.Client {
	return registry.New(registry.Options{PlainHTTP: true, Backoff: time.Millisecond})
}

func target(t *testing.T, rc *registry.Client, host, repo string) registry.Target {
	t.Helper()
	d := registrytest.PushRandom(t, rc, host+"/"+repo+":v1")
	ref, err := rc.Parse(d.String())
	if err != nil {
		t.Fatal(err)
	}
	tg, err := rc.Resolve(context.Background(), ref, ref.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

// verifyArgs are the offline key-based flags for stock cosign verify / verify-attestation against a plain-HTTP
// registry; cosign v2 needs --new-bundle-format to look at bundles, v3 does by default.
func verifyArgs(t *testing.T, tool, verb, pub string) []string {
	a := []string{verb, "--key", pub, "--insecure-ignore-tlog=true", "--allow-http-registry", "--trusted-root", peertest.EmptyTrustedRoot(t)}
	if tool == "cosign" {
		a = append(a, "--new-bundle-format")
	}
	return a
}

func TestImageBundlesInteropWithStockCosignBothWays(t *testing.T) {
	k, other := testKey(t, "main"), testKey(t, "other")
	ctx := context.Background()
	rc := client()
	for regName, host := range registries(t) {
		for _, tool := range []string{"cosign", "cosign3"} {
			t.Run(regName+"/"+tool, func(t *testing.T) {
				t.Run("it verifies our signature and refuses another key", func(t *testing.T) {
					tg := target(t, rc, host, "ours/"+tool)
					out, err := bundle.SignImage(ctx, rc, tg, k.Key.Signer)
					if err != nil || out.Reused {
						t.Fatalf("sign: %+v %v", out, err)
					}
					again, err := bundle.SignImage(ctx, rc, tg, k.Key.Signer)
					if err != nil || !again.Reused {
						t.Fatalf("re-signing pushed a duplicate: %+v %v", again, err)
					}
					atts, err := bundle.Fetch(ctx, rc, tg)
					if err != nil || len(atts) != 1 {
						t.Fatalf("%d bundles attached (%v), want exactly 1", len(atts), err)
					}
					if o, err := peer(t, tool, append(verifyArgs(t, tool, "verify", k.Pub), tg.Digest.String())...); err != nil {
						t.Fatalf("%s verify refused our bundle: %v: %s", tool, err, o)
					}
					if o, err := peer(t, tool, append(verifyArgs(t, tool, "verify", other.Pub), tg.Digest.String())...); err == nil {
						t.Fatalf("%s verify accepted our bundle with another key: %s", tool, o)
					}
				})
				t.Run("it verifies our attestation", func(t *testing.T) {
					tg := target(t, rc, host, "ours-att/"+tool)
					stmt, _ := bundle.SubjectStatement(tg.Descriptor.Digest.Hex, "https://example.com/test/v1", map[string]any{"ok": true})
					if _, err := bundle.AttestImage(ctx, rc, tg, k.Key.Signer, stmt); err != nil {
						t.Fatal(err)
					}
					if again, err := bundle.AttestImage(ctx, rc, tg, k.Key.Signer, stmt); err != nil || !again.Reused {
						t.Fatalf("re-attesting pushed a duplicate: %+v %v", again, err)
					}
					args := append(verifyArgs(t, tool, "verify-attestation", k.Pub), "--type", "https://example.com/test/v1", tg.Digest.String())
					if o, err := peer(t, tool, args...); err != nil {
						t.Fatalf("%s verify-attestation refused our bundle: %v: %s", tool, err, o)
					}
				})
				t.Run("we verify its signature and attestation", func(t *testing.T) {
					tg := target(t, rc, host, "theirs/"+tool)
					extra := []string{"--tlog-upload=false", "--allow-http-registry", "-y", "--key", k.Priv}
					if tool == "cosign" {
						extra = append(extra, "--new-bundle-format")
					}
					extra = offlineSign(tool, extra)
					if o, err := peer(t, tool, append(append([]string{"sign"}, extra...), tg.Digest.String())...); err != nil {
						t.Fatalf("%s sign: %v: %s", tool, err, o)
					}
					pred := t.TempDir() + "/pred.json"
					writeFile(t, pred, `{"from":"`+tool+`"}`)
					if o, err := peer(t, tool, append(append([]string{"attest", "--type", "https://example.com/peer/v1", "--predicate", pred}, extra...), tg.Digest.String())...); err != nil {
						t.Fatalf("%s attest: %v: %s", tool, err, o)
					}
					n, idx, bad, err := bundle.VerifyImageSignature(ctx, rc, tg, []crypto.PublicKey{other.Key.Public(), k.Key.Public()})
					if err != nil || n != 1 || idx != 1 {
						t.Fatalf("signatures: n=%d idx=%d bad=%v err=%v, want 1 by key 1", n, idx, bad, err)
					}
					stmts, _, err := bundle.VerifyImageStatements(ctx, rc, tg, []crypto.PublicKey{k.Key.Public()})
					if err != nil {
						t.Fatal(err)
					}
					found := false
					for _, s := range stmts {
						var st struct {
							Predicate map[string]string `json:"predicate"`
						}
						json.Unmarshal(s.JSON, &st)
						if s.PredicateType == "https://example.com/peer/v1" && st.Predicate["from"] == tool {
							found = true
						}
					}
					if !found {
						t.Fatalf("no verified attestation from %s among %d statements", tool, len(stmts))
					}
					n, _, bad, err = bundle.VerifyImageSignature(ctx, rc, tg, []crypto.PublicKey{other.Key.Public()})
					if err != nil || n != 0 || result.ClassOf(bad) != result.ClassTamper {
						t.Fatalf("another key: n=%d bad=%v err=%v, want none valid and a tamper reason", n, bad, err)
					}
				})
			})
		}
	}
}
