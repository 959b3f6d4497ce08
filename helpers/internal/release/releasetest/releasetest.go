// Package releasetest builds complete release evidence (signed image, attestations, blob, trust files) for tests and demos.
package releasetest

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/release-gates/release-gates/helpers/internal/decision"
	"github.com/release-gates/release-gates/helpers/internal/image"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/ledger"
	"github.com/release-gates/release-gates/helpers/internal/provenance"
	"github.com/release-gates/release-gates/helpers/internal/registry"
)

// Defaults of a good release.
const (
	Repo    = "https://git.example/orders.git"
	Branch  = "main"
	Builder = "https://jenkins.example/job/orders/"
	Env     = "prod"
)

// Kit holds the keys and trust files shared by the releases of one test; files live in Dir.
type Kit struct {
	Dir            string
	SignKey        *ecdsa.PrivateKey // image and blob signing key (cosign + notation leaf)
	ReleaseKey     *ecdsa.PrivateKey // attestation key
	AuditKey       *ecdsa.PrivateKey // ledger key
	CosignPub      string            // files
	ReleasePub     string
	AuditPub       string
	TrustPolicy    string
	TrustStore     string
	CertChainPEM   string
	AuditKeyFile   string // cosign-format encrypted keys, password KeyPassword
	ReleaseKeyFile string
	RelayKey       *decision.Signer // the approval relay's decision key: Build signs each approval's decision record with it
	RelayPub       string           // its public key (PEM)
	image          image.Key
}

// KeyPassword encrypts AuditKeyFile and ReleaseKeyFile (a test-only value).
const KeyPassword = "test-key-pass"

// NewKit creates keys, a notation CA and leaf, and writes the public halves and trust files into dir.
func NewKit(dir string) (*Kit, error) {
	k := &Kit{Dir: dir}
	var err error
	for _, p := range []**ecdsa.PrivateKey{&k.SignKey, &k.ReleaseKey, &k.AuditKey} {
		if *p, err = ecdsa.GenerateKey(elliptic.P256(), rand.Reader); err != nil {
			return nil, err
		}
	}
	ca, err := keys.NewCA("CN=release-gates demo,O=example,C=US,ST=WA,L=Seattle", 24*time.Hour)
	if err != nil {
		return nil, err
	}
	cert, err := ca.IssueCodeSigning(k.SignKey.Public(), "CN=release signer,O=example,C=US,ST=WA,L=Seattle", 23*time.Hour)
	if err != nil {
		return nil, err
	}
	id, _ := keys.KeyID(k.SignKey.Public())
	k.image = image.Key{Signer: k.SignKey, CertChain: []*x509.Certificate{cert, ca.Cert}, ID: id}
	relay, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	if k.RelayKey, err = decision.NewSigner(relay); err != nil {
		return nil, err
	}
	write := func(name string, b []byte) (string, error) {
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			return "", err
		}
		return p, os.WriteFile(p, b, 0o644)
	}
	pubs := []struct {
		file string
		key  crypto.PublicKey
		dst  *string
	}{{"cosign.pub", k.SignKey.Public(), &k.CosignPub}, {"release.pub", k.ReleaseKey.Public(), &k.ReleasePub}, {"audit.pub", k.AuditKey.Public(), &k.AuditPub}}
	for _, p := range pubs {
		b, err := keys.MarshalPublicPEM(p.key)
		if err != nil {
			return nil, err
		}
		if *p.dst, err = write(p.file, b); err != nil {
			return nil, err
		}
	}
	if k.RelayPub, err = write("relay.pub", k.RelayKey.PublicPEM()); err != nil {
		return nil, err
	}
	if _, err = write("truststore/x509/ca/release-gates/ca.pem", keys.EncodeCerts(ca.Cert)); err != nil {
		return nil, err
	}
	k.TrustStore = filepath.Join(dir, "truststore")
	policy := `{"version":"1.0","trustPolicies":[{"name":"release-gates","registryScopes":["*"],"signatureVerification":{"level":"strict","override":{"revocation":"skip"}},"trustStores":["ca:release-gates"],"trustedIdentities":["*"]}]}`
	if k.TrustPolicy, err = write("trustpolicy.json", []byte(policy)); err != nil {
		return nil, err
	}
	if k.CertChainPEM, err = write("chain.pem", keys.EncodeCerts(cert, ca.Cert)); err != nil {
		return nil, err
	}
	return k, nil
}

// WriteKeyFiles writes the audit and release keys as cosign-format encrypted files (password KeyPassword, also
// in Dir/key.pass); scrypt makes this slow, so only tests that load key files call it.
func (k *Kit) WriteKeyFiles() error {
	write := func(name string, b []byte) (string, error) {
		p := filepath.Join(k.Dir, name)
		return p, os.WriteFile(p, b, 0o600)
	}
	for _, f := range []struct {
		key  *ecdsa.PrivateKey
		name string
		dst  *string
	}{{k.AuditKey, "audit.key", &k.AuditKeyFile}, {k.ReleaseKey, "release.key", &k.ReleaseKeyFile}} {
		enc, err := keys.EncryptPrivateKey(f.key, []byte(KeyPassword))
		if err != nil {
			return err
		}
		if *f.dst, err = write(f.name, enc); err != nil {
			return err
		}
	}
	if _, err := write("key.pass", []byte(KeyPassword+"\n")); err != nil {
		return err
	}
	return nil
}

// Spec describes one release to build; zero fields take the good defaults.
type Spec struct {
	Repo, Branch, Builder, Commit string
	Environment                   string
	Approvers                     []string
	MinApprovals                  int
	NoNotation, NoCosign          bool
	NoProvenance, NoApproval      bool
	TraceID                       string
	DecisionRecord                func(digest string) []byte // when set, the approval embeds what it returns for the image digest (sha256:...)
	NoDecisionRecord              bool                       // the approval embeds no decision record (by default: one signed with Kit.RelayKey)
}

// Release is what Build made.
type Release struct {
	Digest    string // repo@sha256:...
	Blob      string
	BlobSig   string
	Spec      Spec
	StartedOn time.Time
}

// Build pushes a random image to host/repoName, signs it and attaches the attestations Spec asks for, and writes a signed blob.
func (k *Kit) Build(ctx context.Context, rc *registry.Client, host, repoName string, s Spec) (Release, error) {
	fill(&s)
	img, err := random.Image(256, 1)
	if err != nil {
		return Release{}, err
	}
	ref, err := name.ParseReference(host+"/"+repoName+":"+s.TraceID, name.Insecure)
	if err != nil {
		return Release{}, err
	}
	if err := remote.Write(ref, img, rc.RemoteOptions(ctx)...); err != nil {
		return Release{}, fmt.Errorf("pushing %s: %w", ref, err)
	}
	d, _ := img.Digest()
	digest := ref.Context().Digest(d.String()).String()
	var formats []image.Format
	if !s.NoCosign {
		formats = append(formats, image.Cosign)
	}
	if !s.NoNotation {
		formats = append(formats, image.Notation)
	}
	if len(formats) > 0 {
		if err := image.SignAll(ctx, rc, []string{digest}, k.image, image.SignOptions{Formats: formats, Workers: 1}, func(image.Outcome) {}); err != nil {
			return Release{}, fmt.Errorf("signing %s: %w", digest, err)
		}
	}
	pr, _ := rc.Parse(digest)
	target, err := rc.Resolve(ctx, pr, d)
	if err != nil {
		return Release{}, err
	}
	subj, err := provenance.SubjectOf(target.Digest.Context().Name(), d.String())
	if err != nil {
		return Release{}, err
	}
	rel := Release{Digest: digest, Spec: s, StartedOn: time.Now().UTC()}
	if !s.NoProvenance {
		st, err := provenance.Provenance([]provenance.Subject{subj}, provenance.Build{BuilderID: s.Builder, Repository: s.Repo, Branch: s.Branch,
			Commit: s.Commit, Module: "example.com/orders", GoVersion: "go1.24", GOOS: "linux", GOARCH: "amd64", TraceID: s.TraceID,
			Gates:     []provenance.Gate{{Name: "modverify", Status: "passed"}, {Name: "apidiff", Status: "passed"}, {Name: "smoke", Status: "passed"}},
			StartedOn: rel.StartedOn.Add(-time.Minute), FinishedOn: rel.StartedOn})
		if err != nil {
			return Release{}, err
		}
		if err := k.attach(ctx, rc, target, st, provenance.SLSAPredicateType, true); err != nil {
			return Release{}, err
		}
	}
	if !s.NoApproval {
		var aps []provenance.Approver
		for _, u := range s.Approvers {
			aps = append(aps, provenance.Approver{User: u, At: rel.StartedOn})
		}
		st, err := provenance.ApprovalStatement([]provenance.Subject{subj}, provenance.Approval{Environment: s.Environment, Approvers: aps,
			Rule: provenance.Rule{Name: s.Environment + "-rule", MinApprovals: s.MinApprovals}, TraceID: s.TraceID, BuildURL: s.Builder + "7/"})
		if err != nil {
			return Release{}, err
		}
		switch {
		case s.DecisionRecord != nil:
			st.Predicate.DecisionRecord = s.DecisionRecord(d.String())
		case !s.NoDecisionRecord:
			if st.Predicate.DecisionRecord, err = k.Record(s, d.String(), rel.StartedOn); err != nil {
				return Release{}, err
			}
			st.Predicate.RelayKeyID = k.RelayKey.KeyID
		}
		if err := k.attach(ctx, rc, target, st, provenance.ApprovalPredicateType, false); err != nil {
			return Release{}, err
		}
	}
	rel.Blob = filepath.Join(k.Dir, strings.ReplaceAll(s.TraceID, "/", "_")+".bin")
	body := []byte("binary of " + s.TraceID)
	if err := os.WriteFile(rel.Blob, body, 0o644); err != nil {
		return Release{}, err
	}
	sig, err := ledger.Sign(k.SignKey, body)
	if err != nil {
		return Release{}, err
	}
	rel.BlobSig = rel.Blob + ".sig"
	return rel, os.WriteFile(rel.BlobSig, []byte(base64.StdEncoding.EncodeToString(sig)), 0o644)
}

// Record returns the decision record the relay signs for s's approval of digest (sha256:...): approved by s.Approvers.
func (k *Kit) Record(s Spec, digest string, at time.Time) ([]byte, error) {
	r := decision.Record{RequestID: "req-" + s.TraceID, TraceID: s.TraceID, BuildURL: s.Builder, Service: "orders", Environment: s.Environment,
		Commit: s.Commit, Branch: s.Branch, Digests: []string{digest}, Decision: "approved", DecidedAt: at,
		Rule: decision.Rule{Service: "orders", Environment: s.Environment, Required: s.MinApprovals, MaxTimeout: "1h0m0s"}}
	for _, u := range s.Approvers {
		r.Approvers = append(r.Approvers, decision.Approver{SlackID: u, Name: u, Decision: "approve", EventID: "1-" + u, At: at})
	}
	return k.RelayKey.Sign(r)
}

func (k *Kit) attach(ctx context.Context, rc *registry.Client, target registry.Target, stmt any, pt string, replace bool) error {
	env, err := provenance.Sign(stmt, k.ReleaseKey)
	if err != nil {
		return err
	}
	_, err = provenance.Attach(ctx, rc, target, env, pt, k.ReleaseKey.Public(), replace)
	return err
}

func fill(s *Spec) {
	def := func(p *string, v string) {
		if *p == "" {
			*p = v
		}
	}
	def(&s.Repo, Repo)
	def(&s.Branch, Branch)
	def(&s.Builder, Builder+"7/")
	def(&s.Environment, Env)
	if s.TraceID == "" {
		b := make([]byte, 6)
		_, _ = rand.Read(b)
		s.TraceID = "rg-" + hex.EncodeToString(b)
	}
	if s.Commit == "" {
		sum := sha256.Sum256([]byte(s.TraceID))
		s.Commit = hex.EncodeToString(sum[:20])
	}
	if s.Approvers == nil {
		s.Approvers = []string{"alice", "bob"}
	}
	if s.MinApprovals == 0 {
		s.MinApprovals = 2
	}
}
