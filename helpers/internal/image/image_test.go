package image_test

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"strings"
	"sync"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/notaryproject/notation-go/registry"
	"github.com/opencontainers/go-digest"
	ocispec "github.com/opencontainers/image-spec/specs-go/v1"

	"github.com/release-gates/release-gates/helpers/internal/image"
	reg "github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/registry/registrytest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func signAll(t *testing.T, rc *reg.Client, images []string, k image.Key, opts image.SignOptions) ([]image.Outcome, error) {
	t.Helper()
	var mu sync.Mutex
	var outs []image.Outcome
	err := image.SignAll(context.Background(), rc, images, k, opts, func(o image.Outcome) {
		mu.Lock()
		outs = append(outs, o)
		mu.Unlock()
	})
	return outs, err
}

func verifyAll(t *testing.T, rc *reg.Client, images []string, opts image.VerifyOptions) error {
	t.Helper()
	return image.VerifyAll(context.Background(), rc, images, opts, func(image.Outcome) {})
}

// cosignLayers counts the layers of the cosign .sig image of digestRef.
func cosignLayers(t *testing.T, rc *reg.Client, digestRef string) int {
	t.Helper()
	d, err := name.NewDigest(digestRef, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	tag := d.Context().Tag(strings.Replace(d.DigestStr(), ":", "-", 1) + ".sig")
	img, err := remote.Image(tag, rc.RemoteOptions(context.Background())...)
	if err != nil {
		t.Fatalf("reading %s: %v", tag, err)
	}
	m, err := img.Manifest()
	if err != nil {
		t.Fatal(err)
	}
	for _, l := range m.Layers {
		if l.MediaType != "application/vnd.dev.cosign.simplesigning.v1+json" || l.Annotations["dev.cosignproject.cosign/signature"] == "" {
			t.Fatalf("layer is not a cosign signature layer: %+v", l)
		}
	}
	return len(m.Layers)
}

// notationSignatures counts notation signature manifests attached to digestRef.
func notationSignatures(t *testing.T, rc *reg.Client, digestRef string) (n int, mediaTypes []string) {
	t.Helper()
	d, _ := name.NewDigest(digestRef, name.Insecure)
	r, err := rc.Repository(d.Context())
	if err != nil {
		t.Fatal(err)
	}
	repo := registry.NewRepository(r)
	desc, err := repo.Resolve(context.Background(), d.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	err = repo.ListSignatures(context.Background(), desc, func(ms []ocispec.Descriptor) error {
		for _, m := range ms {
			_, bd, err := repo.FetchSignatureBlob(context.Background(), m)
			if err != nil {
				return err
			}
			n++
			mediaTypes = append(mediaTypes, bd.MediaType)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n, mediaTypes
}

func TestSignAllWritesBothSignaturesByDigestAndVerifiesThem(t *testing.T) {
	cases := []struct {
		name      string
		referrers bool
		mediaType string
		key       func(pki) image.Key
		noAPI     bool // the registry has no referrers API: the sha256-<hex> fallback index is used
	}{
		{"file key, JWS, sig tag", false, image.MediaTypeJWS, pki.key, false},
		{"file key, COSE, sig tag", false, image.MediaTypeCOSE, pki.key, false},
		{"opaque key through the in-process plugin, JWS", false, image.MediaTypeJWS, func(p pki) image.Key {
			k := p.key()
			k.Signer = opaqueSigner{k.Signer}
			return k
		}, false},
		{"opaque key through the in-process plugin, COSE", false, image.MediaTypeCOSE, func(p pki) image.Key {
			k := p.key()
			k.Signer = opaqueSigner{k.Signer}
			return k
		}, false},
		{"file key, OCI 1.1 referrers", true, image.MediaTypeJWS, pki.key, false},
		{"file key, OCI 1.1 referrers on a registry without the referrers API", true, image.MediaTypeJWS, pki.key, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			host, rc := startRegistry(t, tc.referrers && !tc.noAPI)
			p := newPKI(t)
			digestRef := registrytest.PushRandom(t, rc, host+"/app:v1").String()
			outs, err := signAll(t, rc, []string{host + "/app:v1"}, tc.key(p), image.SignOptions{
				Formats: []image.Format{image.Cosign, image.Notation}, NotationMediaType: tc.mediaType, Referrers: tc.referrers,
			})
			if err != nil {
				t.Fatalf("sign: %v", err)
			}
			o := outs[0]
			if o.Digest != digestRef || o.Given != host+"/app:v1" {
				t.Fatalf("outcome names %q / %q, want %q", o.Given, o.Digest, digestRef)
			}
			if !o.Cosign.Verified || !o.Notation.Verified || o.Notation.MediaType != tc.mediaType {
				t.Fatalf("not verified after signing: %+v %+v", o.Cosign, o.Notation)
			}
			if n, mts := notationSignatures(t, rc, digestRef); n != 1 || mts[0] != tc.mediaType {
				t.Fatalf("notation signatures = %d %v, want 1 %s", n, mts, tc.mediaType)
			}
			if !tc.referrers && cosignLayers(t, rc, digestRef) != 1 {
				t.Fatal("want exactly one cosign signature layer")
			}
			policy, store := p.writeTrust(t, "*")
			v, err := image.LoadVerifier(policy, store)
			if err != nil {
				t.Fatal(err)
			}
			if err := verifyAll(t, rc, []string{digestRef}, image.VerifyOptions{
				Formats: []image.Format{image.Cosign, image.Notation}, CosignKeys: []crypto.PublicKey{p.LeafKey.Public()}, Notation: v,
			}); err != nil {
				t.Fatalf("verify: %v", err)
			}
		})
	}
}

func TestSigningTheSameDigestTwiceAddsNoDuplicateSignature(t *testing.T) {
	for _, referrers := range []bool{false, true} {
		t.Run(map[bool]string{false: "sig tag", true: "referrers"}[referrers], func(t *testing.T) {
			host, rc := startRegistry(t, referrers)
			p := newPKI(t)
			digestRef := registrytest.PushRandom(t, rc, host+"/app:v1").String()
			opts := image.SignOptions{Formats: []image.Format{image.Cosign, image.Notation}, Referrers: referrers}
			if _, err := signAll(t, rc, []string{host + "/app:v1"}, p.key(), opts); err != nil {
				t.Fatal(err)
			}
			outs, err := signAll(t, rc, []string{digestRef}, p.key(), opts)
			if err != nil {
				t.Fatal(err)
			}
			if !outs[0].Cosign.Reused || !outs[0].Notation.Reused {
				t.Fatalf("second signing pushed again: %+v %+v", outs[0].Cosign, outs[0].Notation)
			}
			if !referrers {
				if n := cosignLayers(t, rc, digestRef); n != 1 {
					t.Fatalf("cosign layers after two signings = %d, want 1", n)
				}
			}
			if n, _ := notationSignatures(t, rc, digestRef); n != 1 {
				t.Fatalf("notation signatures after two signings = %d, want 1", n)
			}
			// Another key is a new signature, not a duplicate.
			other := p
			other.LeafKey, _ = ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
			other = other.issue(t, other.LeafKey.Public())
			if _, err := signAll(t, rc, []string{digestRef}, other.key(), opts); err != nil {
				t.Fatal(err)
			}
			if !referrers {
				if n := cosignLayers(t, rc, digestRef); n != 2 {
					t.Fatalf("cosign layers after a second key = %d, want 2", n)
				}
			}
			if n, _ := notationSignatures(t, rc, digestRef); n != 2 {
				t.Fatalf("notation signatures after a second key = %d, want 2", n)
			}
		})
	}
}

func TestVerifyAllRejectsMissingInvalidAndUntrustedSignatures(t *testing.T) {
	host, rc := startRegistry(t, false)
	p := newPKI(t)
	both := registrytest.PushRandom(t, rc, host+"/app:both").String()
	cosignOnly := registrytest.PushRandom(t, rc, host+"/app:cosign-only").String()
	notationOnly := registrytest.PushRandom(t, rc, host+"/app:notation-only").String()
	unsigned := registrytest.PushRandom(t, rc, host+"/other:v1").String()
	mustSign := func(ref string, f ...image.Format) {
		if _, err := signAll(t, rc, []string{ref}, p.key(), image.SignOptions{Formats: f}); err != nil {
			t.Fatal(err)
		}
	}
	mustSign(both, image.Cosign, image.Notation)
	mustSign(cosignOnly, image.Cosign)
	mustSign(notationOnly, image.Notation)

	policy, store := p.writeTrust(t, "*")
	v, err := image.LoadVerifier(policy, store)
	if err != nil {
		t.Fatal(err)
	}
	scopedPolicy, scopedStore := p.writeTrust(t, host+"/elsewhere")
	scoped, err := image.LoadVerifier(scopedPolicy, scopedStore)
	if err != nil {
		t.Fatal(err)
	}
	otherPKI := newPKI(t)
	otherPolicy, otherStore := otherPKI.writeTrust(t, "*")
	otherCA, err := image.LoadVerifier(otherPolicy, otherStore)
	if err != nil {
		t.Fatal(err)
	}
	otherKey, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	all := []image.Format{image.Cosign, image.Notation}
	pub := []crypto.PublicKey{p.LeafKey.Public()}
	cases := []struct {
		name    string
		ref     string
		opts    image.VerifyOptions
		class   result.Class
		mention string
	}{
		{"both signatures pass", both, image.VerifyOptions{Formats: all, CosignKeys: pub, Notation: v}, "", ""},
		{"any of several keys passes", both, image.VerifyOptions{Formats: all, CosignKeys: []crypto.PublicKey{otherKey.Public(), pub[0]}, Notation: v}, "", ""},
		{"a missing notation signature fails naming notation", cosignOnly, image.VerifyOptions{Formats: all, CosignKeys: pub, Notation: v}, result.ClassTamper, "notation"},
		{"a missing cosign signature fails naming cosign", notationOnly, image.VerifyOptions{Formats: all, CosignKeys: pub, Notation: v}, result.ClassTamper, "cosign"},
		{"narrowing to cosign passes a cosign-only image", cosignOnly, image.VerifyOptions{Formats: []image.Format{image.Cosign}, CosignKeys: pub}, "", ""},
		{"an unsigned image fails", unsigned, image.VerifyOptions{Formats: all, CosignKeys: pub, Notation: v}, result.ClassTamper, "no signature"},
		{"the wrong cosign key fails", both, image.VerifyOptions{Formats: all, CosignKeys: []crypto.PublicKey{otherKey.Public()}, Notation: v}, result.ClassTamper, "cosign"},
		{"an untrusted CA fails notation", both, image.VerifyOptions{Formats: all, CosignKeys: pub, Notation: otherCA}, result.ClassTamper, "notation"},
		{"a policy that does not cover the image is a policy failure", both, image.VerifyOptions{Formats: []image.Format{image.Notation}, Notation: scoped}, result.ClassPolicy, "trust policy"},
		{"cosign without a key is bad input", both, image.VerifyOptions{Formats: all, Notation: v}, result.ClassInput, "--key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := verifyAll(t, rc, []string{tc.ref}, tc.opts)
			if got := result.ClassOf(err); got != tc.class {
				t.Fatalf("class = %q, want %q (err %v)", got, tc.class, err)
			}
			if err != nil && !strings.Contains(err.Error(), tc.mention) {
				t.Fatalf("error %q does not mention %q", err, tc.mention)
			}
		})
	}
}

func TestVerifyRejectsATamperedNotationSignature(t *testing.T) {
	host, rc := startRegistry(t, false)
	p := newPKI(t)
	digestRef := registrytest.PushRandom(t, rc, host+"/app:v1").String()
	if _, err := signAll(t, rc, []string{digestRef}, p.key(), image.SignOptions{Formats: []image.Format{image.Notation}}); err != nil {
		t.Fatal(err)
	}
	tamperNotation(t, rc, digestRef)
	policy, store := p.writeTrust(t, "*")
	v, _ := image.LoadVerifier(policy, store)
	err := verifyAll(t, rc, []string{digestRef}, image.VerifyOptions{Formats: []image.Format{image.Notation}, Notation: v})
	if result.ClassOf(err) != result.ClassTamper || !strings.Contains(err.Error(), "notation") {
		t.Fatalf("want a notation tamper failure, got %v", err)
	}
}

// tamperNotation replaces the signature blob of digestRef's notation signature with one whose payload byte is flipped.
func tamperNotation(t *testing.T, rc *reg.Client, digestRef string) {
	t.Helper()
	ctx := context.Background()
	d, _ := name.NewDigest(digestRef, name.Insecure)
	r, err := rc.Repository(d.Context())
	if err != nil {
		t.Fatal(err)
	}
	repo := registry.NewRepository(r)
	desc, err := repo.Resolve(ctx, d.DigestStr())
	if err != nil {
		t.Fatal(err)
	}
	var blob []byte
	var bdesc ocispec.Descriptor
	err = repo.ListSignatures(ctx, desc, func(ms []ocispec.Descriptor) error {
		blob, bdesc, err = repo.FetchSignatureBlob(ctx, ms[0])
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// Flip one character of the base64url signature (the JWS's last field).
	s := string(blob)
	i := strings.LastIndex(s, `"signature":"`) + len(`"signature":"`) + 5
	c := byte('A')
	if s[i] == 'A' {
		c = 'B'
	}
	bad := []byte(s[:i] + string(c) + s[i+1:])
	// Push the altered envelope as a new signature and delete nothing: the verifier must refuse it.
	// Remove the good one first so only the tampered signature is left.
	if err := r.Delete(ctx, ocispec.Descriptor{MediaType: bdesc.MediaType, Digest: digest.FromBytes(blob), Size: int64(len(blob))}); err != nil {
		t.Logf("deleting the original blob: %v", err)
	}
	if _, _, err := repo.PushSignature(ctx, bdesc.MediaType, bad, desc, map[string]string{"io.cncf.notary.x509chain.thumbprint#S256": `["x"]`}); err != nil {
		t.Fatal(err)
	}
}

func TestBadInputFailsBeforeAnythingIsSigned(t *testing.T) {
	host, rc := startRegistry(t, false)
	p := newPKI(t)
	good := registrytest.PushRandom(t, rc, host+"/app:v1").String()
	cases := []struct {
		name   string
		images []string
		key    image.Key
		class  result.Class
	}{
		{"an unknown image is bad input", []string{host + "/app:missing"}, p.key(), result.ClassInput},
		{"a moved tag is tamper", []string{host + "/app:v1@sha256:" + strings.Repeat("1", 64)}, p.key(), result.ClassTamper},
		{"an unparsable reference is bad input", []string{good, "not a ref"}, p.key(), result.ClassInput},
		{"no images is bad input", nil, p.key(), result.ClassInput},
		{"notation without a certificate chain is bad input", []string{good}, image.Key{Signer: p.LeafKey}, result.ClassInput},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := signAll(t, rc, tc.images, tc.key, image.SignOptions{Formats: []image.Format{image.Cosign, image.Notation}})
			if got := result.ClassOf(err); got != tc.class {
				t.Fatalf("class = %q, want %q (err %v)", got, tc.class, err)
			}
		})
	}
	if n, _ := notationSignatures(t, rc, good); n != 0 {
		t.Fatalf("a failed batch signed %d images", n)
	}
}

func TestParseFormatsAndNotationMediaType(t *testing.T) {
	cases := []struct {
		in    string
		want  string
		class result.Class
	}{
		{"", "cosign,notation", ""},
		{"cosign", "cosign", ""},
		{"notation, cosign", "notation,cosign", ""},
		{"cosign,cosign", "cosign", ""},
		{"gpg", "", result.ClassInput},
	}
	for _, tc := range cases {
		t.Run("formats "+tc.in, func(t *testing.T) {
			fs, err := image.ParseFormats(tc.in)
			if result.ClassOf(err) != tc.class {
				t.Fatalf("err %v", err)
			}
			var s []string
			for _, f := range fs {
				s = append(s, string(f))
			}
			if strings.Join(s, ",") != tc.want {
				t.Fatalf("got %v", s)
			}
		})
	}
	for in, want := range map[string]string{"": image.MediaTypeJWS, "jws": image.MediaTypeJWS, "COSE": image.MediaTypeCOSE, "pgp": ""} {
		got, err := image.NotationMediaType(in)
		if got != want || (want == "") != (err != nil) {
			t.Fatalf("NotationMediaType(%q) = %q, %v", in, got, err)
		}
	}
}
