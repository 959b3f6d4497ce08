package provenance_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/peertest"
	"github.com/release-gates/release-gates/helpers/internal/provenance"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/registry/registrytest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func build() provenance.Build {
	return provenance.Build{BuilderID: "https://jenkins.example/job/orders/7/", Repository: "https://git.example/orders.git",
		Commit: strings.Repeat("ab", 20), Branch: "main", Module: "example.com/orders", GoVersion: "go1.24.0", GOOS: "linux", GOARCH: "amd64",
		Gates: []provenance.Gate{{Name: "modverify", Status: "passed"}}, StartedOn: time.Unix(1000, 0), FinishedOn: time.Unix(2000, 0), TraceID: "rg-trace"}
}

func approval() provenance.Approval {
	return provenance.Approval{Environment: "prod", Approvers: []provenance.Approver{{User: "alice", At: time.Unix(3000, 0).UTC()}},
		Rule: provenance.Rule{Name: "prod-two-eyes", MinApprovals: 1}, TraceID: "rg-trace"}
}

func keyPair(t *testing.T) (*ecdsa.PrivateKey, string) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	pemb, err := keys.MarshalPublicPEM(k.Public())
	if err != nil {
		t.Fatal(err)
	}
	pub := filepath.Join(t.TempDir(), "release.pub")
	if err := os.WriteFile(pub, pemb, 0o644); err != nil {
		t.Fatal(err)
	}
	return k, pub
}

func pushImage(t *testing.T, c *registry.Client, ref string) registry.Target {
	t.Helper()
	d := registrytest.PushRandom(t, c, ref)
	rr, _ := c.Parse(d.String())
	h, err := v1.NewHash(d.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	tg, err := c.Resolve(context.Background(), rr, h)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}

func cosignRun(t *testing.T, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(peertest.Tool(t, "cosign"), args...)
	cmd.Env = append(os.Environ(), "COSIGN_EXPERIMENTAL=0", "TUF_ROOT="+t.TempDir())
	out, err := cmd.CombinedOutput()
	return string(out), err
}

func TestStockCosignVerifiesOurImageAttestations(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	rc := registry.New(registry.Options{PlainHTTP: true, Backoff: time.Millisecond})
	target := pushImage(t, rc, reg.Host+"/orders:1.0")
	k, pub := keyPair(t)
	subj, err := provenance.SubjectOf(target.Digest.Context().Name(), target.Digest.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	prov, err := provenance.Provenance([]provenance.Subject{subj}, build())
	if err != nil {
		t.Fatal(err)
	}
	appr, err := provenance.ApprovalStatement([]provenance.Subject{subj}, approval())
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for i, st := range []struct {
		stmt any
		pt   string
	}{{prov, provenance.SLSAPredicateType}, {appr, provenance.ApprovalPredicateType}} {
		env, err := provenance.Sign(st.stmt, k)
		if err != nil {
			t.Fatal(err)
		}
		for try := 0; try < 2; try++ { // a retried attach adds no duplicate
			tag, err := provenance.Attach(ctx, rc, target, env, st.pt, k.Public(), i == 0)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasSuffix(tag, "sha256-"+target.Digest.DigestStr()[7:]+".att") {
				t.Fatalf("tag = %s", tag)
			}
		}
	}
	for _, typ := range []string{"slsaprovenance1", provenance.ApprovalPredicateType} {
		out, err := cosignRun(t, "verify-attestation", "--key", pub, "--type", typ, "--insecure-ignore-tlog=true",
			"--allow-http-registry", "--allow-insecure-registry", target.Digest.String())
		if err != nil || !strings.Contains(out, "verified against the specified public key") {
			t.Fatalf("cosign verify-attestation --type %s: %v\n%s", typ, err, out)
		}
	}
	fetched, err := provenance.Fetch(ctx, rc, target, []crypto.PublicKey{k.Public()})
	if err != nil || len(fetched) != 2 {
		t.Fatalf("fetched %d attestations, err %v", len(fetched), err)
	}
	other, otherPub := keyPair(t)
	_ = other
	if out, err := cosignRun(t, "verify-attestation", "--key", otherPub, "--type", "slsaprovenance1", "--insecure-ignore-tlog=true",
		"--allow-http-registry", target.Digest.String()); err == nil {
		t.Fatalf("cosign accepted the attestation under another key:\n%s", out)
	}
	if _, err := provenance.Fetch(ctx, rc, target, []crypto.PublicKey{other.Public()}); result.ClassOf(err) != result.ClassTamper {
		t.Fatalf("Fetch under another key: %v", err)
	}
}

func TestStockCosignVerifiesOurBlobAttestationAndRejectsAnotherBlob(t *testing.T) {
	dir := t.TempDir()
	blob := filepath.Join(dir, "orders-linux-amd64")
	os.WriteFile(blob, []byte("binary bytes"), 0o644)
	sum := sha256.Sum256([]byte("binary bytes"))
	subj, _ := provenance.SubjectOf("orders-linux-amd64", "sha256:"+hex.EncodeToString(sum[:]))
	prov, _ := provenance.Provenance([]provenance.Subject{subj}, build())
	k, pub := keyPair(t)
	env, err := provenance.Sign(prov, k)
	if err != nil {
		t.Fatal(err)
	}
	att := filepath.Join(dir, "orders.intoto.json")
	os.WriteFile(att, env, 0o644)
	out, err := cosignRun(t, "verify-blob-attestation", "--key", pub, "--signature", att, "--type", "slsaprovenance1", "--insecure-ignore-tlog=true", blob)
	if err != nil {
		t.Fatalf("cosign verify-blob-attestation: %v\n%s", err, out)
	}
	other := filepath.Join(dir, "other")
	os.WriteFile(other, []byte("other bytes"), 0o644)
	if out, err := cosignRun(t, "verify-blob-attestation", "--key", pub, "--signature", att, "--type", "slsaprovenance1", "--insecure-ignore-tlog=true", other); err == nil {
		t.Fatalf("cosign accepted the attestation for another blob:\n%s", out)
	}
}

func TestOpenRejectsAnEditedPayload(t *testing.T) {
	k, _ := keyPair(t)
	subj, _ := provenance.SubjectOf("x", "sha256:"+strings.Repeat("0", 64))
	prov, _ := provenance.Provenance([]provenance.Subject{subj}, build())
	env, _ := provenance.Sign(prov, k)
	stmt, pt, err := provenance.Open(env, []crypto.PublicKey{k.Public()})
	if err != nil || pt != provenance.SLSAPredicateType || !strings.Contains(string(stmt), `"invocationID":"rg-trace"`) {
		t.Fatalf("open: %s %s %v", stmt, pt, err)
	}
	edited := strings.Replace(string(env), `"payload":"`, `"payload":"eyJ9`, 1)
	if _, _, err := provenance.Open([]byte(edited), []crypto.PublicKey{k.Public()}); result.ClassOf(err) != result.ClassTamper {
		t.Fatalf("edited payload: %v", err)
	}
}

func TestStatementsRefuseMissingFields(t *testing.T) {
	subj, _ := provenance.SubjectOf("x", "sha256:"+strings.Repeat("0", 64))
	cases := map[string]func(*provenance.Build){
		"no builder":  func(b *provenance.Build) { b.BuilderID = "" },
		"no branch":   func(b *provenance.Build) { b.Branch = "" },
		"bad commit":  func(b *provenance.Build) { b.Commit = "HEAD" },
		"no trace id": func(b *provenance.Build) { b.TraceID = "" },
	}
	for n, mut := range cases {
		t.Run(n, func(t *testing.T) {
			b := build()
			mut(&b)
			if _, err := provenance.Provenance([]provenance.Subject{subj}, b); result.ClassOf(err) != result.ClassInput {
				t.Fatalf("err = %v", err)
			}
		})
	}
	if _, err := provenance.SubjectOf("x", "md5:abc"); result.ClassOf(err) != result.ClassInput {
		t.Fatalf("bad digest: %v", err)
	}
}
