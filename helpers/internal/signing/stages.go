package signing

import (
	"context"
	"crypto"
	"io"
	"log"
	"slices"
	"strings"
	"sync/atomic"

	v1 "github.com/google/go-containerregistry/pkg/v1"

	"github.com/release-gates/release-gates/helpers/internal/atomicfile"
	"github.com/release-gates/release-gates/helpers/internal/blob"
	"github.com/release-gates/release-gates/helpers/internal/bundle"
	"github.com/release-gates/release-gates/helpers/internal/image"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/tsa"
	"github.com/release-gates/release-gates/helpers/internal/vocab"
)

func discard(lg *log.Logger) *log.Logger {
	if lg == nil {
		return log.New(io.Discard, "", 0)
	}
	return lg
}

// BlobSignOptions tune SignBlobs.
type BlobSignOptions struct {
	blob.SignOptions
	Load         keys.LoadOptions
	PublicKeyOut string // also write the key's public PEM here, from the key already loaded (no second decryption)
}

// SignBlobs expands patterns, signs the files with k, records one item per file and counts the signatures in keys.yaml.
func SignBlobs(ctx context.Context, rec *result.Recorder, k Key, patterns []string, o BlobSignOptions) error {
	lg := discard(o.Log)
	files, err := blob.Expand(patterns, []string{blob.SignatureSuffix, blob.BundleSuffix}, []string{o.Checksums})
	if err != nil {
		return err
	}
	rec.Set("key", k.Ref.String())
	var pubPEM []byte
	load := func(ctx context.Context) (*keys.Key, error) {
		key, err := keys.Load(ctx, k.Ref, o.Load)
		if err == nil && o.PublicKeyOut != "" {
			if pubPEM, err = key.PublicPEM(); err != nil {
				key.Close()
				return nil, err
			}
		}
		return key, err
	}
	arts, err := blob.Sign(ctx, load, files, o.SignOptions)
	if arts != nil && arts[0].KeyID != "" {
		rec.Set("key_id", arts[0].KeyID)
	}
	for _, it := range BlobItems(arts, err == nil) {
		rec.Add(it)
	}
	if err != nil {
		return err
	}
	if o.PublicKeyOut != "" {
		if err := atomicfile.WriteFile(o.PublicKeyOut, pubPEM, 0o644); err != nil {
			return result.Errorf(result.ClassInput, "writing the public key to %s: %w", o.PublicKeyOut, err)
		}
		rec.Set("public_key", o.PublicKeyOut)
	}
	lg.Printf("signed %d files", len(arts))
	var made int64
	for _, a := range arts {
		if a.Signature != "" {
			made++
		}
	}
	return k.Count(rec, made)
}

// VerifyBlobs verifies files against their detached signatures; any of pubs may match.
func VerifyBlobs(ctx context.Context, rec *result.Recorder, pubs []blob.PublicKey, patterns []string, o blob.VerifyOptions) error {
	suffix := o.SignatureSuffix
	if suffix == "" {
		suffix = blob.SignatureSuffix
	}
	files, err := blob.Expand(patterns, []string{suffix, blob.BundleSuffix}, nil)
	if err != nil {
		return err
	}
	arts, err := blob.Verify(ctx, pubs, files, o)
	for _, it := range BlobItems(arts, true) {
		rec.Add(it)
	}
	if err == nil {
		discard(o.Log).Printf("verified %d files", len(arts))
	}
	return err
}

// OptCertChain is the option that names the key's certificate chain, as vocab spells it for the user.
const OptCertChain vocab.Option = "cert-chain"

// ImageSignOptions tune SignImages.
type ImageSignOptions struct {
	Formats        []image.Format
	NotationFormat string // jws or cose
	Referrers      bool
	ExpectDigest   string // sha256:... the single image must resolve to
	BundleFormat   string // "v0.3" also attaches a sigstore bundle v0.3 referrer (cosign v3's default)
	// TimestampURL, with TimestampRootCert, gives notation signatures an RFC 3161 timestamp (notation sign --timestamp-url).
	TimestampURL      string
	TimestampRootCert string
	CertChain         string // PEM chain file, leaf first; default: the keyring's chain of k
	Parallel          int
	Load              keys.LoadOptions
	PublicKeyOut      string // also write the key's public PEM here
	Log               *log.Logger
	// Spell names the options in errors (CertChain) as the caller's user writes them; nil: helper flags.
	Spell vocab.Spelling
}

// SignImages signs every image by digest with k in the formats, records one item per image and counts the signatures.
func SignImages(ctx context.Context, rec *result.Recorder, rc *registry.Client, k Key, images []string, o ImageSignOptions) error {
	lg := discard(o.Log)
	mediaType, err := image.NotationMediaType(o.NotationFormat)
	if err != nil {
		return err
	}
	bundleFormat, err := bundle.ParseFormat(o.BundleFormat)
	if err != nil {
		return err
	}
	var expect v1.Hash
	if o.ExpectDigest != "" {
		if expect, err = v1.NewHash(o.ExpectDigest); err != nil {
			return result.Errorf(result.ClassInput, "expected digest %q: %v: use sha256:<64 hex>", o.ExpectDigest, err)
		}
	}
	chain := o.CertChain
	if chain == "" {
		chain = k.CertChain
	}
	lo := o.Load
	lo.CertChainFile = chain
	key, err := keys.Load(ctx, k.Ref, lo)
	if err != nil {
		return err
	}
	defer key.Close()
	rec.Set("key", k.Ref.String())
	rec.Set("key_id", key.ID)
	rec.Set("formats", FormatNames(o.Formats))
	if len(key.CertChain) == 0 && slices.Contains(o.Formats, image.Notation) {
		return result.Errorf(result.ClassInput, "notation signing needs the key's certificate chain (PEM, leaf first): give it with %s", vocab.Say(o.Spell, OptCertChain, nil))
	}
	if o.PublicKeyOut != "" {
		pem, err := key.PublicPEM()
		if err == nil {
			err = atomicfile.WriteFile(o.PublicKeyOut, pem, 0o644)
		}
		if err != nil {
			return result.Errorf(result.ClassInput, "writing the public key to %s: %w", o.PublicKeyOut, err)
		}
		rec.Set("public_key", o.PublicKeyOut)
	}
	ik := image.Key{Signer: key.Signer, CertChain: key.CertChain, ID: key.ID}
	if o.TimestampURL != "" || o.TimestampRootCert != "" {
		a, err := tsa.Open(o.TimestampURL, o.TimestampRootCert)
		if err != nil {
			return err
		}
		ik.Timestamper, ik.TSARootCAs = a.Timestamper, a.Roots
		rec.Set("timestamp_url", o.TimestampURL)
	}
	var made atomic.Int64
	err = image.SignAll(ctx, rc, images, ik,
		image.SignOptions{Formats: o.Formats, NotationMediaType: mediaType, Referrers: o.Referrers, BundleFormat: bundleFormat, Expect: expect, Workers: o.Parallel},
		func(out image.Outcome) {
			rec.Add(ImageItem(out, "signed", lg))
			made.Add(NewSignatures(out))
		})
	if err == nil {
		lg.Printf("signed %d images (%s)", len(images), strings.Join(FormatNames(o.Formats), "+"))
	}
	// Signatures pushed before another image failed are real and count too.
	if cerr := k.Count(rec, made.Load()); err == nil {
		err = cerr
	}
	return err
}

// ImageVerifyOptions tune VerifyImages.
type ImageVerifyOptions struct {
	Formats     []image.Format
	CosignKeys  []crypto.PublicKey
	TrustPolicy string
	TrustStore  string
	Parallel    int
	Log         *log.Logger
}

// VerifyImages requires a valid signature of each format on every image, as a deploy would check it.
func VerifyImages(ctx context.Context, rec *result.Recorder, rc *registry.Client, images []string, o ImageVerifyOptions) error {
	lg := discard(o.Log)
	vo := image.VerifyOptions{Formats: o.Formats, CosignKeys: o.CosignKeys, Workers: o.Parallel}
	for _, f := range o.Formats {
		if f == image.Notation {
			var err error
			if vo.Notation, err = image.LoadVerifier(o.TrustPolicy, o.TrustStore); err != nil {
				return err
			}
		}
	}
	rec.Set("formats", FormatNames(o.Formats))
	err := image.VerifyAll(ctx, rc, images, vo, func(out image.Outcome) { rec.Add(ImageItem(out, "verified", lg)) })
	if err == nil {
		lg.Printf("verified %d images (%s)", len(images), strings.Join(FormatNames(o.Formats), "+"))
	}
	return err
}

// PublicKeys reads verification keys (PEM files or pkcs11: URIs) with their ids, for blob verification.
func PublicKeys(ctx context.Context, list []string, opts keys.LoadOptions) ([]blob.PublicKey, error) {
	var out []blob.PublicKey
	for _, s := range list {
		pub, id, err := keys.LoadPublic(ctx, s, opts)
		if err != nil {
			return nil, err
		}
		out = append(out, blob.PublicKey{Key: pub, ID: id})
	}
	return out, nil
}
