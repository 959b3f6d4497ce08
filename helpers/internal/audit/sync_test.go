package audit_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/audit"
	"github.com/release-gates/release-gates/helpers/internal/testing/synctrace"
)

func TestEveryRecordIsSyncedAfterItIsWrittenAndANewJournalsDirectoryToo(t *testing.T) {
	calls := synctrace.Run(t, func(dir string) {
		w, err := audit.Open(filepath.Join(dir, "audit.jsonl"))
		if err != nil {
			panic(err)
		}
		for _, e := range []audit.Event{audit.EventRequest, audit.EventApproved} {
			if err := w.Write(audit.Record{Event: e, TraceID: "rg-1"}); err != nil {
				panic(err)
			}
		}
		if err := w.Close(); err != nil {
			panic(err)
		}
	})
	var got []string
	for _, c := range calls {
		got = append(got, c.Syscall+" "+filepath.Base(c.Path))
	}
	dir := ""
	for _, c := range calls {
		if c.Syscall == "open" && filepath.Base(c.Path) == "audit.jsonl" {
			dir = filepath.Base(filepath.Dir(c.Path))
		}
	}
	want := []string{"open audit.jsonl", "open " + dir, "fsync " + dir, "write audit.jsonl", "fsync audit.jsonl", "write audit.jsonl", "fsync audit.jsonl"}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Fatalf("traced calls:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
}
