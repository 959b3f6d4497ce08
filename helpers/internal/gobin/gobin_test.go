package gobin

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/gobin/gobintest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func TestInspectReadsBuildInfoAndCheckAppliesThePolicy(t *testing.T) {
	dir := t.TempDir()
	amd, err := gobintest.Build(dir, "linux", "amd64", false)
	if err != nil {
		t.Fatal(err)
	}
	arm, err := gobintest.Build(dir, "linux", "arm64", false)
	if err != nil {
		t.Fatal(err)
	}
	dirty, err := gobintest.Build(dir, "linux", "amd64", true)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name, path, expect string
		allowDirty         bool
		wantErr            string
	}{
		{"a clean binary for the expected platform passes", amd, "linux/amd64", false, ""},
		{"any platform passes when none is expected", arm, "", false, ""},
		{"a binary for another platform is rejected", amd, "linux/arm64", false, "built for linux/amd64, expected linux/arm64"},
		{"a dirty build is rejected", dirty, "linux/amd64", false, "dirty tree"},
		{"a dirty build passes with allowDirty", dirty, "linux/amd64", true, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			info, ok, err := Inspect(tc.path)
			if err != nil || !ok {
				t.Fatalf("Inspect = %v, %v", ok, err)
			}
			if info.Module != "example.com/hello" || !info.HasVCSStamp || len(info.Revision) != 40 || info.BuildID == "" || !strings.HasPrefix(info.GoVersion, "go1.") {
				t.Fatalf("incomplete info: %+v", info)
			}
			err = info.Check(filepath.Base(tc.path), tc.expect, tc.allowDirty, nil)
			if tc.wantErr == "" {
				if err != nil {
					t.Fatal(err)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) || result.ClassOf(err).ExitCode() != result.ExitRejected {
				t.Fatalf("err = %v, want rejection containing %q", err, tc.wantErr)
			}
		})
	}
}

func TestInspectSaysNonGoFilesAreNotGoBinaries(t *testing.T) {
	p := filepath.Join(t.TempDir(), "notes.txt")
	os.WriteFile(p, []byte("just text"), 0o644)
	if _, ok, err := Inspect(p); ok || err != nil {
		t.Fatalf("ok=%v err=%v, want not a Go binary", ok, err)
	}
	if _, _, err := Inspect(p + ".missing"); result.ClassOf(err) != result.ClassInput {
		t.Fatalf("missing file: err = %v", err)
	}
}

func TestValidatePlatformRefusesMalformedValues(t *testing.T) {
	for _, p := range []string{"linux", "/amd64", "linux/", "linux/arm/v7"} {
		t.Run(p, func(t *testing.T) {
			if result.ClassOf(ValidatePlatform(p, nil)) != result.ClassInput {
				t.Fatalf("%q accepted", p)
			}
		})
	}
	if err := ValidatePlatform("linux/arm64", nil); err != nil {
		t.Fatal(err)
	}
}
