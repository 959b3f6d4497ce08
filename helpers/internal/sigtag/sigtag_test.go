package sigtag_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/sigtag"
)

func TestConvergeWritesAgainUntilOursIsThere(t *testing.T) {
	sigtag.Backoff = time.Millisecond
	for _, c := range []struct {
		name     string
		lostFor  int // rounds in which another signer drops ours
		writeErr error
		writes   int
		class    result.Class
	}{
		{"kept at once", 0, nil, 1, ""},
		{"dropped twice, merged back", 2, nil, 3, ""},
		{"dropped every round", 100, nil, sigtag.Rounds, result.ClassUnavailable},
		{"a write error is returned as is", 0, result.Errorf(result.ClassInput, "image not found"), 1, result.ClassInput},
	} {
		t.Run(c.name, func(t *testing.T) {
			writes := 0
			err := sigtag.Converge(context.Background(), "tag x", func() error {
				writes++
				return c.writeErr
			}, func() (bool, error) { return writes > c.lostFor, nil })
			if writes != c.writes || result.ClassOf(err) != c.class || (c.class == "") != (err == nil) {
				t.Fatalf("%d writes, err %v; want %d writes, class %q", writes, err, c.writes, c.class)
			}
		})
	}
	lookErr := errors.New("registry down")
	if err := sigtag.Converge(context.Background(), "tag x", func() error { return nil }, func() (bool, error) { return false, lookErr }); !errors.Is(err, lookErr) {
		t.Fatalf("a failed look must be returned: %v", err)
	}
}

func TestLockKeepsASecondHolderOutUntilReleased(t *testing.T) {
	t.Setenv(breaker.DirEnv, t.TempDir())
	unlock, err := sigtag.Lock(context.Background(), "repo@sha256:aa")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	if _, err := sigtag.Lock(ctx, "repo@sha256:aa"); result.ClassOf(err) != result.ClassUnavailable {
		t.Fatalf("second holder while locked: %v", err)
	}
	other, err := sigtag.Lock(context.Background(), "repo@sha256:bb")
	if err != nil {
		t.Fatalf("another key must not wait: %v", err)
	}
	other()
	unlock()
	again, err := sigtag.Lock(context.Background(), "repo@sha256:aa")
	if err != nil {
		t.Fatalf("after release: %v", err)
	}
	again()
}
