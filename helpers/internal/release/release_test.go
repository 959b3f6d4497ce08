package release_test

import (
	"context"
	"crypto"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/release-gates/release-gates/helpers/internal/image"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/ledger"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/release"
	"github.com/release-gates/release-gates/helpers/internal/release/releasetest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

type env struct {
	kit  *releasetest.Kit
	rc   *registry.Client
	host string
}

func setup(t *testing.T) env {
	t.Helper()
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	kit, err := releasetest.NewKit(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return env{kit: kit, rc: registry.New(registry.Options{PlainHTTP: true, Backoff: time.Millisecond}), host: strings.TrimPrefix(srv.URL, "http://")}
}

func (e env) build(t *testing.T, s releasetest.Spec) releasetest.Release {
	t.Helper()
	r, err := e.kit.Build(context.Background(), e.rc, e.host, "orders", s)
	if err != nil {
		t.Fatal(err)
	}
	return r
}

func (e env) options(t *testing.T, r releasetest.Release) release.Options {
	t.Helper()
	nv, err := image.LoadVerifier(e.kit.TrustPolicy, e.kit.TrustStore)
	if err != nil {
		t.Fatal(err)
	}
	return release.Options{Image: r.Digest, CosignKeys: []crypto.PublicKey{e.kit.SignKey.Public()}, Notation: nv,
		ReleaseKeys: []crypto.PublicKey{e.kit.ReleaseKey.Public()}, Blobs: []release.Blob{{Path: r.Blob, Signature: r.BlobSig}},
		Expect: release.Expect{Repository: releasetest.Repo, Branch: releasetest.Branch, BuilderPrefix: releasetest.Builder,
			Environment: releasetest.Env, MinApprovals: 2, RelayKeys: []crypto.PublicKey{e.kit.RelayKey.PublicKey()}}}
}

func TestVerifyReturnsTheDigestWhenAllEvidenceHolds(t *testing.T) {
	e := setup(t)
	r := e.build(t, releasetest.Spec{})
	var names []string
	out, err := release.Verify(context.Background(), e.rc, e.options(t, r), func(c release.Check) { names = append(names, c.Name) })
	if err != nil {
		t.Fatal(err)
	}
	if out.Digest != r.Digest || out.Provenance == nil || out.Approval == nil {
		t.Fatalf("outcome = %+v", out)
	}
	if strings.Join(names, ",") != "revocation,image signatures,blob signatures,provenance,approval" {
		t.Fatalf("checks = %v", names)
	}
}

func TestVerifyRejectsEachMissingOrWrongPieceOfEvidence(t *testing.T) {
	e := setup(t)
	good := e.build(t, releasetest.Spec{})
	cases := []struct {
		name   string
		spec   *releasetest.Spec
		adjust func(*release.Options)
		class  result.Class
		want   string
	}{
		{"a missing notation signature", &releasetest.Spec{NoNotation: true}, nil, result.ClassTamper, "notation: no signature found"},
		{"a missing cosign signature", &releasetest.Spec{NoCosign: true}, nil, result.ClassTamper, "cosign: no signature found"},
		{"provenance from another branch", &releasetest.Spec{Branch: "feature/x"}, nil, result.ClassPolicy, `branch is "feature/x", want "main"`},
		{"provenance from another builder", &releasetest.Spec{Builder: "https://evil.example/job/orders/1/"}, nil, result.ClassPolicy, "builder is"},
		{"provenance from another repository", &releasetest.Spec{Repo: "https://git.example/fork.git"}, nil, result.ClassPolicy, "repository is"},
		{"provenance for another commit", nil, func(o *release.Options) { o.Expect.Commit = strings.Repeat("f", 40) }, result.ClassPolicy, "commit is"},
		{"no provenance at all", &releasetest.Spec{NoProvenance: true}, nil, result.ClassTamper, "no SLSA provenance attestation"},
		{"a missing approval", &releasetest.Spec{NoApproval: true}, nil, result.ClassPolicy, "no approval attestation for environment prod"},
		{"an approval for another environment", &releasetest.Spec{Environment: "staging"}, nil, result.ClassPolicy, "approvals found for: staging"},
		{"an approval under the required count", &releasetest.Spec{Approvers: []string{"alice"}, MinApprovals: 1}, nil, result.ClassPolicy, "1 distinct approver(s)"},
		{"the same approver twice", &releasetest.Spec{Approvers: []string{"alice", "alice"}, MinApprovals: 1}, nil, result.ClassPolicy, "1 distinct approver(s)"},
		{"a revoked signing key", nil, func(o *release.Options) {
			id, _ := keys.KeyID(e.kit.SignKey.Public())
			o.RevokedIDs = []string{id}
		}, result.ClassPolicy, "revoked: cosign key"},
		{"a blob whose signature does not match", nil, func(o *release.Options) { o.Blobs[0].Path = o.Blobs[0].Signature }, result.ClassTamper, "does not verify"},
		{"attestations signed by an untrusted key", nil, func(o *release.Options) { o.ReleaseKeys = []crypto.PublicKey{e.kit.AuditKey.Public()} }, result.ClassTamper, "provenance:"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			r := good
			if c.spec != nil {
				r = e.build(t, *c.spec)
			}
			o := e.options(t, r)
			if c.adjust != nil {
				c.adjust(&o)
			}
			out, err := release.Verify(context.Background(), e.rc, o, nil)
			if err == nil || result.ClassOf(err) != c.class || result.ClassOf(err).ExitCode() != result.ExitRejected || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v (class %s), want %s containing %q", err, result.ClassOf(err), c.class, c.want)
			}
			_ = out
		})
	}
}

func TestVerifyRefusesIncompleteOptionsAsBadInput(t *testing.T) {
	e := setup(t)
	r := e.build(t, releasetest.Spec{})
	for name, adjust := range map[string]func(*release.Options){
		"no image":         func(o *release.Options) { o.Image = "" },
		"no release key":   func(o *release.Options) { o.ReleaseKeys = nil },
		"no environment":   func(o *release.Options) { o.Expect.Environment = "" },
		"no notation":      func(o *release.Options) { o.Notation = nil },
		"blob without sig": func(o *release.Options) { o.Blobs[0].Signature = "" },
	} {
		t.Run(name, func(t *testing.T) {
			o := e.options(t, r)
			adjust(&o)
			if _, err := release.Verify(context.Background(), e.rc, o, nil); result.ClassOf(err) != result.ClassInput {
				t.Fatalf("err = %v", err)
			}
		})
	}
}

func TestRollbackSkipsAReleaseWhoseEvidenceNoLongerVerifiesAndRecordsTheChoice(t *testing.T) {
	e := setup(t)
	ctx := context.Background()
	index := e.kit.Dir + "/releases.jsonl"
	r1 := e.build(t, releasetest.Spec{TraceID: "rg-r1"})
	r2 := e.build(t, releasetest.Spec{TraceID: "rg-r2", NoNotation: true}) // recorded, but its evidence no longer holds
	r3 := e.build(t, releasetest.Spec{TraceID: "rg-r3"})
	stg := e.build(t, releasetest.Spec{TraceID: "rg-s1", Environment: "staging"})
	for _, r := range []releasetest.Release{r1, r2, stg, r3} {
		if _, err := release.Record(index, e.kit.AuditKey, r.Spec.TraceID, release.Outcome{Digest: r.Digest}, r.Spec.Environment); err != nil {
			t.Fatal(err)
		}
	}
	opts := release.RollbackOptions{Index: index, IndexKeys: []crypto.PublicKey{e.kit.AuditKey.Public()}, Current: r3.Digest, Verify: e.options(t, r3)}
	opts.Verify.Blobs = nil
	out, tried, err := release.FindRollback(ctx, e.rc, opts, nil)
	if err != nil {
		t.Fatal(err)
	}
	if out.Digest != r1.Digest || len(tried) != 2 || tried[0].Digest != r2.Digest || tried[0].Err == nil {
		t.Fatalf("chose %s after %+v", out.Digest, tried)
	}
	if err := release.RecordRollback(index, e.kit.AuditKey, "rg-rb", "prod", r3.Digest, out, tried); err != nil {
		t.Fatal(err)
	}
	rep, err := ledger.Verify(index, ledger.VerifyOptions{Keys: []crypto.PublicKey{e.kit.AuditKey.Public()}})
	if err != nil || rep.Entries[rep.Records-1].Kind != ledger.KindRollback || rep.Entries[rep.Records-1].Subject != r1.Digest {
		t.Fatalf("index after rollback: %+v %v", rep.Entries[rep.Records-1], err)
	}

	t.Run("with no verifiable candidate it is a rejection", func(t *testing.T) {
		o := opts
		o.Current = r1.Digest
		o.Verify.Expect.Environment = "staging"
		o.Verify.RevokedIDs = []string{mustID(t, e.kit.SignKey.Public())}
		_, _, err := release.FindRollback(ctx, e.rc, o, nil)
		if result.ClassOf(err) != result.ClassRejected || !strings.Contains(err.Error(), "no release for environment staging still verifies") {
			t.Fatalf("err = %v", err)
		}
	})
	t.Run("with a tampered index it refuses to choose", func(t *testing.T) {
		b, _ := os.ReadFile(index)
		os.WriteFile(index, []byte(strings.Replace(string(b), `"environment":"staging"`, `"environment":"prod"`, 1)), 0o644)
		_, _, err := release.FindRollback(ctx, e.rc, opts, nil)
		if result.ClassOf(err) != result.ClassTamper {
			t.Fatalf("err = %v", err)
		}
	})
}

func mustID(t *testing.T, pub crypto.PublicKey) string {
	id, err := keys.KeyID(pub)
	if err != nil {
		t.Fatal(err)
	}
	return id
}
