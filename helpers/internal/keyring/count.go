package keyring

import (
	"os"
	"syscall"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// Lock takes an exclusive flock on path+".lock", the lock every writer of keys.yaml holds from reading the file to
// rewriting it, so concurrent builds on one agent never lose each other's changes. Call the returned func to release it.
// A missing keyring takes no lock (and leaves no lock file): Load then reports it.
func Lock(path string) (unlock func(), err error) {
	if st, err := os.Stat(path); err != nil || st.IsDir() {
		return func() {}, nil
	}
	fh, err := os.OpenFile(path+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return nil, result.Errorf(result.ClassInput, "locking keyring %s: %v (the directory must be writable)", path, err)
	}
	if err := syscall.Flock(int(fh.Fd()), syscall.LOCK_EX); err != nil {
		fh.Close()
		return nil, result.Errorf(result.ClassInput, "locking keyring %s: %v", path, err)
	}
	return func() {
		_ = syscall.Flock(int(fh.Fd()), syscall.LOCK_UN)
		fh.Close()
	}, nil
}

// CountSignatures adds n to the signatures counter of key id in the keyring at path and returns the new count.
// Under Lock it re-reads the file, so counts from concurrent signing calls add up, then rewrites it atomically.
func CountSignatures(path, id string, n int64) (int64, error) {
	if n < 0 {
		return 0, result.Errorf(result.ClassInternal, "negative signature count %d", n)
	}
	unlock, err := Lock(path)
	if err != nil {
		return 0, err
	}
	defer unlock()
	f, err := Load(path)
	if err != nil {
		return 0, err
	}
	k, err := f.Key(id)
	if err != nil {
		return 0, err
	}
	if n == 0 {
		return k.Signed, nil
	}
	k.Signed += n
	if err := f.Save(); err != nil {
		return 0, err
	}
	return k.Signed, nil
}
