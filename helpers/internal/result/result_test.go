package result

import (
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestEachClassMapsToTheContractExitCode(t *testing.T) {
	want := map[Class]int{
		"": 0, ClassRejected: 1, ClassTamper: 1, ClassPolicy: 1,
		ClassInput: 2, ClassConfig: 2, ClassAuth: 2, ClassKey: 2, ClassInternal: 4,
		ClassTransient: 3, ClassUnavailable: 3,
	}
	for c, code := range want {
		if got := c.ExitCode(); got != code {
			t.Errorf("%q.ExitCode() = %d, want %d", c, got, code)
		}
	}
}

func TestWrapKeepsTheInnermostClass(t *testing.T) {
	inner := Errorf(ClassTamper, "signature does not match")
	outer := fmt.Errorf("verifying a.bin: %w", inner)
	if got := ClassOf(Wrap(ClassInput, outer)); got != ClassTamper {
		t.Fatalf("class = %q, want tamper", got)
	}
	if ClassOf(errors.New("x")) != ClassInternal || ClassOf(nil) != "" || Wrap(ClassInput, nil) != nil {
		t.Fatal("unclassified / nil handling is wrong")
	}
}

func TestFinishNamesAnInternalFailureAHelperBugOnce(t *testing.T) {
	for _, err := range []error{errors.New("nil pointer"), Errorf(ClassInternal, "nil pointer"), Errorf(ClassInternal, BugPrefix+"nil pointer")} {
		r := NewRecorder("h", "v", "verb", "trace").Finish(err, "")
		if r.ExitCode != ExitInternal || r.Status != StatusError || r.Message != "helper bug, please report: nil pointer" {
			t.Errorf("%v: %+v", err, r)
		}
	}
	if r := NewRecorder("h", "v", "verb", "trace").Finish(Errorf(ClassInput, "no go.mod"), ""); r.ExitCode != ExitInput || r.Message != "no go.mod" {
		t.Errorf("input: %+v", r)
	}
}

func TestFinishRecordsStatusAndWriteFileIsValidJSON(t *testing.T) {
	rec := NewRecorder("h", "v", "verb", "trace")
	rec.Add(Item{Name: "a", FailureClass: ClassTamper})
	r := rec.Finish(Errorf(ClassTamper, "bad"), "")
	if r.Status != StatusRejected || r.ExitCode != 1 || r.Message != "bad" || r.Items[0].Status != StatusRejected {
		t.Fatalf("%+v", r)
	}
	p := filepath.Join(t.TempDir(), "r.json")
	if err := WriteFile(p, r); err != nil {
		t.Fatal(err)
	}
	b, _ := os.ReadFile(p)
	var back Result
	if err := json.Unmarshal(b, &back); err != nil || back.FailureClass != ClassTamper {
		t.Fatalf("round trip: %v %+v", err, back)
	}
}

func TestNonNilWritesAnEmptyListNotNull(t *testing.T) {
	b, err := json.Marshal(struct {
		Items []Item   `json:"items"`
		Names []string `json:"names"`
	}{NonNil[Item](nil), NonNil([]string{"a"})})
	if err != nil || string(b) != `{"items":[],"names":["a"]}` {
		t.Fatalf("%s (%v)", b, err)
	}
}
