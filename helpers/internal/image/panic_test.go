package image_test

import (
	"context"
	"crypto"
	"errors"
	"io"
	"strings"
	"sync"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/image"
	"github.com/release-gates/release-gates/helpers/internal/registry/registrytest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// panicSigner panics for one digest: a bug in a signer (a PKCS#11 wrapper, say) that only some images hit.
type panicSigner struct {
	crypto.Signer
	mu    sync.Mutex
	calls int
}

func (p *panicSigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	p.mu.Lock()
	p.calls++
	n := p.calls
	p.mu.Unlock()
	if n == 2 {
		var m map[string]int
		m["x"] = 1
	}
	return p.Signer.Sign(r, d, o)
}

func TestAPanicInTheImageWorkerPoolIsAnInternalErrorNotACrash(t *testing.T) {
	isolateState(t)
	host, rc := startRegistry(t, false)
	var images []string
	for _, tag := range []string{"a", "b", "c"} {
		registrytest.PushRandom(t, rc, host+"/app:"+tag)
		images = append(images, host+"/app:"+tag)
	}
	k := newPKI(t).key()
	k.Signer = &panicSigner{Signer: k.Signer}
	var mu sync.Mutex
	var reported []string
	err := image.SignAll(context.Background(), rc, images, k, image.SignOptions{Formats: []image.Format{image.Cosign}, Workers: 2},
		func(o image.Outcome) {
			mu.Lock()
			defer mu.Unlock()
			reported = append(reported, o.Given)
		})
	var p *result.Panic
	if result.ClassOf(err) != result.ClassInternal || !errors.As(err, &p) {
		t.Fatalf("err = %v (class %q), want a recovered panic of class internal", err, result.ClassOf(err))
	}
	if strings.Contains(err.Error(), "goroutine ") {
		t.Fatalf("the stack leaked into the message: %q", err.Error())
	}
	if len(reported) != 2 {
		t.Fatalf("outcomes %v: want the two images whose worker did not panic", reported)
	}
}
