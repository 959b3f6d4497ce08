package agentimage

import (
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

// runImages runs scripts/images.sh (or make with args when the first is "make") with extra env; it returns the exit
// code and the combined output.
func runImages(t *testing.T, env []string, args ...string) (int, string) {
	t.Helper()
	var cmd *exec.Cmd
	if args[0] == "make" {
		cmd = exec.Command("make", append([]string{"-s", "--no-print-directory"}, args[1:]...)...)
	} else {
		cmd = exec.Command("scripts/images.sh", args...) // relative to Dir
	}
	cmd.Dir = ".."
	cmd.Env = append(os.Environ(), env...)
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return ee.ExitCode(), string(out)
	} else if err != nil {
		t.Fatal(err)
	}
	return 0, string(out)
}

// fakeDocker puts a docker on PATH whose `docker info` fails, as on a machine without a Docker engine.
func fakeDocker(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "docker"), []byte("#!/bin/sh\necho 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock. Is the docker daemon running?' >&2\nexit 1\n"), 0o755)
	return "PATH=" + dir + string(os.PathListSeparator) + os.Getenv("PATH")
}

func TestAgentImageFallsBackToBuildahAndNamesAMissingBuilder(t *testing.T) {
	if os.Getuid() != 0 {
		t.Skip("the buildah path needs root; the check for a missing builder comes after the root check")
	}
	code, out := runImages(t, []string{fakeDocker(t), "BUILDAH=/nonexistent/buildah", "VERSION=v0.0.0-test"}, "make", "agent-image")
	if code == 0 {
		t.Fatalf("make agent-image passed without a Docker engine or a builder:\n%s", out)
	}
	for _, want := range []string{
		"agent-image: no Docker engine answers 'docker info': building linux/amd64 with buildah",
		"images: builder '/nonexistent/buildah' not found: install Debian's buildah (test/scripts/install-deps.sh images)",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("make agent-image output lacks %q:\n%s", want, out)
		}
	}
	if strings.Contains(out, "docker buildx build") {
		t.Errorf("make agent-image ran docker buildx although docker info failed:\n%s", out)
	}
	// The script itself: exit 2 (bad config), and nothing was started.
	if code, out := runImages(t, []string{"BUILDAH=/nonexistent/buildah"}, "preflight"); code != 2 || !strings.Contains(out, "builder '/nonexistent/buildah' not found") {
		t.Fatalf("images.sh preflight without a builder: exit %d, want 2:\n%s", code, out)
	}
}

func TestImagesScriptRefusesABaseImageTheLocalRegistryDoesNotHave(t *testing.T) {
	srv := httptest.NewServer(registry.New(registry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	img, err := random.Image(256, 1)
	if err != nil {
		t.Fatal(err)
	}
	present := host + "/library/debian:bookworm-slim"
	ref, err := name.ParseReference(present, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	if err := remote.Write(ref, img); err != nil {
		t.Fatal(err)
	}
	if code, out := runImages(t, nil, "check-base", present, "RUNTIME_IMAGE"); code != 0 {
		t.Fatalf("check-base %s: exit %d:\n%s", present, code, out)
	}
	missing := host + "/library/golang:1.26.8-bookworm"
	code, out := runImages(t, nil, "check-base", missing, "GO_IMAGE")
	want := "images: base image " + missing + " (build arg GO_IMAGE) is not in the local registry " + host
	if code != 2 || !strings.Contains(out, want) {
		t.Fatalf("check-base of a missing image: exit %d, want 2 and %q:\n%s", code, want, out)
	}
	down := refusingHost(t) + "/library/debian:bookworm-slim"
	if code, out := runImages(t, nil, "check-base", down, "RUNTIME_IMAGE"); code != 3 || !strings.Contains(out, "does not answer") {
		t.Fatalf("check-base with the registry down: exit %d, want 3:\n%s", code, out)
	}
}

// refusingHost returns 127.0.0.1:port of a socket bound but never listening, held until the test ends: connections
// are refused, and no other process can take the port (a closed server's port could be reused meanwhile).
func refusingHost(t *testing.T) string {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	return fmt.Sprintf("127.0.0.1:%d", sa.(*syscall.SockaddrInet4).Port)
}
