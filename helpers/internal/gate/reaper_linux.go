package gate

import (
	"sync"

	"golang.org/x/sys/unix"
)

var subreaper struct {
	once sync.Once
	err  error
}

// becomeSubreaper makes the gate process a child subreaper, once: orphaned descendants of the service (a daemon's
// setsid and double fork) then reparent to the gate instead of init, so the gate can kill and reap them. The
// attribute belongs to the whole process, not the calling thread, so no thread needs locking.
func becomeSubreaper() error {
	subreaper.once.Do(func() {
		subreaper.err = unix.Prctl(unix.PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0)
	})
	return subreaper.err
}
