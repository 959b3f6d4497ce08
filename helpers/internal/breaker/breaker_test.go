package breaker

import (
	"context"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/retry"
)

var errRefused = fmt.Errorf("dial registry: %w", syscall.ECONNREFUSED)

func TestTheBreakerOpensAfterNConsecutiveTransientFailuresAndFailsFast(t *testing.T) {
	s := New(t.TempDir(), 3, time.Minute)
	calls := 0
	op := func(context.Context) error { calls++; return errRefused }
	for i := 0; i < 3; i++ {
		if err := s.Do(context.Background(), "registry 127.0.0.1:5000", op); retry.Classify(err) != result.ClassTransient {
			t.Fatalf("try %d: %v", i, err)
		}
	}
	err := s.Do(context.Background(), "registry 127.0.0.1:5000", op)
	if calls != 3 {
		t.Fatalf("op called %d times, want 3 (the 4th must fail fast)", calls)
	}
	if result.ClassOf(err) != result.ClassUnavailable || !strings.Contains(err.Error(), "breaker open until") {
		t.Fatalf("want fail-fast unavailable error, got %v", err)
	}
}

func TestAnotherProcessSeesTheOpenBreakerThroughTheStateFile(t *testing.T) {
	dir := t.TempDir()
	first := New(dir, 2, time.Minute)
	for i := 0; i < 2; i++ {
		_ = first.Do(context.Background(), "hsm", func(context.Context) error { return errRefused })
	}
	second := New(dir, 2, time.Minute) // a later step on the same agent
	called := false
	err := second.Do(context.Background(), "hsm", func(context.Context) error { called = true; return nil })
	if called || result.ClassOf(err) != result.ClassUnavailable {
		t.Fatalf("second process ran op=%v err=%v; want fail fast", called, err)
	}
	if st := second.Status("hsm"); !st.Open || st.Failures != 2 {
		t.Fatalf("state %+v", st)
	}
}

func TestFailuresAcrossProcessesAccumulate(t *testing.T) {
	dir := t.TempDir()
	for i := 0; i < 3; i++ { // three separate builds, one failure each
		_ = New(dir, 3, time.Minute).Do(context.Background(), "jenkins", func(context.Context) error { return errRefused })
	}
	if st := New(dir, 3, time.Minute).Status("jenkins"); !st.Open {
		t.Fatalf("three consecutive failures in three processes did not open the breaker: %+v", st)
	}
}

func TestRejectionsDoNotOpenTheBreakerAndSuccessResetsIt(t *testing.T) {
	s := New(t.TempDir(), 2, time.Minute)
	for i := 0; i < 5; i++ {
		_ = s.Do(context.Background(), "registry", func(context.Context) error { return result.Errorf(result.ClassTamper, "digest mismatch") })
	}
	if st := s.Status("registry"); st.Open {
		t.Fatal("tamper errors opened the breaker")
	}
	_ = s.Do(context.Background(), "registry", func(context.Context) error { return errRefused })
	_ = s.Do(context.Background(), "registry", func(context.Context) error { return nil })
	if st := s.Status("registry"); st.Failures != 0 || st.Open {
		t.Fatalf("success did not reset: %+v", st)
	}
}

func TestAfterTheOpenWindowOneTrialCallGoesThrough(t *testing.T) {
	dir := t.TempDir()
	s := New(dir, 1, 50*time.Millisecond)
	_ = s.Do(context.Background(), "slack", func(context.Context) error { return errRefused })
	time.Sleep(80 * time.Millisecond)
	called := false
	if err := New(dir, 1, 50*time.Millisecond).Do(context.Background(), "slack", func(context.Context) error { called = true; return nil }); err != nil || !called {
		t.Fatalf("trial call: called=%v err=%v", called, err)
	}
}
