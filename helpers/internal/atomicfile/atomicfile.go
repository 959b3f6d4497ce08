// Package atomicfile writes files so that readers see the old content or the new, never a part.
package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
)

// WriteFile writes data to path through a temp file in the same directory: fsync, rename, fsync the directory.
func WriteFile(path string, data []byte, perm os.FileMode) error {
	return Write(path, perm, func(w io.Writer) error {
		_, err := w.Write(data)
		return err
	})
}

// Write streams content from fill into path atomically; on any error the target is untouched.
func Write(path string, perm os.FileMode, fill func(io.Writer) error) (err error) {
	dir := filepath.Dir(path)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return fmt.Errorf("creating directory for %s: %w", path, err)
	}
	// The writer's pid in the name lets CleanStale tell a killed writer's leftovers from a live writer's file.
	f, err := os.CreateTemp(dir, "."+filepath.Base(path)+".tmp-"+strconv.Itoa(os.Getpid())+"-*")
	if err != nil {
		return fmt.Errorf("creating temp file for %s: %w", path, err)
	}
	tmp := f.Name()
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(tmp)
		}
	}()
	if err = fill(f); err != nil {
		return fmt.Errorf("writing %s: %w", path, err)
	}
	if err = f.Chmod(perm); err != nil {
		return fmt.Errorf("setting mode of %s: %w", path, err)
	}
	if err = f.Sync(); err != nil {
		return fmt.Errorf("syncing %s: %w", path, err)
	}
	if err = f.Close(); err != nil {
		return fmt.Errorf("closing %s: %w", path, err)
	}
	if err = os.Rename(tmp, path); err != nil {
		return fmt.Errorf("renaming into %s: %w", path, err)
	}
	// Without this the rename itself may be lost on a crash: the new name lives in the directory, not the file.
	if err = SyncDir(dir); err != nil {
		return fmt.Errorf("syncing the directory of %s: %w", path, err)
	}
	return nil
}

// SyncDir fsyncs directory dir, making a file created or renamed in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	if err := d.Sync(); err != nil && !errors.Is(err, syscall.EINVAL) { // EINVAL: the file system cannot sync directories
		return err
	}
	return nil
}

// CleanStale removes the hidden temp files that writers of path killed before their rename left behind
// (".<name>.tmp-<pid>-*" whose pid is gone, or the older ".<name>.tmp-*" without a pid); it returns how many.
func CleanStale(path string) (int, error) {
	prefix := "." + filepath.Base(path) + ".tmp-"
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		if os.IsNotExist(err) {
			return 0, nil
		}
		return 0, fmt.Errorf("listing %s: %w", filepath.Dir(path), err)
	}
	n := 0
	for _, e := range ents {
		rest, ok := strings.CutPrefix(e.Name(), prefix)
		if !ok || e.IsDir() {
			continue
		}
		if pid, _, found := strings.Cut(rest, "-"); found {
			if p, err := strconv.Atoi(pid); err == nil && p > 0 && alive(p) {
				continue // a writer that is still running
			}
		}
		if err := os.Remove(filepath.Join(filepath.Dir(path), e.Name())); err == nil {
			n++
		} else if !os.IsNotExist(err) {
			return n, fmt.Errorf("removing a stale temp file of %s: %w", path, err)
		}
	}
	return n, nil
}

func alive(pid int) bool {
	err := syscall.Kill(pid, 0)
	return err == nil || err == syscall.EPERM
}
