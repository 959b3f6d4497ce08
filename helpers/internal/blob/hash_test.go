package blob

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// withHashHook installs hook for one test; the blob tests never run in parallel.
func withHashHook(t *testing.T, hook func(path string, done int64, stop <-chan struct{})) {
	t.Helper()
	hashHook = hook
	t.Cleanup(func() { hashHook = nil })
}

func randomFile(t *testing.T, dir string, size int) (string, []byte) {
	t.Helper()
	b := make([]byte, size)
	rand.Read(b)
	p := filepath.Join(dir, "big.bin")
	if err := os.WriteFile(p, b, 0o644); err != nil {
		t.Fatal(err)
	}
	return p, b
}

// waitStop waits for hashing to be told to stop; a stop that never comes fails the test instead of hanging it.
func waitStop(t *testing.T, stop <-chan struct{}) {
	select {
	case <-stop:
	case <-time.After(2 * time.Minute):
		t.Error("hashing was never told to stop")
	}
}

// signGoroutines lists the goroutines still running Sign's code (key loader, workers, hashing).
func signGoroutines() []string {
	buf := make([]byte, 1<<20)
	buf = buf[:runtime.Stack(buf, true)]
	var left []string
	for _, g := range strings.Split(string(buf), "\n\n") {
		for _, fn := range []string{"blob.loadKey", "blob.forEach", "blob.hashFile", "blob.signOne"} {
			if strings.Contains(g, fn) {
				left = append(left, g)
				break
			}
		}
	}
	return left
}

// noSignGoroutinesLeft fails when goroutines Sign started are still running once they had ample time to end.
func noSignGoroutinesLeft(t *testing.T) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		left := signGoroutines()
		if len(left) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("goroutines outlived Sign:\n%s", strings.Join(left, "\n\n"))
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestHashFileMatchesSHA256AtEverySizeAndWindowEdge(t *testing.T) {
	dir := t.TempDir()
	for _, size := range []int{0, 1, hashChunk - 1, hashChunk, hashChunk + 1, 3*hashChunk + 17, hashWindow, hashWindow + 1, 2*hashWindow + 4095} {
		p, b := randomFile(t, dir, size)
		got, n, err := HashFile(p)
		want := sha256.Sum256(b)
		if err != nil || n != int64(size) || hex.EncodeToString(got) != hex.EncodeToString(want[:]) {
			t.Fatalf("size %d: HashFile = %x, %d, %v; want %x, %d", size, got, n, err, want, size)
		}
	}
}

func TestHashFileIncludesWhatIsAppendedWhileItHashes(t *testing.T) {
	p, b := randomFile(t, t.TempDir(), 2*hashChunk+5)
	tail := []byte("appended while hashing")
	var once sync.Once
	withHashHook(t, func(string, int64, <-chan struct{}) {
		once.Do(func() {
			f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
			if err != nil {
				t.Error(err)
				return
			}
			f.Write(tail)
			f.Close()
		})
	})
	got, n, err := HashFile(p)
	want := sha256.Sum256(append(b, tail...))
	if err != nil || n != int64(len(b)+len(tail)) || hex.EncodeToString(got) != hex.EncodeToString(want[:]) {
		t.Fatalf("HashFile = %x, %d, %v; want the digest of the grown file %x, %d", got, n, err, want, len(b)+len(tail))
	}
}

func TestAFileCutShortWhileItHashesIsAnInputErrorNotACrash(t *testing.T) {
	p, _ := randomFile(t, t.TempDir(), 3*hashChunk)
	var once sync.Once
	withHashHook(t, func(string, int64, <-chan struct{}) {
		once.Do(func() {
			if err := os.Truncate(p, 0); err != nil {
				t.Error(err)
			}
		})
	})
	_, _, err := HashFile(p)
	if result.ClassOf(err) != result.ClassInput || !strings.Contains(err.Error(), p) {
		t.Fatalf("err = %v (%s), want an input error naming %s", err, result.ClassOf(err), p)
	}
}

func TestAWrongPasswordStopsHashingMidFileAndLeavesNothingBehind(t *testing.T) {
	fk := cachedKey(t, "stop", "right")
	dir := t.TempDir()
	p, _ := randomFile(t, dir, 8*hashChunk)
	var hashed int64
	withHashHook(t, func(path string, done int64, stop <-chan struct{}) {
		hashed = done
		if done == hashChunk {
			waitStop(t, stop) // hashing is still running when the key fails
		}
	})
	arts, err := Sign(context.Background(), fk.loader("wrong"), []string{p}, SignOptions{
		Checksums: filepath.Join(dir, "SHA256SUMS"), Bundle: true})
	if result.ClassOf(err) != result.ClassAuth || !strings.Contains(err.Error(), "wrong password") {
		t.Fatalf("err = %v (%s), want the key's wrong-password error", err, result.ClassOf(err))
	}
	if hashed >= 8*hashChunk {
		t.Fatalf("hashed all %d bytes after the key had failed", hashed)
	}
	if len(arts) != 1 || result.ClassOf(arts[0].Err) != result.ClassAuth || !strings.Contains(arts[0].Err.Error(), "not signed") {
		t.Fatalf("file outcome = %+v, want not signed for the key", arts)
	}
	if got := sigFiles(t, dir); len(got) != 0 {
		t.Fatalf("failed call left files behind: %v", got)
	}
	noSignGoroutinesLeft(t)
}

func TestCancellingTheCallStopsHashingAndWritesNothing(t *testing.T) {
	fk := cachedKey(t, "cancel", "pw")
	dir := t.TempDir()
	p, _ := randomFile(t, dir, 8*hashChunk)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var hashed int64
	withHashHook(t, func(path string, done int64, stop <-chan struct{}) {
		hashed = done
		if done == hashChunk {
			cancel()
			waitStop(t, stop)
		}
	})
	_, err := Sign(ctx, fk.mem(), []string{p}, SignOptions{Bundle: true})
	if result.ClassOf(err) != result.ClassUnavailable || !strings.Contains(err.Error(), "interrupted") {
		t.Fatalf("err = %v (%s), want an interrupted call", err, result.ClassOf(err))
	}
	if hashed >= 8*hashChunk {
		t.Fatalf("hashed all %d bytes after the call was cancelled", hashed)
	}
	if got := sigFiles(t, dir); len(got) != 0 {
		t.Fatalf("cancelled call left files behind: %v", got)
	}
	noSignGoroutinesLeft(t)
}

func TestAKeyThatFailsWhileAFileHashesIsReportedOnceWithItsClass(t *testing.T) {
	dir := t.TempDir()
	p, _ := randomFile(t, dir, 4*hashChunk)
	withHashHook(t, func(path string, done int64, stop <-chan struct{}) {
		if done == hashChunk {
			waitStop(t, stop)
		}
	})
	load := func(context.Context) (*keys.Key, error) {
		return nil, result.Errorf(result.ClassUnavailable, "HSM unreachable")
	}
	_, err := Sign(context.Background(), load, []string{p, filepath.Join(dir, "missing")}, SignOptions{})
	if result.ClassOf(err) != result.ClassUnavailable || err.Error() != "HSM unreachable" {
		t.Fatalf("err = %v (%s), want the key's own error", err, result.ClassOf(err))
	}
	noSignGoroutinesLeft(t)
}

func TestOnlyAFaultOnTheMappingIsAnInputErrorOtherPanicsStayBugs(t *testing.T) {
	p, _ := randomFile(t, t.TempDir(), 2*hashChunk)
	var nilPtr *int
	withHashHook(t, func(string, int64, <-chan struct{}) { _ = *nilPtr })
	defer func() {
		r := recover()
		if re, ok := r.(runtime.Error); !ok || !strings.Contains(re.Error(), "nil pointer dereference") {
			t.Fatalf("recovered %v, want the nil dereference itself", r)
		}
	}()
	_, _, err := HashFile(p)
	t.Fatalf("HashFile returned %v instead of panicking", err)
}
