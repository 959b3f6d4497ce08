// Command pushimage builds a one-layer OCI image from a service binary without Docker and pushes it to a
// registry (plain HTTP allowed for loopback demo registries); it prints repo@sha256:... on stdout.
package main

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/remote"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
	"github.com/google/go-containerregistry/pkg/v1/types"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout); err != nil {
		fmt.Fprintln(os.Stderr, "pushimage:", err)
		os.Exit(2)
	}
}

func run(ctx context.Context, args []string, stdout io.Writer) error {
	fs := flag.NewFlagSet("pushimage", flag.ContinueOnError)
	bin := fs.String("binary", "", "the service binary to put into the image")
	ref := fs.String("ref", "", "where to push, e.g. 127.0.0.1:5000/demo/orders:1.0.0")
	into := fs.String("path", "/usr/local/bin/service", "path of the binary inside the image (the entrypoint)")
	platform := fs.String("platform", "linux/amd64", "os/arch recorded in the image config")
	plainHTTP := fs.Bool("plain-http", false, "allow plain HTTP to the registry (loopback demo registries only)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *bin == "" || *ref == "" {
		return errors.New("--binary and --ref are required")
	}
	osName, arch, ok := strings.Cut(*platform, "/")
	if !ok {
		return fmt.Errorf("--platform %q: use os/arch", *platform)
	}
	var opts []name.Option
	if *plainHTTP {
		opts = append(opts, name.Insecure)
	}
	tag, err := name.ParseReference(*ref, opts...)
	if err != nil {
		return fmt.Errorf("--ref: %w", err)
	}
	// go-containerregistry picks plain HTTP for loopback registries by itself; here it must be asked for.
	if reg := tag.Context().Registry; reg.Scheme() == "http" && !*plainHTTP {
		return fmt.Errorf("registry %s would be reached over plain HTTP: pass --plain-http (loopback demo registries only)", reg.Name())
	}
	img, err := image(*bin, *into, osName, arch)
	if err != nil {
		return err
	}
	if err := remote.Write(tag, img, remote.WithContext(ctx)); err != nil {
		return fmt.Errorf("pushing %s: %w", tag, err)
	}
	d, err := img.Digest()
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(stdout, "%s@%s\n", tag.Context().Name(), d)
	return err
}

// image returns a reproducible OCI image whose only layer holds the binary at into, run as its entrypoint.
func image(bin, into, osName, arch string) (v1.Image, error) {
	data, err := os.ReadFile(bin)
	if err != nil {
		return nil, fmt.Errorf("reading --binary: %w", err)
	}
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0).UTC()
	dir := strings.TrimPrefix(path.Dir(into), "/")
	parts := strings.Split(dir, "/")
	for i := range parts {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.Join(parts[:i+1], "/") + "/", Mode: 0o755, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: strings.TrimPrefix(into, "/"), Mode: 0o755, Size: int64(len(data)), ModTime: epoch}); err != nil {
		return nil, err
	}
	if _, err := tw.Write(data); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	layerBytes := buf.Bytes()
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(layerBytes)), nil },
		tarball.WithMediaType(types.OCILayer))
	if err != nil {
		return nil, fmt.Errorf("building the layer: %w", err)
	}
	base := mutate.ConfigMediaType(mutate.MediaType(empty.Image, types.OCIManifestSchema1), types.OCIConfigJSON)
	img, err := mutate.AppendLayers(base, layer)
	if err != nil {
		return nil, err
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return nil, err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = osName, arch
	cf.Created = v1.Time{Time: epoch}
	cf.Config.Entrypoint = []string{into}
	cf.Config.Env = []string{"PORT=8080"}
	cf.Config.ExposedPorts = map[string]struct{}{"8080/tcp": {}}
	return mutate.ConfigFile(img, cf)
}
