// Package downaddr gives tests a loopback address where nothing answers and nothing can start answering.
package downaddr

import (
	"fmt"
	"syscall"
	"testing"
)

// New returns 127.0.0.1:port of a TCP socket that is bound but never listens, held until the test ends: a
// connection there is refused at once, and no other process can bind the port meanwhile, unlike the port of a
// listener closed before use, which any test binary running in parallel may take in between.
func New(t testing.TB) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatalf("downaddr: socket: %v", err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	// No SO_REUSEADDR: a listener elsewhere (Go sets it on its own) cannot share the port with this socket.
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatalf("downaddr: bind: %v", err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatalf("downaddr: getsockname: %v", err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}
