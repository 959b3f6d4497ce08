package blob

import (
	"bytes"
	"context"
	"crypto"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/urfave/cli/v2"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// nilMapSigner panics on every call, the way a helper bug in a signer would.
type nilMapSigner struct{ crypto.Signer }

func (nilMapSigner) Sign(io.Reader, []byte, crypto.SignerOpts) ([]byte, error) {
	var m map[string]int
	m["x"] = 1
	return nil, nil
}

func TestAPanicInTheSigningPoolIsExit4WithTheResultFileWritten(t *testing.T) {
	fk := cachedKey(t, "panic", "pw")
	dir, files := writeBlobs(t, 6, 64)
	a := app.New("sign-artifacts", "test")
	a.Commands = []*cli.Command{{Name: "blob", Action: func(c *cli.Context) error {
		load := func(context.Context) (*keys.Key, error) {
			return &keys.Key{Signer: nilMapSigner{fk.key.Signer}, ID: fk.key.ID}, nil
		}
		_, err := Sign(c.Context, load, files, SignOptions{Parallel: 3})
		return err
	}}}
	path := filepath.Join(t.TempDir(), "result.json")
	var out, errb bytes.Buffer
	code := app.Run(context.Background(), a, []string{"sign-artifacts", "blob", "--result-file", path}, &out, &errb)
	if code != result.ExitInternal {
		t.Fatalf("exit code = %d, want %d (stderr %q)", code, result.ExitInternal, errb.String())
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("result file not written: %v", err)
	}
	var r result.Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.ExitCode != 4 || r.FailureClass != result.ClassInternal || r.Message != result.BugPrefix+"panic: assignment to entry in nil map" {
		t.Fatalf("unexpected result %+v", r)
	}
	if !strings.Contains(errb.String(), "goroutine ") || !strings.Contains(errb.String(), "panic_test.go") {
		t.Fatalf("stderr has no stack of the panicking worker: %q", errb.String())
	}
	if sigs := sigFiles(t, dir); len(sigs) != 0 {
		t.Fatalf("signatures written after a panic: %v", sigs)
	}
}

func TestAPanicInTheKeyLoaderIsAnInternalErrorNotACrash(t *testing.T) {
	_, files := writeBlobs(t, 2, 16)
	load := func(context.Context) (*keys.Key, error) { panic("loader bug") }
	_, err := Sign(context.Background(), load, files, SignOptions{Parallel: 2})
	var p *result.Panic
	if result.ClassOf(err) != result.ClassInternal || !errors.As(err, &p) || p.Value != "loader bug" {
		t.Fatalf("err = %v (class %q), want the recovered loader panic", err, result.ClassOf(err))
	}
}

func TestForEachStopsFeedingWorkItemsOnceEveryWorkerPanicked(t *testing.T) {
	var calls atomic.Int32
	err := forEach(context.Background(), 100, 1, func(int) {
		calls.Add(1)
		panic("worker bug")
	})
	if result.ClassOf(err) != result.ClassInternal {
		t.Fatalf("err = %v, want internal", err)
	}
	if calls.Load() != 1 {
		t.Fatalf("fn ran %d times after its only worker died", calls.Load())
	}
}
