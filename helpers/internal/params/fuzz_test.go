package params

import (
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// FuzzDecode feeds arbitrary documents to Parse and Decode: they never panic, and every refusal is an input error.
func FuzzDecode(f *testing.F) {
	for _, s := range []string{`{"step":"x","params":{"name":"n","files":["a",1],"env":{"A":1},"body":{"a":[1]}}}`,
		`{"step":"x","params":{"parallel":1e99}}`, `{"step":"x","params":[]}`, `{"step":"","params":null}`, `{`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, doc string) {
		d, err := Parse([]byte(doc))
		if err != nil {
			if result.ClassOf(err) != result.ClassInput {
				t.Fatalf("Parse: class %s: %v", result.ClassOf(err), err)
			}
			return
		}
		var s sample
		if err := Decode(d.Params, &s); err != nil && result.ClassOf(err) != result.ClassInput {
			t.Fatalf("Decode: class %s: %v", result.ClassOf(err), err)
		}
	})
}
