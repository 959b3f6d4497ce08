package result

import (
	"fmt"
	"runtime/debug"
	"sync"
)

// Panic is a recovered panic; its stack is for stderr, never for the result file.
type Panic struct {
	Value any
	Stack []byte
}

func (p *Panic) Error() string { return fmt.Sprintf("panic: %v", p.Value) }

// Recover, deferred directly, turns a panic of the current goroutine into a ClassInternal *Panic error in *errp.
func Recover(errp *error) {
	if r := recover(); r != nil {
		*errp = &Error{Class: ClassInternal, Err: &Panic{Value: r, Stack: debug.Stack()}}
	}
}

// Group is a sync.WaitGroup whose goroutines cannot crash the helper: Wait returns their first panic as an error.
// A goroutine panic is not recovered by the main goroutine, so without this it would kill the process before the
// result file is written and the exit code would be 2 (Go's panic exit), not 4.
type Group struct {
	wg       sync.WaitGroup
	mu       sync.Mutex
	err      error
	panicked chan struct{}
}

// Go runs fn in a new goroutine, recovering a panic in it.
func (g *Group) Go(fn func()) {
	g.wg.Add(1)
	ch := g.panickedChan()
	go func() {
		var err error
		defer g.wg.Done()
		defer func() {
			if err == nil {
				return
			}
			g.mu.Lock()
			defer g.mu.Unlock()
			if g.err == nil {
				g.err = err
				close(ch)
			}
		}()
		defer Recover(&err)
		fn()
	}()
}

// Panicked is closed when a goroutine of g panicked, so a producer feeding g's workers can stop.
func (g *Group) Panicked() <-chan struct{} { return g.panickedChan() }

func (g *Group) panickedChan() chan struct{} {
	g.mu.Lock()
	defer g.mu.Unlock()
	if g.panicked == nil {
		g.panicked = make(chan struct{})
	}
	return g.panicked
}

// Wait waits for every goroutine started by Go and returns the first panic as a ClassInternal error, else nil.
func (g *Group) Wait() error {
	g.wg.Wait()
	g.mu.Lock()
	defer g.mu.Unlock()
	return g.err
}
