package ledger

import (
	"crypto"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

func TestACheckpointHoldsForItsChainAndLongerOnesOnly(t *testing.T) {
	k := newKey(t)
	path, lines := chain(t, k, 5)
	verify := func(lines [][]byte) Report {
		t.Helper()
		write(t, path, lines)
		rep, err := Verify(path, VerifyOptions{Keys: []crypto.PublicKey{k.Public()}})
		if err != nil {
			t.Fatal(err)
		}
		return rep
	}
	full := verify(lines)
	cp, err := NewCheckpoint(full, full.Entries[2], full.Entries[1], "prod", "rg-1")
	if err != nil || cp.Records != 3 || cp.Head != full.Entries[2].Hash || cp.Ledger != full.Entries[0].Hash || cp.Release.Seq != 2 {
		t.Fatalf("checkpoint %+v, %v", cp, err)
	}
	for _, n := range []int{3, 5} {
		if err := cp.Holds(verify(lines[:n]), path); err != nil {
			t.Fatalf("%d records: %v", n, err)
		}
	}
	err = cp.Holds(verify(lines[:2]), path)
	if result.ClassOf(err) != result.ClassTamper || !strings.Contains(err.Error(), "has 2 record(s)") || !strings.Contains(err.Error(), cp.Head) {
		t.Fatalf("a cut tail: %v", err)
	}
	other, otherLines := chain(t, k, 4)
	path = other
	err = cp.Holds(verify(otherLines), path)
	if result.ClassOf(err) != result.ClassTamper || !strings.Contains(err.Error(), "cut, reordered or replaced") || !strings.Contains(err.Error(), cp.Head) {
		t.Fatalf("another chain: %v", err)
	}
	if _, err := NewCheckpoint(full, Entry{Body: Body{Seq: 9}, Hash: "x"}, full.Entries[0], "prod", "rg-1"); err == nil {
		t.Fatal("a checkpoint at a record the chain does not hold")
	}
}
