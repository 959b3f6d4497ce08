package sigtag

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"math/rand/v2"
	"os"
	"path/filepath"
	"syscall"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Lock takes the agent-wide exclusive lock named key (e.g. a repo@sha256:... digest): a flock on a file in the
// state dir, so two pipelines on one agent never list-then-push the same tag at the same time. It waits for the
// lock as long as ctx allows. A process must not take the same key twice: flock locks are per open file.
func Lock(ctx context.Context, key string) (func(), error) {
	dir := breaker.StateDir()
	if dir == "" {
		return nil, result.Errorf(result.ClassConfig, "no state dir for the signing lock: set %s", breaker.DirEnv)
	}
	dir = filepath.Join(dir, "locks")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, result.Errorf(result.ClassConfig, "creating the signing lock dir %s: %v (set %s to a writable dir)", dir, err, breaker.DirEnv)
	}
	sum := sha256.Sum256([]byte(key))
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
			return nil, result.Errorf(result.ClassUnavailable, "waiting for another signer of %s: %v", key, ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
	return func() {
		_ = syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
		f.Close()
	}, nil
}

// Rounds is how many times Converge writes before it gives up; Backoff is the first pause between rounds
// (doubled each round, fully jittered, so two signers that keep overwriting each other fall out of step).
var (
	Rounds  = 6
	Backoff = 40 * time.Millisecond
)

// Converge runs write (read the tag, merge ours in, write it back) and then present (re-fetch: is ours there?)
// until present holds. A signer on another agent that read the tag before our write and wrote after it drops our
// entry; the registry has no conditional write, so we find out only by looking again, then merge and write again.
// When Rounds run out it is ClassUnavailable (exit 3): the tag is contended, nothing is wrong with the evidence.
func Converge(ctx context.Context, what string, write func() error, present func() (bool, error)) error {
	pause := Backoff
	for round := 1; ; round++ {
		if err := write(); err != nil {
			return err
		}
		ok, err := present()
		if err != nil {
			return err
		}
		if ok {
			return nil
		}
		if round >= Rounds {
			return result.Errorf(result.ClassUnavailable, "%s: another signer overwrote it %d times in a row; run again when the other signer is done", what, round)
		}
		select {
		case <-ctx.Done():
			return result.Errorf(result.ClassUnavailable, "%s: %v", what, ctx.Err())
		case <-time.After(pause/2 + rand.N(pause)):
		}
		pause *= 2
	}
}
