package signing

import (
	"log"

	"github.com/release-gates/release-gates/helpers/internal/blob"
	"github.com/release-gates/release-gates/helpers/internal/bundle"
	"github.com/release-gates/release-gates/helpers/internal/image"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// BlobItems returns one result item per file; done=false marks files not written because the batch failed.
func BlobItems(arts []blob.Artifact, done bool) []result.Item {
	var out []result.Item
	for _, a := range arts {
		if a.Path == "" {
			continue // never reached: the call was interrupted
		}
		it := result.Item{Name: a.Path, Kind: "blob", DurationMS: a.Duration.Milliseconds(), Details: map[string]any{}}
		if a.SHA256 != "" {
			it.Details["sha256"] = a.SHA256
			it.Details["size"] = a.Size
		}
		if a.Signature != "" {
			it.Details["signature"] = a.Signature
		}
		if a.Bundle != "" {
			it.Details["bundle"] = a.Bundle
		}
		if a.KeyID != "" {
			it.Details["key_id"] = a.KeyID
		}
		if a.Go != nil {
			it.Kind = "go-binary"
			it.Details["go"] = a.Go
		}
		switch {
		case a.Err != nil:
			it.FailureClass = result.ClassOf(a.Err)
			it.Message = a.Err.Error()
		case !done:
			it.Status = result.StatusSkipped
			it.Message = "not signed: another file in the batch failed"
		default:
			it.Status = result.StatusPassed
		}
		out = append(out, it)
	}
	return out
}

// ImageItem returns the result item of one image and logs one line; verb is "signed" or "verified".
func ImageItem(o image.Outcome, verb string, lg *log.Logger) result.Item {
	it := result.Item{Name: o.Given, Kind: "image", DurationMS: o.Duration.Milliseconds(), Details: map[string]any{}}
	if o.Digest != "" {
		it.Details["digest"] = o.Digest
	}
	if o.Cosign != nil {
		it.Details["cosign"] = map[string]any{"location": o.Cosign.Location, "signatures": o.Cosign.Signatures, "reused": o.Cosign.Reused, "verified": o.Cosign.Verified}
		if b := o.Cosign.Bundle; b != nil {
			it.Details["cosign_bundle"] = map[string]any{"format": bundle.FormatV03, "location": "referrers", "reused": b.Reused}
		}
	}
	if o.Notation != nil {
		it.Details["notation"] = map[string]any{"media_type": o.Notation.MediaType, "reused": o.Notation.Reused, "verified": o.Notation.Verified}
	}
	if o.Checked != nil {
		it.Details["verified"] = FormatNames(o.Checked)
	}
	if o.Err != nil {
		it.FailureClass = result.ClassOf(o.Err)
		it.Message = o.Err.Error()
		lg.Printf("%s: %s: %v", o.Given, it.FailureClass, o.Err)
	} else {
		it.Status = result.StatusPassed
		lg.Printf("%s %s as %s", verb, o.Given, o.Digest)
	}
	return it
}

// NewSignatures counts the signatures SignAll pushed for one image (a reused one was counted when it was made).
func NewSignatures(o image.Outcome) int64 {
	var n int64
	if o.Cosign != nil && o.Cosign.Verified && !o.Cosign.Reused {
		n++
	}
	if o.Notation != nil && o.Notation.Verified && !o.Notation.Reused {
		n++
	}
	return n
}

// FormatNames returns the formats' names.
func FormatNames(fs []image.Format) []string {
	out := make([]string, len(fs))
	for i, f := range fs {
		out[i] = string(f)
	}
	return out
}
