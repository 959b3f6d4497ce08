package image_test

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"encoding/pem"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/notaryproject/notation-go"
	notationreg "github.com/notaryproject/notation-go/registry"
	"github.com/notaryproject/notation-go/signer"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/image"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/peertest"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/registry/registrytest"
	"github.com/release-gates/release-gates/helpers/internal/testing/faultproxy"
)

var both = []image.Format{image.Cosign, image.Notation}

// tagAlso tags the image at digestRef with more tags in its repository.
func tagAlso(t *testing.T, rc *registry.Client, digestRef string, tags ...string) []string {
	t.Helper()
	d, err := name.NewDigest(digestRef, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	desc, err := remote.Get(d, rc.RemoteOptions(context.Background())...)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, tag := range tags {
		tr := d.Repository.Tag(tag)
		if err := remote.Tag(tr, desc, rc.RemoteOptions(context.Background())...); err != nil {
			t.Fatal(err)
		}
		out = append(out, tr.String())
	}
	return out
}

// stockVerify runs stock notation and cosign verify against digestRef with p's CA trusted.
func stockVerify(t *testing.T, p pki, digestRef string) {
	t.Helper()
	home := t.TempDir()
	run := func(tool string, args ...string) {
		cmd := exec.Command(peertest.Tool(t, tool), args...)
		cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"), "TUF_ROOT="+filepath.Join(home, "tuf"), "DOCKER_CONFIG="+filepath.Join(home, ".docker"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("stock %s %s: %v\n%s", tool, strings.Join(args, " "), err, out)
		}
	}
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	writePEM(t, ca, "CERTIFICATE", p.CA.Raw)
	pub := filepath.Join(dir, "cosign.pub")
	der, _ := x509.MarshalPKIXPublicKey(p.LeafKey.Public())
	os.WriteFile(pub, pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der}), 0o644)
	policy, _ := p.writeTrustIn(t, dir, "*")
	run("notation", "cert", "add", "--type", "ca", "--store", "test", ca)
	run("notation", "policy", "import", "--force", policy)
	run("notation", "verify", "--insecure-registry", digestRef)
	run("cosign", "verify", "--key", pub, "--insecure-ignore-tlog=true", "--allow-http-registry", digestRef)
}

// slowListingRegistry serves an in-process registry with the OCI 1.1 referrers API (so every signature manifest
// pushed is listed, none hides behind a lost tag-index update) behind a proxy that slows each look at existing
// signatures, so that without dedupe or a lock every signer lists before any pushes. It returns the proxy.
func slowListingRegistry(t *testing.T) *faultproxy.Proxy {
	t.Helper()
	return registrytest.Slowed(t, true, 60, func(r *http.Request) bool {
		return r.Method == http.MethodGet && (strings.Contains(r.URL.Path, "/manifests/sha256-") || strings.Contains(r.URL.Path, "/referrers/"))
	})
}

func TestAliasesOfOneDigestInOneCallAreSignedOnce(t *testing.T) {
	proxy := slowListingRegistry(t)
	rc := registry.New(registry.Options{PlainHTTP: true, Backoff: time.Millisecond})
	p := newPKI(t)
	d := registrytest.PushRandom(t, rc, proxy.Host()+"/svc/api:v1").String()
	refs := append(tagAlso(t, rc, d, "v2", "latest", "stable"), d, proxy.Host()+"/svc/api:v1")
	outs, err := signAll(t, rc, refs, p.key(), image.SignOptions{Formats: both, Workers: 4})
	if err != nil {
		t.Fatalf("signing 6 aliases of one digest: %v", err)
	}
	same := 0
	for _, o := range outs {
		if o.Digest != d || !o.Notation.Verified || !o.Cosign.Verified {
			t.Fatalf("outcome %+v", o)
		}
		if o.SameAs != "" {
			same++
			if !o.Cosign.Reused || !o.Notation.Reused {
				t.Fatalf("an alias must report the first reference's signatures as reused (counted once): %+v %+v", o.Cosign, o.Notation)
			}
		}
	}
	if same != len(refs)-1 {
		t.Fatalf("%d of %d references were served by the first one's signing, want %d", same, len(refs), len(refs)-1)
	}
	if n, _ := notationSignatures(t, rc, d); n != 1 {
		t.Fatalf("%d notation signatures, want 1", n)
	}
	if n := cosignLayers(t, rc, d); n != 1 {
		t.Fatalf("%d cosign signatures, want 1", n)
	}
	stockVerify(t, p, d)
}

// The signer process: signs RG_SIGN_IMAGE with the key and chain files, sharing the parent's state dir (locks).
func TestHelperSignerProcess(t *testing.T) {
	if os.Getenv("RG_SIGNER_PROCESS") != "1" {
		t.Skip("run by TestTwoSignerProcessesOnOneImageLeaveOneSignatureEach")
	}
	os.Setenv(breaker.DirEnv, os.Getenv("RG_SHARED_STATE"))
	raw, _ := os.ReadFile(os.Getenv("RG_SIGN_KEY"))
	blk, _ := pem.Decode(raw)
	if blk == nil {
		t.Fatal("no key PEM")
	}
	k, err := x509.ParsePKCS8PrivateKey(blk.Bytes)
	if err != nil {
		t.Fatal(err)
	}
	signer := k.(*ecdsa.PrivateKey)
	chain, err := keys.ReadCertChain(os.Getenv("RG_SIGN_CHAIN"))
	if err != nil {
		t.Fatal(err)
	}
	rc := registry.New(registry.Options{PlainHTTP: true, Backoff: time.Millisecond})
	if _, err := signAll(t, rc, []string{os.Getenv("RG_SIGN_IMAGE")}, image.Key{Signer: signer, CertChain: chain, ID: "proc"}, image.SignOptions{Formats: both}); err != nil {
		t.Fatal(err)
	}
}

func TestTwoSignerProcessesOnOneImageLeaveOneSignatureEach(t *testing.T) {
	proxy := slowListingRegistry(t)
	rc := registry.New(registry.Options{PlainHTTP: true, Backoff: time.Millisecond})
	p := newPKI(t)
	d := registrytest.PushRandom(t, rc, proxy.Host()+"/svc/api:v1").String()
	dir := t.TempDir()
	der, _ := x509.MarshalPKCS8PrivateKey(p.LeafKey)
	keyFile, chainFile := filepath.Join(dir, "leaf.key"), filepath.Join(dir, "chain.pem")
	os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
	os.WriteFile(chainFile, keys.EncodeCerts(p.Leaf, p.CA), 0o644)
	shared := t.TempDir()
	var wg sync.WaitGroup
	errs := make([]error, 2)
	outs := make([]string, 2)
	for i := range errs {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			cmd := exec.Command(os.Args[0], "-test.run=^TestHelperSignerProcess$", "-test.v")
			cmd.Env = append(os.Environ(), "RG_SIGNER_PROCESS=1", "RG_SHARED_STATE="+shared, "RG_SIGN_KEY="+keyFile, "RG_SIGN_CHAIN="+chainFile, "RG_SIGN_IMAGE="+d)
			b, err := cmd.CombinedOutput()
			errs[i], outs[i] = err, string(b)
		}(i)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil {
			t.Fatalf("signer %d: %v\n%s", i, err, outs[i])
		}
	}
	if n, _ := notationSignatures(t, rc, d); n != 1 {
		t.Fatalf("%d notation signatures after two concurrent signers, want 1", n)
	}
	if n := cosignLayers(t, rc, d); n != 1 {
		t.Fatalf("%d cosign signatures after two concurrent signers, want 1", n)
	}
	stockVerify(t, p, d)
}

func TestACorruptExistingNotationSignatureIsReplacedNotReused(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	rc := registry.New(registry.Options{PlainHTTP: true, Backoff: time.Millisecond})
	p := newPKI(t)
	d := registrytest.PushRandom(t, rc, reg.Host+"/svc/api:v1").String()
	dg, _ := name.NewDigest(d, name.Insecure)
	or, err := rc.Repository(dg.Repository)
	if err != nil {
		t.Fatal(err)
	}
	repo := notationreg.NewRepository(or)
	desc, err := repo.Resolve(context.Background(), dg.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	// A signature by the right certificate over the right digest that still fails verification: the signed
	// descriptor has another size, as a buggy or tampered signer would write it. Stock notation rejects it.
	gs, err := signer.NewGenericSigner(p.LeafKey, []*x509.Certificate{p.Leaf, p.CA})
	if err != nil {
		t.Fatal(err)
	}
	wrong := desc
	wrong.Size++
	sig, _, err := gs.Sign(context.Background(), wrong, notation.SignerSignOptions{SignatureMediaType: image.MediaTypeJWS})
	if err != nil {
		t.Fatal(err)
	}
	if _, _, err := repo.PushSignature(context.Background(), image.MediaTypeJWS, sig, desc, map[string]string{ocispec.AnnotationCreated: time.Now().Format(time.RFC3339)}); err != nil {
		t.Fatal(err)
	}
	outs, err := signAll(t, rc, []string{d}, p.key(), image.SignOptions{Formats: []image.Format{image.Notation}})
	if err != nil {
		t.Fatalf("re-signing over a corrupt signature: %v", err)
	}
	if o := outs[0].Notation; o.Reused || !o.Verified || len(o.Removed) != 1 {
		t.Fatalf("notation outcome %+v: want a new signature and the corrupt one removed", o)
	}
	if n, _ := notationSignatures(t, rc, d); n != 1 {
		t.Fatalf("%d notation signatures, want 1", n)
	}
	stockVerifyNotationOnly(t, p, d)
	again, err := signAll(t, rc, []string{d}, p.key(), image.SignOptions{Formats: []image.Format{image.Notation}})
	if err != nil || !again[0].Notation.Reused {
		t.Fatalf("signing again must reuse the verified signature: %+v %v", again, err)
	}
}

func stockVerifyNotationOnly(t *testing.T, p pki, digestRef string) {
	t.Helper()
	home := t.TempDir()
	dir := t.TempDir()
	ca := filepath.Join(dir, "ca.pem")
	writePEM(t, ca, "CERTIFICATE", p.CA.Raw)
	policy, _ := p.writeTrustIn(t, dir, "*")
	for _, args := range [][]string{{"cert", "add", "--type", "ca", "--store", "test", ca}, {"policy", "import", "--force", policy}, {"verify", "--insecure-registry", digestRef}} {
		cmd := exec.Command(peertest.Tool(t, "notation"), args...)
		cmd.Env = append(os.Environ(), "HOME="+home, "XDG_CONFIG_HOME="+filepath.Join(home, ".config"))
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("stock notation %v: %v\n%s", args, err, out)
		}
	}
}
