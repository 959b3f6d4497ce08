package image

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// lockDigest takes the agent-wide exclusive lock for signing digest (repo@sha256:...): a flock on a file in the
// state dir, so two pipelines on one agent never list-then-push the same image at the same time. It waits for
// the lock as long as ctx allows.
func lockDigest(ctx context.Context, digest string) (func(), error) {
	dir := breaker.StateDir()
	if dir == "" {
		return nil, result.Errorf(result.ClassConfig, "no state dir for the signing lock: set %s", breaker.DirEnv)
	}
	dir = filepath.Join(dir, "locks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, result.Errorf(result.ClassConfig, "creating the signing lock dir %s: %v (set %s to a writable dir)", dir, err, breaker.DirEnv)
	}
	sum := sha256.Sum256([]byte(digest))
	path := filepath.Join(dir, "sign-"+hex.EncodeToString(sum[:16])+".lock")
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, result.Errorf(result.ClassConfig, "opening the signing lock %s: %v", path, err)
	}
	for {
		err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB)
		if err == nil {
			break
		}
		if !errors.Is(err, syscall.EWOULDBLOCK) {
			f.Close()
			return nil, result.Errorf(result.ClassConfig, "locking %s for signing: %v", path, err)
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, result.Errorf(result.ClassUnavailable, "waiting for another signer of %s: %v", digest, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}
