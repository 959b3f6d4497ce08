package image

import (
	"context"
	"crypto"
	"crypto/x509"
	"sync"
	"time"

	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/notaryproject/notation-go"

	"github.com/release-gates/release-gates/helpers/internal/bundle"
	reg "github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Outcome is what happened to one image.
type Outcome struct {
	Given    string // the reference as given
	Digest   string // repo@sha256:..., what was signed or verified ("" when it never resolved)
	SameAs   string // sign: an earlier reference of this call that resolved to the same digest and was signed for both
	Cosign   *CosignOutcome
	Notation *NotationOutcome
	Checked  []Format // formats verified (verify)
	Err      error
	Duration time.Duration
}

// SignOptions select what SignAll writes.
type SignOptions struct {
	Formats           []Format
	NotationMediaType string  // MediaTypeJWS (default) or MediaTypeCOSE
	Referrers         bool    // cosign: OCI 1.1 referrers instead of the .sig tag
	BundleFormat      string  // cosign: "v0.3" also attaches a sigstore bundle referrer, as cosign v3 signs by default
	Expect            v1.Hash // the digest a single image must resolve to (zero: no check)
	Workers           int     // images signed in parallel; default 4
}

// VerifyOptions select what VerifyAll requires.
type VerifyOptions struct {
	Formats    []Format
	CosignKeys []crypto.PublicKey
	Notation   notation.Verifier
	Workers    int
	// Distrusted says why a notation signing certificate no longer counts ("" when it does): e.g. it belongs to a
	// revoked or archived key. Such a signature is skipped as if it failed verification.
	Distrusted func(leaf *x509.Certificate) string
}

// SignAll signs every image by digest in the requested formats and verifies each signature right after writing it.
// All references are parsed before anything is signed. each is called once per image, possibly concurrently.
// The returned error carries the most severe failure class.
func SignAll(ctx context.Context, rc *reg.Client, images []string, k Key, opts SignOptions, each func(Outcome)) error {
	if err := k.check(opts.Formats); err != nil {
		return err
	}
	if opts.NotationMediaType == "" {
		opts.NotationMediaType = MediaTypeJWS
	}
	var (
		mu   sync.Mutex
		seen = map[string]*signedOnce{}
	)
	return forEach(ctx, rc, images, opts.Expect, opts.Workers, each, func(ctx context.Context, t reg.Target, o *Outcome) error {
		// Aliases (tags of one digest) are signed once per call; the others wait for that outcome.
		key := t.Digest.String()
		mu.Lock()
		first, ok := seen[key]
		if !ok {
			first = &signedOnce{done: make(chan struct{}), given: o.Given}
			seen[key] = first
		}
		mu.Unlock()
		if ok {
			select {
			case <-first.done:
			case <-ctx.Done():
				return result.Errorf(result.ClassUnavailable, "waiting for %s to be signed: %v", key, ctx.Err())
			}
			// Seen from an alias the signatures were already there: they are counted once, for the first reference.
			o.SameAs = first.given
			if c := first.cosign; c != nil {
				cp := *c
				cp.Reused = true
				o.Cosign = &cp
			}
			if n := first.notation; n != nil {
				cp := *n
				cp.Reused, cp.Removed, cp.Warnings = true, nil, nil
				o.Notation = &cp
			}
			return first.err
		}
		defer close(first.done)
		first.err = signOne(ctx, rc, t, k, opts, o)
		first.cosign, first.notation = o.Cosign, o.Notation
		return first.err
	})
}

// signedOnce is the outcome of the first reference of a call to a digest, shared with its aliases.
type signedOnce struct {
	done     chan struct{}
	given    string
	cosign   *CosignOutcome
	notation *NotationOutcome
	err      error
}

// signOne signs one digest under the agent-wide lock for it, so concurrent signers never duplicate a signature.
func signOne(ctx context.Context, rc *reg.Client, t reg.Target, k Key, opts SignOptions, o *Outcome) error {
	unlock, err := lockDigest(ctx, t.Digest.String())
	if err != nil {
		return err
	}
	defer unlock()
	if has(opts.Formats, Cosign) {
		c, err := SignCosign(ctx, rc, t, k.Signer, opts.Referrers)
		o.Cosign = &c
		if err != nil {
			return err
		}
		if opts.BundleFormat == bundle.FormatV03 {
			b, err := bundle.SignImage(ctx, rc, t, k.Signer)
			c.Bundle = &b
			if err != nil {
				return err
			}
		}
	}
	if has(opts.Formats, Notation) {
		n, err := SignNotation(ctx, rc, t, k, opts.NotationMediaType)
		o.Notation = &n
		if err != nil {
			return err
		}
	}
	return nil
}

// VerifyAll checks every image for a valid signature of each required format; a missing or invalid one rejects the image.
func VerifyAll(ctx context.Context, rc *reg.Client, images []string, opts VerifyOptions, each func(Outcome)) error {
	if has(opts.Formats, Cosign) && len(opts.CosignKeys) == 0 {
		return errf(result.ClassInput, "cosign verification needs --key pub.pem (or narrow with --format notation)")
	}
	if has(opts.Formats, Notation) && opts.Notation == nil {
		return errf(result.ClassInput, "notation verification needs --trust-policy and --trust-store (or narrow with --format cosign)")
	}
	return forEach(ctx, rc, images, v1.Hash{}, opts.Workers, each, func(ctx context.Context, t reg.Target, o *Outcome) error {
		var errs []error
		if has(opts.Formats, Cosign) {
			if _, err := VerifyCosign(ctx, rc, t, opts.CosignKeys, true); err != nil {
				errs = append(errs, err)
			} else {
				o.Checked = append(o.Checked, Cosign)
			}
		}
		if has(opts.Formats, Notation) {
			v := opts.Notation
			if opts.Distrusted != nil {
				v = distrustFilter{Verifier: v, why: opts.Distrusted}
			}
			if err := VerifyNotation(ctx, rc, t, v); err != nil {
				errs = append(errs, err)
			} else {
				o.Checked = append(o.Checked, Notation)
			}
		}
		if len(errs) > 1 {
			return result.Errorf(result.ClassOf(worst(errs)), "%v; %v", errs[0], errs[1])
		}
		return worst(errs)
	})
}

func forEach(ctx context.Context, rc *reg.Client, images []string, expect v1.Hash, workers int, each func(Outcome), do func(context.Context, reg.Target, *Outcome) error) error {
	if len(images) == 0 {
		return errf(result.ClassInput, "no image given: pass one or more IMAGE arguments (repo:tag or repo@sha256:...)")
	}
	if expect != (v1.Hash{}) && len(images) != 1 {
		return errf(result.ClassInput, "--expect-digest applies to exactly one image; use repo:tag@sha256:... per image instead")
	}
	refs := make([]reg.Reference, len(images))
	for i, s := range images {
		r, err := rc.Parse(s)
		if err != nil {
			return err
		}
		refs[i] = r
	}
	if workers <= 0 {
		workers = 4
	}
	var (
		mu   sync.Mutex
		errs = make([]error, len(refs))
		wg   result.Group // a panicking worker is exit 4 with the result file written, not a crash
		sem  = make(chan struct{}, workers)
	)
	for i, r := range refs {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			start := time.Now()
			o := Outcome{Given: r.Given}
			t, err := rc.Resolve(ctx, r, expect)
			if err == nil {
				o.Digest = t.Digest.String()
				err = do(ctx, t, &o)
			}
			o.Err, o.Duration = err, time.Since(start)
			mu.Lock()
			errs[i] = err
			mu.Unlock()
			each(o)
		})
	}
	if err := wg.Wait(); err != nil {
		return err
	}
	failed := 0
	for _, e := range errs {
		if e != nil {
			failed++
		}
	}
	if failed == 0 {
		return nil
	}
	w := worst(errs)
	if len(refs) == 1 {
		return w
	}
	return result.Errorf(result.ClassOf(w), "%d of %d images failed; first of the worst: %v", failed, len(refs), w)
}

// severity orders classes for the batch verdict: broken setup first, then unavailability, then rejections.
var severity = []result.Class{result.ClassInternal, result.ClassConfig, result.ClassInput, result.ClassAuth, result.ClassKey,
	result.ClassUnavailable, result.ClassTransient, result.ClassTamper, result.ClassPolicy, result.ClassRejected}

func worst(errs []error) error {
	for _, c := range severity {
		for _, e := range errs {
			if e != nil && result.ClassOf(e) == c {
				return e
			}
		}
	}
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}
