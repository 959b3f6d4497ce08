package agentimage

import (
	"errors"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// pinnedDockerfile is a Dockerfile pinning ref at digest, with the provenance comment pin-images.sh maintains.
func pinnedDockerfile(ref, digest string) string {
	return fmt.Sprintf("# Where each digest came from:\n#   %s: copied from a public Dockerfile\nARG IMG=%s@%s\nFROM ${IMG}\nUSER 10001\n", ref, ref, digest)
}

// runPin runs scripts/pin-images.sh and returns its exit code and stderr.
func runPin(t *testing.T, args ...string) (int, string) {
	t.Helper()
	cmd := exec.Command(filepath.Join("..", "scripts", "pin-images.sh"), args...)
	var stderr strings.Builder
	cmd.Stderr = &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	switch {
	case err == nil:
		return 0, stderr.String()
	case errors.As(err, &exit):
		return exit.ExitCode(), stderr.String()
	default:
		t.Fatalf("running pin-images.sh: %v", err)
		return -1, ""
	}
}

func TestPinImagesRefreshesDigestsWithCrane(t *testing.T) {
	if testing.Short() {
		t.Skip("needs crane; skipped under -short")
	}
	// crane is a peer CLI built once by test/scripts/tools.sh (make tools), never during go test.
	crane, err := exec.LookPath("crane")
	if err != nil {
		if os.Getenv("RG_REQUIRE_TOOLS") == "1" {
			t.Fatalf("crane not on PATH and RG_REQUIRE_TOOLS=1: run test/scripts/tools.sh crane and add its bin dir to PATH")
		}
		t.Skip("crane not on PATH (test/scripts/tools.sh crane; RG_REQUIRE_TOOLS=1 makes this a failure)")
	}
	t.Setenv("CRANE", crane)
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	ref := host + "/library/golang:1.26.8-bookworm"
	idx, err := random.Index(64, 1, 2)
	if err != nil {
		t.Fatal(err)
	}
	tag, err := name.ParseReference(ref)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.WriteIndex(tag, idx); err != nil {
		t.Fatalf("pushing the test index: %v", err)
	}
	d, err := idx.Digest()
	if err != nil {
		t.Fatal(err)
	}
	current := d.String()
	stale := "sha256:" + strings.Repeat("0", 64)

	tests := []struct {
		name        string
		file        string
		args        []string
		wantCode    int
		wantDigest  string
		wantComment string
		wantStderr  string
	}{
		{"a check of a stale digest exits 1 and changes nothing", pinnedDockerfile(ref, stale), []string{"--check"}, 1, stale, "copied from a public Dockerfile", "no longer match"},
		{"a refresh rewrites a stale digest and its provenance comment", pinnedDockerfile(ref, stale), nil, 0, current, "crane digest on", "refreshed 1 digest"},
		{"a check of a current digest exits 0", pinnedDockerfile(ref, current), []string{"--check"}, 0, current, "copied from a public Dockerfile", "up to date"},
		{"an unreachable registry exits 3 and changes nothing", pinnedDockerfile("127.0.0.1:1/library/golang:1.26.8-bookworm", stale), nil, 3, stale, "copied from a public Dockerfile", "crane digest"},
		{"a Dockerfile without pinned ARGs exits 2", "FROM scratch\n", nil, 2, "", "", "no ARG NAME=image:tag@sha256"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			file := filepath.Join(t.TempDir(), "Dockerfile")
			if err := os.WriteFile(file, []byte(tt.file), 0o644); err != nil {
				t.Fatal(err)
			}
			code, stderr := runPin(t, append(tt.args, file)...)
			if code != tt.wantCode {
				t.Fatalf("exit code %d, want %d; stderr:\n%s", code, tt.wantCode, stderr)
			}
			if !strings.Contains(stderr, tt.wantStderr) {
				t.Errorf("stderr %q does not mention %q", stderr, tt.wantStderr)
			}
			b, err := os.ReadFile(file)
			if err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(string(b), tt.wantDigest) || !strings.Contains(string(b), tt.wantComment) {
				t.Errorf("Dockerfile after the run:\n%s\nwant digest %s and comment %q", b, tt.wantDigest, tt.wantComment)
			}
			if tt.wantDigest == current && strings.Contains(string(b), "@"+stale) {
				t.Errorf("the stale digest is still pinned:\n%s", b)
			}
		})
	}
}
