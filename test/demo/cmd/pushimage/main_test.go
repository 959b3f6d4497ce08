package main

import (
	"bytes"
	"context"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/registry"
	"github.com/google/go-containerregistry/pkg/v1/remote"
)

func TestPushImage(t *testing.T) {
	srv := httptest.NewServer(registry.New())
	defer srv.Close()
	host := strings.TrimPrefix(srv.URL, "http://")
	bin := filepath.Join(t.TempDir(), "orders")
	if err := os.WriteFile(bin, []byte("#!/bin/true\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	push := func(t *testing.T, tag string, extra ...string) (string, error) {
		var out bytes.Buffer
		err := run(context.Background(), append([]string{"--binary", bin, "--ref", host + "/demo/orders:" + tag, "--path", "/usr/local/bin/orders"}, extra...), &out)
		return strings.TrimSpace(out.String()), err
	}

	t.Run("it pushes the binary as the entrypoint of a linux/amd64 OCI image and prints repo@digest", func(t *testing.T) {
		got, err := push(t, "1.0.0", "--plain-http")
		if err != nil {
			t.Fatal(err)
		}
		ref, err := name.ParseReference(got, name.Insecure)
		if err != nil || !strings.HasPrefix(got, host+"/demo/orders@sha256:") {
			t.Fatalf("printed %q (%v)", got, err)
		}
		img, err := remote.Image(ref)
		if err != nil {
			t.Fatal(err)
		}
		cf, _ := img.ConfigFile()
		mt, _ := img.MediaType()
		layers, _ := img.Layers()
		if cf.OS != "linux" || cf.Architecture != "amd64" || len(cf.Config.Entrypoint) != 1 || cf.Config.Entrypoint[0] != "/usr/local/bin/orders" ||
			mt != "application/vnd.oci.image.manifest.v1+json" || len(layers) != 1 {
			t.Fatalf("unexpected image: %s %s/%s entrypoint %v, %d layers", mt, cf.OS, cf.Architecture, cf.Config.Entrypoint, len(layers))
		}
	})

	t.Run("the same binary gives the same digest (reproducible layer and config)", func(t *testing.T) {
		a, errA := push(t, "a", "--plain-http")
		b, errB := push(t, "b", "--plain-http")
		if errA != nil || errB != nil || a != b {
			t.Fatalf("%s (%v) != %s (%v)", a, errA, b, errB)
		}
	})

	t.Run("it refuses plain HTTP unless asked", func(t *testing.T) {
		if _, err := push(t, "c"); err == nil {
			t.Fatal("pushed over plain HTTP without --plain-http")
		}
	})

	t.Run("it names the missing flags", func(t *testing.T) {
		err := run(context.Background(), []string{"--ref", host + "/x:1"}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), "--binary and --ref are required") {
			t.Fatalf("err = %v", err)
		}
	})
}
