package downaddr

import (
	"errors"
	"net"
	"syscall"
	"testing"
	"time"
)

func TestTheAddressRefusesConnectionsAndCannotBeTaken(t *testing.T) {
	addr := New(t)
	if c, err := net.DialTimeout("tcp", addr, 5*time.Second); !errors.Is(err, syscall.ECONNREFUSED) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dial %s: %v, want connection refused", addr, err)
	}
	if l, err := net.Listen("tcp", addr); err == nil {
		l.Close()
		t.Fatalf("a listener could bind %s while it is held", addr)
	}
}
