package provenance_test

import (
	"context"
	"crypto"
	"crypto/x509"
	"encoding/pem"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	ociremote "github.com/sigstore/cosign/v2/pkg/oci/remote"

	"github.com/release-gates/release-gates/helpers/internal/provenance"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/registry/registrytest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// attLayers returns the payloads of every layer of target's sha256-<hex>.att image.
func attLayers(t *testing.T, rc *registry.Client, target registry.Target) [][]byte {
	t.Helper()
	opts := []ociremote.Option{ociremote.WithRemoteOptions(rc.RemoteOptions(context.Background())...), ociremote.WithNameOptions(rc.NameOptions()...)}
	atts, err := ociremote.SignedUnknown(target.Digest, opts...).Attestations()
	if err != nil {
		t.Fatal(err)
	}
	list, err := atts.Get()
	if err != nil {
		t.Fatal(err)
	}
	var out [][]byte
	for _, a := range list {
		p, err := a.Payload()
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	return out
}

func approvalBy(t *testing.T, target registry.Target, user string) any {
	t.Helper()
	return approvalAt(t, target, user, time.Unix(3000, 0), "rg-trace")
}

// approvalAt is user's approval of target at a time, in the build with trace id trace.
func approvalAt(t *testing.T, target registry.Target, user string, at time.Time, trace string) any {
	t.Helper()
	subj, err := provenance.SubjectOf(target.Digest.Context().Name(), target.Digest.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	a := approval()
	a.Approvers = []provenance.Approver{{User: user, At: at.UTC()}}
	a.TraceID = trace
	st, err := provenance.ApprovalStatement([]provenance.Subject{subj}, a)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

func TestReSigningTheSameStatementAttachesItOnce(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	rc := registry.New(registry.Options{PlainHTTP: true, Backoff: time.Millisecond})
	target := pushImage(t, rc, reg.Host+"/orders:1.0")
	k, pub := keyPair(t)
	ctx := context.Background()
	subj, _ := provenance.SubjectOf(target.Digest.Context().Name(), target.Digest.DigestStr())
	prov, err := provenance.Provenance([]provenance.Subject{subj}, build())
	if err != nil {
		t.Fatal(err)
	}
	later := build()
	later.FinishedOn = later.FinishedOn.Add(time.Minute) // attest provenance run again: finishedOn defaults to now
	provLater, _ := provenance.Provenance([]provenance.Subject{subj}, later)
	for i, c := range []struct {
		stmt    any
		pt      string
		replace bool
		layers  int // after this statement, signed twice
	}{
		{approvalBy(t, target, "alice"), provenance.ApprovalPredicateType, false, 1},
		{prov, provenance.SLSAPredicateType, true, 2},
		// attestRelease run again in the same build: the approvers carry no time, so "at" is now; the claim is the same
		{approvalAt(t, target, "alice", time.Unix(4000, 0), "rg-trace"), provenance.ApprovalPredicateType, false, 2},
		{provLater, provenance.SLSAPredicateType, true, 2},
		{approvalBy(t, target, "bob"), provenance.ApprovalPredicateType, false, 3},                                     // another claim is still added
		{approvalAt(t, target, "alice", time.Unix(3000, 0), "rg-trace-2"), provenance.ApprovalPredicateType, false, 4}, // so is another build's
	} {
		first, err := provenance.Sign(c.stmt, k)
		if err != nil {
			t.Fatal(err)
		}
		again, _ := provenance.Sign(c.stmt, k) // a re-run of attestRelease: ECDSA signatures are randomised
		if string(first) == string(again) {
			t.Fatal("two ECDSA signatures of one statement are byte-identical: the test would not tell layers from statements")
		}
		for _, env := range [][]byte{first, again} {
			if _, err := provenance.Attach(ctx, rc, target, env, c.pt, k.Public(), c.replace); err != nil {
				t.Fatal(err)
			}
		}
		if n := len(attLayers(t, rc, target)); n != c.layers {
			t.Fatalf("case %d: %s (replace=%v) signed twice: %d attestation layers, want %d", i, c.pt, c.replace, n, c.layers)
		}
	}
	fetched, err := provenance.Fetch(ctx, rc, target, []crypto.PublicKey{k.Public()})
	if err != nil || len(fetched) != 4 {
		t.Fatalf("fetched %d attestations, err %v", len(fetched), err)
	}
	out, err := cosignRun(t, "verify-attestation", "--key", pub, "--type", provenance.ApprovalPredicateType, "--insecure-ignore-tlog=true",
		"--allow-http-registry", target.Digest.String())
	if err != nil || !strings.Contains(out, "verified against the specified public key") {
		t.Fatalf("stock cosign verify-attestation: %v\n%s", err, out)
	}
}

func TestAttachRefusesAnEnvelopeItsKeyDidNotSign(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	rc := registry.New(registry.Options{PlainHTTP: true, Backoff: time.Millisecond})
	target := pushImage(t, rc, reg.Host+"/orders:1.0")
	k, _ := keyPair(t)
	other, _ := keyPair(t)
	env, _ := provenance.Sign(approvalBy(t, target, "alice"), k)
	if _, err := provenance.Attach(context.Background(), rc, target, env, provenance.ApprovalPredicateType, other.Public(), false); result.ClassOf(err) != result.ClassKey {
		t.Fatalf("attaching under another key: %v", err)
	}
	if n := len(attLayers(t, rc, target)); n != 0 {
		t.Fatalf("%d layers pushed for a refused envelope", n)
	}
}

// The attaching agent: attaches RG_ATT_USER's approval of RG_ATT_IMAGE signed with RG_ATT_KEY, with its own state
// dir, and exits with the helpers' exit code.
func TestHelperAttachProcess(t *testing.T) {
	if os.Getenv("RG_ATTACH_PROCESS") != "1" {
		t.Skip("run by TestTwoAgentsAttachingToOneImageKeepBothAttestations")
	}
	signer := registrytest.AgentKey(t, "RG_ATT_KEY")
	rc := registry.New(registry.Options{PlainHTTP: true, Backoff: time.Millisecond})
	ref, err := rc.Parse(os.Getenv("RG_ATT_IMAGE"))
	if err != nil {
		t.Fatal(err)
	}
	target, err := rc.Resolve(context.Background(), ref, ref.Digest)
	if err != nil {
		t.Fatal(err)
	}
	env, err := provenance.Sign(approvalBy(t, target, os.Getenv("RG_ATT_USER")), signer)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := provenance.Attach(context.Background(), rc, target, env, provenance.ApprovalPredicateType, signer.Public(), false); err != nil {
		os.Stderr.WriteString(err.Error() + "\n")
		os.Exit(result.ClassOf(err).ExitCode())
	}
}

func TestTwoAgentsAttachingToOneImageKeepBothAttestations(t *testing.T) {
	for _, c := range []struct {
		name      string
		sameKey   bool
		users     [2]string
		statement int // distinct statements, so layers expected
	}{
		{"two keys, two statements", false, [2]string{"alice", "bob"}, 2},
		{"one key, two statements", true, [2]string{"alice", "bob"}, 2},
		{"one key, one statement (a retry on another agent)", true, [2]string{"alice", "alice"}, 1},
	} {
		t.Run(c.name, func(t *testing.T) {
			proxy := registrytest.SlowTagRegistry(t)
			rc := registry.New(registry.Options{PlainHTTP: true, Backoff: time.Millisecond})
			d := registrytest.PushRandom(t, rc, proxy.Host()+"/svc/api:v1")
			target := resolve(t, rc, d.String())
			dir := t.TempDir()
			var pubs [2]crypto.PublicKey
			var keyFiles, pubFiles [2]string
			for i := range keyFiles {
				k, pubFile := keyPair(t)
				if c.sameKey && i == 1 {
					keyFiles[1], pubs[1], pubFiles[1] = keyFiles[0], pubs[0], pubFiles[0]
					continue
				}
				pubFiles[i] = pubFile
				der, _ := x509.MarshalPKCS8PrivateKey(k)
				keyFiles[i], pubs[i] = filepath.Join(dir, "key"+string(rune('0'+i))), k.Public()
				os.WriteFile(keyFiles[i], pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: der}), 0o600)
			}
			codes, outs := registrytest.RunAgents(t, 2, func(i int) []string {
				return []string{"-test.run=^TestHelperAttachProcess$", "RG_ATTACH_PROCESS=1", "RG_AGENT_STATE=" + t.TempDir(),
					"RG_ATT_KEY=" + keyFiles[i], "RG_ATT_IMAGE=" + d.String(), "RG_ATT_USER=" + c.users[i]}
			})
			for i, code := range codes {
				if code != 0 {
					t.Fatalf("agent %d exited %d:\n%s", i, code, outs[i])
				}
			}
			layers := attLayers(t, rc, target)
			if len(layers) != c.statement {
				t.Fatalf("%d attestation layers after two agents, want %d", len(layers), c.statement)
			}
			for i, pub := range pubs { // each agent's statement is there, under its key, exactly once
				n := 0
				for _, l := range layers {
					if stmt, _, err := provenance.Open(l, []crypto.PublicKey{pub}); err == nil && strings.Contains(string(stmt), `"user":"`+c.users[i]+`"`) {
						n++
					}
				}
				if n != 1 {
					t.Fatalf("agent %d's approval by %s is there %d times, want once", i, c.users[i], n)
				}
				out, err := cosignRun(t, "verify-attestation", "--key", pubFiles[i], "--type", provenance.ApprovalPredicateType,
					"--insecure-ignore-tlog=true", "--allow-http-registry", d.String())
				if err != nil || !strings.Contains(out, "verified against the specified public key") {
					t.Fatalf("stock cosign verify-attestation with agent %d's key: %v\n%s", i, err, out)
				}
			}
		})
	}
}

func resolve(t *testing.T, rc *registry.Client, digestRef string) registry.Target {
	t.Helper()
	ref, err := rc.Parse(digestRef)
	if err != nil {
		t.Fatal(err)
	}
	tg, err := rc.Resolve(context.Background(), ref, ref.Digest)
	if err != nil {
		t.Fatal(err)
	}
	return tg
}
