package blob

import (
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"os"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"sync"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/atomicfile"
	"github.com/release-gates/release-gates/helpers/internal/bundle"
	"github.com/release-gates/release-gates/helpers/internal/gobin"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/vocab"
)

// Default file name suffixes for detached signatures and cosign (legacy JSON) bundles.
const (
	SignatureSuffix = ".sig"
	BundleSuffix    = ".bundle"
)

// Options of Sign, as vocab spells them for the user.
const (
	OptOutDir    vocab.Option = "out-dir"
	OptChecksums vocab.Option = "checksums"
)

// maxSignatureSize caps how much of a signature or bundle file is read.
const maxSignatureSize = 64 << 10

// KeyLoader loads the signing key; Sign calls it once, while the files are being hashed.
type KeyLoader func(ctx context.Context) (*keys.Key, error)

// SignOptions tunes Sign; the zero value signs next to each file with NumCPU*2 workers.
type SignOptions struct {
	Parallel       int         // concurrent files; 0 means NumCPU*2
	OutDir         string      // where signatures go; "" means next to each file
	Checksums      string      // if set, write this goreleaser-style SHA256SUMS file and sign it too
	Bundle         bool        // also write <file>.bundle (cosign legacy bundle, key-based, no tlog entry)
	BundleFormat   string      // with Bundle: "v0.3" writes a sigstore bundle v0.3 (cosign v3's default) instead
	ExpectPlatform string      // "os/arch" that Go binaries must be built for; "" accepts any
	AllowDirty     bool        // accept Go binaries built from a modified tree
	Log            *log.Logger // one progress line per file; nil discards

	// Spell names the options in errors (OutDir, Checksums, ...) as the caller's user writes them; nil: helper flags.
	Spell vocab.Spelling
}

// Artifact is the outcome for one file.
type Artifact struct {
	Path      string
	SHA256    string
	Size      int64
	Signature string      // path of the detached signature
	Bundle    string      // path of the bundle, when written
	KeyID     string      // signing key, or the key that verified
	Go        *gobin.Info // build info when the file is a Go binary
	Err       error
	Duration  time.Duration

	sig []byte
}

// LocalBundle is cosign's key-based blob bundle (cosign.LocalSignedPayload without cert and tlog entry).
type LocalBundle struct {
	Base64Signature string `json:"base64Signature"`
	Cert            string `json:"cert,omitempty"`
}

func (o *SignOptions) defaults() {
	if o.Parallel <= 0 {
		o.Parallel = runtime.NumCPU() * 2
	}
	if o.Log == nil {
		o.Log = log.New(io.Discard, "", 0)
	}
}

// SignaturePath returns where the signature of file goes: next to it, or in outDir.
func SignaturePath(file, outDir, suffix string) string {
	if outDir == "" {
		return file + suffix
	}
	return filepath.Join(outDir, filepath.Base(file)+suffix)
}

// Sign hashes every file once, checks Go binaries, signs the sha256 digests with the key from load and
// writes the signatures atomically. Nothing is written unless every file passes.
func Sign(ctx context.Context, load KeyLoader, files []string, opts SignOptions) ([]Artifact, error) {
	opts.defaults()
	if err := gobin.ValidatePlatform(opts.ExpectPlatform, opts.Spell); err != nil {
		return nil, err
	}
	if err := checkOutputs(files, opts); err != nil {
		return nil, err
	}
	// The key (scrypt or an HSM login) loads while the files are hashed.
	pk := loadKey(ctx, load)
	defer pk.close()

	arts := make([]Artifact, len(files))
	perr := forEach(ctx, len(files), opts.Parallel, func(i int) {
		a := &arts[i]
		a.Path = files[i]
		start := time.Now()
		a.Err = signOne(a, pk, opts)
		a.Duration = time.Since(start)
		if a.Err != nil {
			opts.Log.Printf("FAIL %s: %v", a.Path, a.Err)
		} else {
			opts.Log.Printf("ok   %s sha256:%s%s", a.Path, a.SHA256, goNote(a.Go))
		}
	})
	if perr != nil {
		return arts, perr
	}
	if _, err := pk.get(); err != nil {
		return arts, err
	}
	if err := ctx.Err(); err != nil {
		return arts, result.Errorf(result.ClassUnavailable, "signing interrupted: %v", err)
	}
	if err := firstFailure(arts, "signing"); err != nil {
		return arts, err
	}
	if opts.Checksums != "" {
		sums, err := signChecksums(arts, pk.key, opts)
		if err != nil {
			return arts, err
		}
		arts = append(arts, sums)
	}
	var mu sync.Mutex
	var writeErr error
	perr = forEach(ctx, len(arts), opts.Parallel, func(i int) {
		if err := writeSignature(&arts[i], pk.key.Public(), opts); err != nil {
			mu.Lock()
			if writeErr == nil {
				writeErr = err
			}
			mu.Unlock()
		}
	})
	if perr != nil {
		return arts, perr
	}
	if writeErr != nil {
		return arts, result.Errorf(result.ClassInput, "writing signatures: %v", writeErr)
	}
	return arts, nil
}

func goNote(i *gobin.Info) string {
	if i == nil {
		return ""
	}
	return fmt.Sprintf(" (Go %s %s %s@%s)", i.GoVersion, i.Platform(), i.Module, shortRev(i.Revision))
}

func shortRev(r string) string {
	if len(r) > 12 {
		return r[:12]
	}
	return r
}

// checkOutputs refuses two inputs whose signatures would land on the same path.
func checkOutputs(files []string, opts SignOptions) error {
	if len(files) == 0 {
		return result.Errorf(result.ClassInput, "no files to sign")
	}
	seen := map[string]string{}
	for _, f := range files {
		p := SignaturePath(f, opts.OutDir, SignatureSuffix)
		if prev, ok := seen[p]; ok {
			return result.Errorf(result.ClassInput, "%s and %s would both be signed to %s: drop %s or sign them in separate calls", prev, f, p, vocab.Say(opts.Spell, OptOutDir, opts.OutDir))
		}
		seen[p] = f
		if opts.Checksums != "" && filepath.Clean(f) == filepath.Clean(opts.Checksums) {
			return result.Errorf(result.ClassInput, "%s is both an input and the checksums file (%s): drop it from the files or write the checksums elsewhere", f, vocab.Say(opts.Spell, OptChecksums, opts.Checksums))
		}
	}
	return nil
}

// pendingKey is the signing key while it loads. Its stop channel closes when the load fails or the call ends, so
// that hashing gives up early: nothing could be signed anyway.
type pendingKey struct {
	done, stop chan struct{}
	stopOnce   sync.Once
	unwatch    func() bool
	key        *keys.Key
	err        error
}

// loadKey starts load in its own goroutine.
func loadKey(ctx context.Context, load KeyLoader) *pendingKey {
	pk := &pendingKey{done: make(chan struct{}), stop: make(chan struct{})}
	pk.unwatch = context.AfterFunc(ctx, pk.halt)
	go func() {
		defer func() {
			if pk.err != nil {
				pk.halt() // after done closed, so that notSigned sees the key's error
			}
		}()
		defer close(pk.done)
		defer result.Recover(&pk.err) // a panic in the key loader is exit 4, not a crash
		pk.key, pk.err = load(ctx)
	}()
	return pk
}

func (pk *pendingKey) halt() { pk.stopOnce.Do(func() { close(pk.stop) }) }

// get waits for the key.
func (pk *pendingKey) get() (*keys.Key, error) {
	<-pk.done
	return pk.key, pk.err
}

// notSigned is a file's error once its hashing stopped or the key failed; Sign reports the cause itself.
func (pk *pendingKey) notSigned() error {
	select {
	case <-pk.done:
		if pk.err != nil {
			return result.Errorf(result.ClassOf(pk.err), "not signed: the key could not be loaded")
		}
	default:
	}
	return result.Errorf(result.ClassUnavailable, "not signed: signing was interrupted")
}

// close waits for the load to end (no goroutine outlives Sign) and releases the key.
func (pk *pendingKey) close() {
	pk.unwatch()
	<-pk.done
	if pk.key != nil {
		pk.key.Close()
	}
}

func signOne(a *Artifact, pk *pendingKey, opts SignOptions) error {
	if stopped(pk.stop) {
		return pk.notSigned()
	}
	info, isGo, err := gobin.Inspect(a.Path)
	if err != nil {
		return err
	}
	if isGo {
		a.Go = info
		if err := info.Check(a.Path, opts.ExpectPlatform, opts.AllowDirty, opts.Spell); err != nil {
			return err
		}
	}
	digest, size, err := hashFile(pk.stop, a.Path)
	if err == errStopped {
		return pk.notSigned()
	}
	if err != nil {
		return err
	}
	a.SHA256, a.Size = hex.EncodeToString(digest), size
	key, err := pk.get()
	if err != nil {
		return pk.notSigned()
	}
	return signDigest(a, key, digest)
}

func signDigest(a *Artifact, key *keys.Key, digest []byte) error {
	sig, err := key.Signer.Sign(rand.Reader, digest, crypto.SHA256)
	if err != nil {
		return result.Errorf(result.ClassKey, "signing %s with key %s: %v", a.Path, key.ID, err)
	}
	// Check each signature against the public key before it is written: a faulty token must not ship bad signatures.
	if !verifyDigest(key.Public(), digest, sig) {
		return result.Errorf(result.ClassKey, "signing %s: the signature from key %s does not verify against its own public key", a.Path, key.ID)
	}
	a.sig, a.KeyID = sig, key.ID
	return nil
}

// signChecksums builds the SHA256SUMS content from the artifacts and signs its digest.
func signChecksums(arts []Artifact, key *keys.Key, opts SignOptions) (Artifact, error) {
	path := opts.Checksums
	if opts.OutDir != "" && !filepath.IsAbs(path) && filepath.Dir(path) == "." {
		path = filepath.Join(opts.OutDir, path)
	}
	content, err := Checksums(arts, filepath.Dir(path))
	if err != nil {
		return Artifact{}, err
	}
	sum := sha256.Sum256(content)
	a := Artifact{Path: path, SHA256: hex.EncodeToString(sum[:]), Size: int64(len(content))}
	if err := signDigest(&a, key, sum[:]); err != nil {
		return a, err
	}
	if err := atomicfile.WriteFile(path, content, 0o644); err != nil {
		return a, result.Errorf(result.ClassInput, "%v", err)
	}
	opts.Log.Printf("ok   %s sha256:%s (%d entries)", path, a.SHA256, len(arts))
	return a, nil
}

// Checksums renders "<hex>  <name>" lines, sorted by name; names are relative to dir when inside it, else base names.
func Checksums(arts []Artifact, dir string) ([]byte, error) {
	type line struct{ name, sum string }
	lines := make([]line, 0, len(arts))
	seen := map[string]string{}
	for _, a := range arts {
		name := filepath.Base(a.Path)
		if rel, err := filepath.Rel(dir, a.Path); err == nil && !strings.HasPrefix(rel, "..") {
			name = filepath.ToSlash(rel)
		}
		if prev, ok := seen[name]; ok {
			return nil, result.Errorf(result.ClassInput, "%s and %s both appear as %q in the checksums file", prev, a.Path, name)
		}
		seen[name] = a.Path
		lines = append(lines, line{name, a.SHA256})
	}
	sort.Slice(lines, func(i, j int) bool { return lines[i].name < lines[j].name })
	var b strings.Builder
	for _, l := range lines {
		fmt.Fprintf(&b, "%s  %s\n", l.sum, l.name)
	}
	return []byte(b.String()), nil
}

func writeSignature(a *Artifact, pub crypto.PublicKey, opts SignOptions) error {
	a.Signature = SignaturePath(a.Path, opts.OutDir, SignatureSuffix)
	// A batch killed mid-write leaves hidden .sig.tmp-* files next to the signature: this run removes them.
	if _, err := atomicfile.CleanStale(a.Signature); err != nil {
		return err
	}
	b64 := base64.StdEncoding.EncodeToString(a.sig)
	if err := atomicfile.WriteFile(a.Signature, []byte(b64), 0o644); err != nil {
		return err
	}
	if opts.Bundle {
		a.Bundle = SignaturePath(a.Path, opts.OutDir, BundleSuffix)
		if _, err := atomicfile.CleanStale(a.Bundle); err != nil {
			return err
		}
		b, _ := json.Marshal(LocalBundle{Base64Signature: b64})
		if opts.BundleFormat == bundle.FormatV03 {
			digest, _ := hex.DecodeString(a.SHA256)
			var err error
			if b, err = bundle.DigestBundle(pub, digest, a.sig); err != nil {
				return err
			}
		}
		if err := atomicfile.WriteFile(a.Bundle, b, 0o644); err != nil {
			return err
		}
	}
	return nil
}

// VerifyOptions tunes Verify.
type VerifyOptions struct {
	Parallel        int         // concurrent files; 0 means NumCPU*2
	SignatureSuffix string      // default ".sig"
	SignatureDir    string      // where signatures are; "" means next to each file
	Bundle          bool        // read <file>.bundle instead of the detached signature
	Log             *log.Logger // one progress line per file; nil discards
}

// PublicKey is a verification key with its id.
type PublicKey struct {
	Key crypto.PublicKey
	ID  string
}

// Verify checks every file against its detached signature (or bundle); any of pubs may match.
func Verify(ctx context.Context, pubs []PublicKey, files []string, opts VerifyOptions) ([]Artifact, error) {
	if len(pubs) == 0 {
		return nil, result.Errorf(result.ClassInput, "no verification key: pass --key pub.pem")
	}
	if len(files) == 0 {
		return nil, result.Errorf(result.ClassInput, "no files to verify")
	}
	if opts.SignatureSuffix == "" {
		opts.SignatureSuffix = SignatureSuffix
	}
	so := SignOptions{Parallel: opts.Parallel, Log: opts.Log}
	so.defaults()
	arts := make([]Artifact, len(files))
	perr := forEach(ctx, len(files), so.Parallel, func(i int) {
		a := &arts[i]
		a.Path = files[i]
		start := time.Now()
		a.Err = verifyOne(a, pubs, opts)
		a.Duration = time.Since(start)
		if a.Err != nil {
			so.Log.Printf("FAIL %s: %v", a.Path, a.Err)
		} else {
			so.Log.Printf("ok   %s verified with key %s", a.Path, a.KeyID)
		}
	})
	if perr != nil {
		return arts, perr
	}
	if err := ctx.Err(); err != nil {
		return arts, result.Errorf(result.ClassUnavailable, "verification interrupted: %v", err)
	}
	return arts, firstFailure(arts, "verification")
}

func verifyOne(a *Artifact, pubs []PublicKey, opts VerifyOptions) error {
	sig, sgBundle, err := readSignature(a, opts)
	if err != nil {
		return err
	}
	digest, size, err := HashFile(a.Path)
	if err != nil {
		return err
	}
	a.SHA256, a.Size = hex.EncodeToString(digest), size
	if sgBundle != nil {
		pks := make([]crypto.PublicKey, len(pubs))
		for i, p := range pubs {
			pks[i] = p.Key
		}
		i, err := bundle.VerifyDigest(sgBundle, digest, pks, a.Path+": "+a.Signature)
		if err != nil {
			return err
		}
		a.KeyID = pubs[i].ID
		return nil
	}
	for _, p := range pubs {
		if verifyDigest(p.Key, digest, sig) {
			a.KeyID = p.ID
			return nil
		}
	}
	return result.Errorf(result.ClassTamper, "%s: signature %s does not verify with any given key: the file or its signature was changed, or it was signed with another key", a.Path, a.Signature)
}

// readSignature returns the raw signature, or the bundle JSON when the file is a sigstore bundle (cosign v3's default).
func readSignature(a *Artifact, opts VerifyOptions) ([]byte, []byte, error) {
	suffix := opts.SignatureSuffix
	if opts.Bundle {
		suffix = BundleSuffix
	}
	a.Signature = SignaturePath(a.Path, opts.SignatureDir, suffix)
	f, err := os.Open(a.Signature)
	if err != nil {
		if os.IsNotExist(err) {
			return nil, nil, result.Errorf(result.ClassRejected, "%s: no signature (%s missing): sign it with 'sign-artifacts blob sign'", a.Path, a.Signature)
		}
		return nil, nil, result.Errorf(result.ClassInput, "%s: reading signature: %v", a.Path, unwrap(err))
	}
	defer f.Close()
	raw, err := io.ReadAll(io.LimitReader(f, maxSignatureSize))
	if err != nil {
		return nil, nil, result.Errorf(result.ClassInput, "%s: reading signature: %v", a.Path, err)
	}
	text := strings.TrimSpace(string(raw))
	if opts.Bundle && bundle.Is(raw) {
		return nil, raw, nil
	}
	if opts.Bundle {
		var b LocalBundle
		if err := json.Unmarshal(raw, &b); err != nil || b.Base64Signature == "" {
			return nil, nil, result.Errorf(result.ClassTamper, "%s: bundle %s is not a cosign bundle with base64Signature", a.Path, a.Signature)
		}
		text = b.Base64Signature
	}
	sig, err := base64.StdEncoding.DecodeString(text)
	if err != nil || len(sig) == 0 {
		return nil, nil, result.Errorf(result.ClassTamper, "%s: signature %s is not base64: it was changed or is not a cosign signature", a.Path, a.Signature)
	}
	return sig, nil, nil
}

func verifyDigest(pub crypto.PublicKey, digest, sig []byte) bool {
	switch k := pub.(type) {
	case *ecdsa.PublicKey:
		return ecdsa.VerifyASN1(k, digest, sig)
	case *rsa.PublicKey:
		return rsa.VerifyPKCS1v15(k, crypto.SHA256, digest, sig) == nil
	}
	return false
}

// firstFailure summarises failed artifacts: tamper outranks other classes, and the first such file is named.
func firstFailure(arts []Artifact, what string) error {
	var first error
	failed := 0
	for _, a := range arts {
		if a.Err == nil {
			continue
		}
		failed++
		if first == nil || (result.ClassOf(a.Err) == result.ClassTamper && result.ClassOf(first) != result.ClassTamper) {
			first = a.Err
		}
	}
	if first == nil {
		return nil
	}
	if failed == 1 {
		return first
	}
	return result.Errorf(result.ClassOf(first), "%s failed for %d of %d files; first: %v", what, failed, len(arts), first)
}

// forEach runs fn(0..n-1) on up to parallel goroutines, stopping early when ctx ends or fn panics (a ClassInternal error).
func forEach(ctx context.Context, n, parallel int, fn func(i int)) error {
	if parallel > n {
		parallel = n
	}
	next := make(chan int)
	var wg result.Group
	for w := 0; w < parallel; w++ {
		wg.Go(func() {
			for i := range next {
				fn(i)
			}
		})
	}
	for i := 0; i < n; i++ {
		select {
		case next <- i:
		case <-ctx.Done():
			i = n
		case <-wg.Panicked():
			i = n
		}
	}
	close(next)
	return wg.Wait()
}
