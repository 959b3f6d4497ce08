package gobin

import (
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/vocab"
)

func TestCheckNamesTheOptionInTheCallersWords(t *testing.T) {
	dirty := &Info{GOOS: "linux", GOARCH: "amd64", Modified: true, Revision: "0123456789abcdef"}
	step := vocab.Keys{Names: map[vocab.Option]string{OptAllowDirty: "allowDirty", OptExpectPlatform: "expectPlatform"}}
	cases := []struct {
		name, expect string
		sp           vocab.Spelling
		want         string
	}{
		{"the CLI, a dirty build", "", nil, "sign it anyway with --allow-dirty"},
		{"the step, a dirty build", "", step, "sign it anyway with allowDirty: true"},
		{"the CLI, another platform", "linux/arm64", nil, "expected linux/arm64 (--expect-platform linux/arm64)"},
		{"the step, another platform", "linux/arm64", step, "expected linux/arm64 (expectPlatform: 'linux/arm64')"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if err := dirty.Check("svc", c.expect, false, c.sp); err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
	if err := ValidatePlatform("arm64", step); err == nil || !strings.Contains(err.Error(), "expectPlatform: 'arm64' is not os/arch") {
		t.Fatalf("err = %v", err)
	}
}
