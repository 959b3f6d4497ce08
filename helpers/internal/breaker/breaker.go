// Package breaker gives each dependency a circuit breaker whose open state is shared through a locked file on the agent.
package breaker

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sync"
	"syscall"
	"time"

	"github.com/sony/gobreaker/v2"

	"github.com/release-gates/release-gates/helpers/internal/atomicfile"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/retry"
)

// DirEnv names the directory that holds breaker state files; later steps and builds on the agent share it.
const DirEnv = "RELEASE_GATES_STATE_DIR"

// Set holds one breaker per dependency (a registry host, the HSM, Slack, Jenkins).
type Set struct {
	dir       string
	threshold uint32
	openFor   time.Duration
	now       func() time.Time

	mu sync.Mutex
	m  map[string]*gobreaker.TwoStepCircuitBreaker[struct{}]
}

// State is what the state file records for one dependency.
type State struct {
	Dependency string    `json:"dependency"`
	Open       bool      `json:"open"`
	Until      time.Time `json:"until"`
	Failures   uint32    `json:"consecutive_failures"`
	LastError  string    `json:"last_error,omitempty"`
}

// New returns a Set that opens a breaker after threshold consecutive transient failures, for openFor.
// An empty dir keeps state in memory only.
func New(dir string, threshold uint32, openFor time.Duration) *Set {
	if threshold == 0 {
		threshold = 5
	}
	return &Set{dir: dir, threshold: threshold, openFor: openFor, now: time.Now, m: map[string]*gobreaker.TwoStepCircuitBreaker[struct{}]{}}
}

// StateDir is the agent's state directory shared by later steps and builds: $RELEASE_GATES_STATE_DIR, else
// ~/.cache/release-gates ("" when neither can be found).
func StateDir() string {
	dir := os.Getenv(DirEnv)
	if dir == "" {
		if home, err := os.UserHomeDir(); err == nil {
			dir = filepath.Join(home, ".cache", "release-gates")
		}
	}
	return dir
}

// FromEnv returns a Set in $RELEASE_GATES_STATE_DIR/breakers (or ~/.cache/release-gates/breakers) with the default policy.
func FromEnv() *Set {
	dir := StateDir()
	if dir != "" {
		dir = filepath.Join(dir, "breakers")
	}
	return New(dir, DefaultThreshold, DefaultOpenFor)
}

// Default breaker policy. Breakers see every attempt, including the per-request retries, so the threshold is high
// enough that scattered transient faults never trip it (0.05^8 at a 5% fault rate) while a dead host trips it in ms.
const (
	DefaultThreshold = 8
	DefaultOpenFor   = 60 * time.Second
)

// Do runs op through dep's breaker: it fails fast while the breaker is open, here or in another process.
// Only transient failures (and "unavailable after retries") count towards opening the breaker.
func (s *Set) Do(ctx context.Context, dep string, op func(context.Context) error) error {
	st, ok := s.read(dep)
	if ok && st.Open && s.now().Before(st.Until) {
		return result.Errorf(result.ClassUnavailable, "%s unavailable, breaker open until %s (%d consecutive failures; last: %s)",
			dep, st.Until.UTC().Format(time.RFC3339), st.Failures, st.LastError)
	}
	cb := s.get(dep)
	done, err := cb.Allow()
	if err != nil {
		until := st.Until
		if until.IsZero() || !st.Open {
			until = s.now().Add(s.openFor)
		}
		return result.Errorf(result.ClassUnavailable, "%s unavailable, breaker open until %s (%v)", dep, until.UTC().Format(time.RFC3339), err)
	}
	opErr := op(ctx)
	class := retry.Classify(opErr)
	transient := opErr != nil && (class == result.ClassTransient || class == result.ClassUnavailable) // the dependency is down, not saying no
	if transient {
		done(opErr)
	} else {
		done(nil) // a rejection is an answer: the dependency is up
	}
	if transient {
		s.write(State{Dependency: dep, Open: cb.State() == gobreaker.StateOpen, Until: s.now().Add(s.openFor), LastError: opErr.Error()})
	} else if opErr == nil && (st.Open || st.Failures > 0 || st.LastError != "") {
		s.write(State{Dependency: dep}) // only a change is written: a healthy dependency costs one shared-lock read per call
	}
	return opErr
}

// Status returns the recorded state of dep.
func (s *Set) Status(dep string) State {
	st, _ := s.read(dep)
	st.Dependency = dep
	return st
}

func (s *Set) get(dep string) *gobreaker.TwoStepCircuitBreaker[struct{}] {
	s.mu.Lock()
	defer s.mu.Unlock()
	if cb, ok := s.m[dep]; ok {
		return cb
	}
	threshold := s.threshold
	if st, ok := s.read(dep); ok && !st.Open && st.Failures > 0 && st.Failures < threshold {
		threshold -= st.Failures // failures recorded by earlier processes count too
	}
	cb := gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:        dep,
		MaxRequests: 1,
		Timeout:     s.openFor,
		ReadyToTrip: func(c gobreaker.Counts) bool { return c.ConsecutiveFailures >= threshold },
	})
	s.m[dep] = cb
	return cb
}

var unsafe = regexp.MustCompile(`[^A-Za-z0-9._-]+`)

func (s *Set) path(dep string) string {
	return filepath.Join(s.dir, unsafe.ReplaceAllString(dep, "_")+".json")
}

// read loads dep's state under a shared lock.
func (s *Set) read(dep string) (State, bool) {
	if s.dir == "" {
		return State{}, false
	}
	var st State
	err := s.locked(dep, syscall.LOCK_SH, func() error {
		b, err := os.ReadFile(s.path(dep))
		if err != nil {
			return err
		}
		return json.Unmarshal(b, &st)
	})
	return st, err == nil
}

// write records dep's state under an exclusive lock; accumulated failures from other processes are kept.
func (s *Set) write(st State) {
	if s.dir == "" {
		return
	}
	_ = s.locked(st.Dependency, syscall.LOCK_EX, func() error {
		if st.LastError != "" { // a transient failure: add to what earlier calls and processes recorded
			var prev State
			if b, err := os.ReadFile(s.path(st.Dependency)); err == nil && json.Unmarshal(b, &prev) == nil {
				st.Failures = prev.Failures + 1
			} else {
				st.Failures = 1
			}
			if st.Failures >= s.threshold {
				st.Open = true
			}
		}
		if !st.Open {
			st.Until = time.Time{}
		}
		b, err := json.Marshal(st)
		if err != nil {
			return err
		}
		return atomicfile.WriteFile(s.path(st.Dependency), b, 0o644)
	})
}

func (s *Set) locked(dep string, how int, fn func() error) error {
	if err := os.MkdirAll(s.dir, 0o755); err != nil {
		return err
	}
	f, err := os.OpenFile(s.path(dep)+".lock", os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return err
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), how); err != nil {
		return fmt.Errorf("locking breaker state for %s: %w", dep, err)
	}
	defer syscall.Flock(int(f.Fd()), syscall.LOCK_UN)
	return fn()
}

// IsOpen reports whether err is a fail-fast refusal by an open breaker.
func IsOpen(err error) bool {
	var re *result.Error
	return errors.As(err, &re) && re.Class == result.ClassUnavailable
}
