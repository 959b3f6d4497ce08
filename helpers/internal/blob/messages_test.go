package blob

import (
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/vocab"
)

func TestCheckOutputsNamesTheOptionInTheCallersWords(t *testing.T) {
	step := vocab.Keys{Names: map[vocab.Option]string{OptOutDir: "outDir", OptChecksums: "checksums"}}
	cases := []struct {
		name  string
		files []string
		opts  SignOptions
		want  string
	}{
		{"the CLI, an out dir collision", []string{"a/x", "b/x"}, SignOptions{OutDir: "sigs"}, "drop --out-dir sigs or sign them"},
		{"the step, an out dir collision", []string{"a/x", "b/x"}, SignOptions{OutDir: "sigs", Spell: step}, "drop outDir: 'sigs' or sign them"},
		{"the CLI, the checksums among the inputs", []string{"SUMS"}, SignOptions{Checksums: "SUMS"}, "the checksums file (--checksums SUMS)"},
		{"the step, the checksums among the inputs", []string{"SUMS"}, SignOptions{Checksums: "SUMS", Spell: step}, "the checksums file (checksums: 'SUMS')"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := checkOutputs(c.files, c.opts); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}
