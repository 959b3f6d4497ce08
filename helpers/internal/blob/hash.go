package blob

import (
	"crypto/sha256"
	"errors"
	"hash"
	"io"
	"os"
	"sync"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// hashChunk is how much is hashed between checks of the stop channel (a failed key, a cancelled call).
const hashChunk = 1 << 20

// hashWindow is how much of a file is mapped at once: few mappings per file, and little resident memory.
const hashWindow = 8 << 20

// errStopped says hashing gave up because its stop channel closed.
var errStopped = errors.New("hashing stopped")

// hashHook, when set by a test, runs after every chunk with the bytes hashed so far and the stop channel.
var hashHook func(path string, done int64, stop <-chan struct{})

// HashFile streams path through sha256 once and returns the digest and size.
func HashFile(path string) ([]byte, int64, error) { return hashFile(nil, path) }

// hashFile hashes path once: through a memory mapping where the platform has one (no copy through a read buffer,
// which keeps the memory bus free for scrypt on the other core), else, and for anything appended meanwhile, by
// reading. It returns errStopped as soon as stop closes.
func hashFile(stop <-chan struct{}, path string) ([]byte, int64, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, 0, result.Errorf(result.ClassInput, "opening %s: %v", path, unwrap(err))
	}
	defer f.Close()
	h := sha256.New()
	n, err := hashMapped(h, f, stop)
	if err != nil {
		return nil, n, err
	}
	if n > 0 {
		if _, err := f.Seek(n, io.SeekStart); err != nil {
			return nil, n, result.Errorf(result.ClassInput, "reading %s: %v", path, unwrap(err))
		}
	}
	m, err := hashRead(h, f, n, stop)
	if err != nil {
		return nil, n + m, err
	}
	return h.Sum(nil), n + m, nil
}

// hashRead hashes f from its offset (done bytes into the file) to EOF.
func hashRead(h hash.Hash, f *os.File, done int64, stop <-chan struct{}) (int64, error) {
	buf := bufPool.Get().(*[]byte)
	defer bufPool.Put(buf)
	var n int64
	for {
		if stopped(stop) {
			return n, errStopped
		}
		k, err := io.ReadFull(f, *buf)
		h.Write((*buf)[:k])
		n += int64(k)
		if hashHook != nil && k > 0 {
			hashHook(f.Name(), done+n, stop)
		}
		if err == io.EOF || err == io.ErrUnexpectedEOF {
			return n, nil
		}
		if err != nil {
			return n, result.Errorf(result.ClassInput, "reading %s: %v", f.Name(), unwrap(err))
		}
	}
}

var bufPool = sync.Pool{New: func() any { b := make([]byte, hashChunk); return &b }}

func stopped(stop <-chan struct{}) bool {
	select {
	case <-stop:
		return true
	default:
		return false
	}
}
