//go:build linux || darwin

package blob

import (
	"hash"
	"os"
	"runtime/debug"
	"unsafe"

	"golang.org/x/sys/unix"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// hashMapped hashes the regular file f through read-only mappings, window by window, and returns the bytes hashed;
// it hashes nothing (0, nil) where mapping fails, so that the caller reads instead. A file cut short meanwhile
// faults on the mapping: that fault (and only that) is an input error here, not a crash.
func hashMapped(h hash.Hash, f *os.File, stop <-chan struct{}) (n int64, err error) {
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() || st.Size() < hashChunk {
		return 0, nil
	}
	size := st.Size()
	var win []byte
	defer debug.SetPanicOnFault(debug.SetPanicOnFault(true))
	defer func() {
		r := recover()
		fault := false
		if fe, ok := r.(interface{ Addr() uintptr }); ok && len(win) > 0 {
			base := uintptr(unsafe.Pointer(&win[0]))
			fault = fe.Addr() >= base && fe.Addr() < base+uintptr(len(win))
		}
		if win != nil {
			unix.Munmap(win)
		}
		switch {
		case fault:
			err = result.Errorf(result.ClassInput, "reading %s: the file shrank while it was hashed, or its storage failed: sign it once nothing rewrites it", f.Name())
		case r != nil:
			panic(r) // not a fault on the mapping: a bug, exit 4
		}
	}()
	for n < size {
		w := min(size-n, hashWindow)
		if win, err = unix.Mmap(int(f.Fd()), n, int(w), unix.PROT_READ, unix.MAP_SHARED); err != nil {
			win = nil
			return n, nil // the rest is read
		}
		_ = unix.Madvise(win, unix.MADV_SEQUENTIAL)
		for off := 0; off < len(win); off += hashChunk {
			if stopped(stop) {
				return n, errStopped
			}
			end := min(off+hashChunk, len(win))
			h.Write(win[off:end])
			n += int64(end - off)
			if hashHook != nil {
				hashHook(f.Name(), n, stop)
			}
		}
		err = unix.Munmap(win)
		win = nil
		if err != nil {
			return n, result.Errorf(result.ClassInput, "reading %s: unmapping: %v", f.Name(), err)
		}
	}
	return n, nil
}
