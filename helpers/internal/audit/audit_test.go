package audit

import (
	"bufio"
	"encoding/json"
	"os"
	"path/filepath"
	"sync"
	"testing"
)

func TestConcurrentWritersAppendWholeLines(t *testing.T) {
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	const writers, each = 4, 200
	var wg sync.WaitGroup
	for i := 0; i < writers; i++ {
		w, err := Open(path) // separate descriptors, as separate processes would have
		if err != nil {
			t.Fatal(err)
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			defer w.Close()
			for j := 0; j < each; j++ {
				if err := w.Write(Record{Event: EventApproved, TraceID: "rg-1", User: "U1"}); err != nil {
					t.Error(err)
					return
				}
			}
		}()
	}
	wg.Wait()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	n := 0
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var r Record
		if err := json.Unmarshal(sc.Bytes(), &r); err != nil {
			t.Fatalf("line %d is not a whole record: %v", n, err)
		}
		if r.Time.IsZero() || r.Event != EventApproved {
			t.Fatalf("line %d: %+v", n, r)
		}
		n++
	}
	if n != writers*each {
		t.Fatalf("got %d lines, want %d", n, writers*each)
	}
	if st, _ := os.Stat(path); st.Mode().Perm() != 0o600 {
		t.Fatalf("audit file mode %v, want 0600", st.Mode().Perm())
	}
}

func TestWriteRefusesUnknownEvents(t *testing.T) {
	w := New(&nopWriter{})
	for _, e := range []Event{"", "approve", "deleted"} {
		t.Run(string(e), func(t *testing.T) {
			if err := w.Write(Record{Event: e}); err == nil {
				t.Fatalf("event %q accepted", e)
			}
		})
	}
}

type nopWriter struct{}

func (nopWriter) Write(b []byte) (int, error) { return len(b), nil }
