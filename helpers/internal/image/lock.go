package image

import (
	"context"

	"github.com/release-gates/release-gates/helpers/internal/sigtag"
)

// lockDigest takes the agent-wide exclusive lock for signing digest (repo@sha256:...), see sigtag.Lock.
func lockDigest(ctx context.Context, digest string) (func(), error) { return sigtag.Lock(ctx, digest) }
