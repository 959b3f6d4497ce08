package result_test

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

func TestGroupTurnsAWorkerPanicIntoAnInternalErrorWithItsStackKeptApart(t *testing.T) {
	var g result.Group
	var done atomic.Int32
	for i := 0; i < 4; i++ {
		g.Go(func() {
			if i == 2 {
				var m map[string]int
				m["x"] = 1
			}
			done.Add(1)
		})
	}
	err := g.Wait()
	if result.ClassOf(err) != result.ClassInternal || result.ClassOf(err).ExitCode() != result.ExitInternal {
		t.Fatalf("class = %q, want internal (exit 4): %v", result.ClassOf(err), err)
	}
	var p *result.Panic
	if !errors.As(err, &p) {
		t.Fatalf("%v is not a *result.Panic", err)
	}
	if err.Error() != "panic: assignment to entry in nil map" {
		t.Fatalf("message %q: want only the panic value, no stack", err.Error())
	}
	if !strings.Contains(string(p.Stack), "goroutine ") || !strings.Contains(string(p.Stack), "panic_test.go") {
		t.Fatalf("stack does not point at the panicking worker:\n%s", p.Stack)
	}
	if done.Load() != 3 {
		t.Fatalf("%d workers finished, want the 3 that did not panic", done.Load())
	}
	select {
	case <-g.Panicked():
	default:
		t.Fatal("Panicked is not closed after a panic")
	}
}

func TestGroupWithoutAPanicWaitsForAllAndReturnsNil(t *testing.T) {
	var g result.Group
	var done atomic.Int32
	for i := 0; i < 8; i++ {
		g.Go(func() { done.Add(1) })
	}
	if err := g.Wait(); err != nil {
		t.Fatal(err)
	}
	if done.Load() != 8 {
		t.Fatalf("Wait returned after %d of 8 goroutines", done.Load())
	}
	select {
	case <-g.Panicked():
		t.Fatal("Panicked is closed without a panic")
	default:
	}
}

func TestRecoverSetsTheErrorOfTheDeferringGoroutine(t *testing.T) {
	run := func() (err error) {
		defer result.Recover(&err)
		panic(errors.New("boom"))
	}
	err := run()
	if result.ClassOf(err) != result.ClassInternal || err.Error() != "panic: boom" {
		t.Fatalf("got %v (class %q)", err, result.ClassOf(err))
	}
	keep := func() (err error) {
		defer result.Recover(&err)
		return result.Errorf(result.ClassInput, "bad flag")
	}
	if err := keep(); result.ClassOf(err) != result.ClassInput {
		t.Fatalf("Recover changed an ordinary error: %v", err)
	}
}
