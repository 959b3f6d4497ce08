package image_test

import (
	"context"
	"crypto"
	"fmt"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"strings"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/release-gates/release-gates/helpers/internal/image"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/registry/registrytest"
)

// Example_signAndVerify signs one image with both formats by digest, then verifies both signatures.
func Example_signAndVerify() {
	t := &testing.T{} // only for the test fixtures' error paths
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	defer srv.Close()
	dir, _ := os.MkdirTemp("", "image-example-")
	defer os.RemoveAll(dir)

	rc := registry.New(registry.Options{PlainHTTP: true})
	ref := strings.TrimPrefix(srv.URL, "http://") + "/app:v1"
	registrytest.PushRandom(t, rc, ref)
	p := newPKI(t)
	ctx := context.Background()

	err := image.SignAll(ctx, rc, []string{ref}, p.key(), image.SignOptions{Formats: []image.Format{image.Cosign, image.Notation}},
		func(o image.Outcome) {
			fmt.Println("cosign verified:", o.Cosign.Verified, "notation verified:", o.Notation.Verified)
		})
	fmt.Println("sign error:", err)

	policy, store := p.writeTrustIn(t, dir, "*")
	v, _ := image.LoadVerifier(policy, store)
	err = image.VerifyAll(ctx, rc, []string{ref}, image.VerifyOptions{
		Formats: []image.Format{image.Cosign, image.Notation}, CosignKeys: []crypto.PublicKey{p.LeafKey.Public()}, Notation: v,
	}, func(o image.Outcome) { fmt.Println("checked:", o.Checked) })
	fmt.Println("verify error:", err)
	// Output:
	// cosign verified: true notation verified: true
	// sign error: <nil>
	// checked: [cosign notation]
	// verify error: <nil>
}
