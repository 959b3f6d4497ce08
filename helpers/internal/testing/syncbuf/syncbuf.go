// Package syncbuf (test support, never linked into a helper) is a bytes.Buffer a process or goroutine may write while a test reads it.
package syncbuf

import (
	"bytes"
	"sync"
)

// Buffer collects output under a lock; the zero value is ready to use.
type Buffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

// Write appends p.
func (s *Buffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

// String returns what was written so far.
func (s *Buffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}
