package audit

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/atomicfile"
)

// Event names one kind of approval-journal line.
type Event string

// Events recorded by the helper and the relay.
const (
	EventRequest  Event = "request"
	EventApproved Event = "approved"
	EventRejected Event = "rejected"
	EventDenied   Event = "denied"
	EventExpired  Event = "expired"
	EventForged   Event = "forged"
	EventReplayed Event = "replayed"
	EventFailed   Event = "failed"
)

// Events lists every valid event, for flag validation.
var Events = []Event{EventRequest, EventApproved, EventRejected, EventDenied, EventExpired, EventForged, EventReplayed, EventFailed}

// Valid reports whether e is a known event.
func (e Event) Valid() bool {
	for _, v := range Events {
		if e == v {
			return true
		}
	}
	return false
}

// Record is one approval-journal line; it never holds a secret or a raw token.
type Record struct {
	Time        time.Time `json:"time"`
	Event       Event     `json:"event"`
	TraceID     string    `json:"trace_id,omitempty"`
	Team        string    `json:"team,omitempty"`
	Channel     string    `json:"channel,omitempty"`
	MessageTS   string    `json:"message_ts,omitempty"`
	ActionTS    string    `json:"action_ts,omitempty"`
	User        string    `json:"user,omitempty"`
	By          string    `json:"by,omitempty"`
	BuildURL    string    `json:"build_url,omitempty"`
	InputID     string    `json:"input_id,omitempty"`
	Service     string    `json:"service,omitempty"`
	Environment string    `json:"environment,omitempty"`
	Decision    string    `json:"decision,omitempty"`
	Reason      string    `json:"reason,omitempty"`
	Source      string    `json:"source,omitempty"`
}

// Writer appends records as JSON lines; it is safe for concurrent use.
type Writer struct {
	mu sync.Mutex
	w  io.Writer
	c  io.Closer
	f  *os.File // synced after every record; nil for stdout and in-memory sinks
	// Group sync: written counts records written (under mu), synced those an fsync covers (under syncMu). A
	// writer returns once an fsync that began after its write ends; writers arriving together share that fsync.
	syncMu  sync.Mutex
	written uint64
	synced  uint64
}

// Open appends to path (created 0600 if missing), or to stdout when path is "" or "-".
func Open(path string) (*Writer, error) {
	if path == "" || path == "-" {
		return &Writer{w: os.Stdout}, nil
	}
	_, statErr := os.Stat(path)
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("opening audit file %s: %w", path, err)
	}
	if errors.Is(statErr, fs.ErrNotExist) { // a new journal: its name must survive a crash too
		if err := atomicfile.SyncDir(filepath.Dir(path)); err != nil {
			f.Close()
			return nil, fmt.Errorf("syncing the directory of audit file %s: %w", path, err)
		}
	}
	return &Writer{w: f, c: f, f: f}, nil
}

// New appends to w; used for tests and in-memory sinks.
func New(w io.Writer) *Writer { return &Writer{w: w} }

// Write appends rec as one line in a single write, so concurrent appenders never interleave, and returns after a
// file's fsync covers it (concurrent writers share one fsync).
func (w *Writer) Write(rec Record) error {
	if rec.Time.IsZero() {
		rec.Time = time.Now().UTC()
	}
	if !rec.Event.Valid() {
		return fmt.Errorf("unknown audit event %q", rec.Event)
	}
	b, err := json.Marshal(rec)
	if err != nil {
		return fmt.Errorf("encoding audit record: %w", err)
	}
	b = append(b, '\n')
	w.mu.Lock()
	n, err := w.w.Write(b)
	if err == nil && n != len(b) {
		err = io.ErrShortWrite
	}
	if err != nil {
		w.mu.Unlock()
		return fmt.Errorf("appending audit record: %w", err)
	}
	w.written++
	seq := w.written
	w.mu.Unlock()
	if w.f == nil {
		return nil
	}
	// A decision the journal acknowledged must not vanish on a power cut: return after an fsync covering it.
	w.syncMu.Lock()
	defer w.syncMu.Unlock()
	if w.synced >= seq {
		return nil // another writer's fsync began after this record was written
	}
	w.mu.Lock()
	upTo := w.written
	w.mu.Unlock()
	if err := w.f.Sync(); err != nil {
		return fmt.Errorf("syncing audit record: %w", err)
	}
	w.synced = upTo
	return nil
}

// Close closes the underlying file, if any.
func (w *Writer) Close() error {
	if w.c == nil {
		return nil
	}
	return w.c.Close()
}
