package peertest

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/keys"
)

// FileKey is a cosign-format key pair on disk: the encrypted private key, the public key and the decrypted key.
type FileKey struct {
	Priv, Pub string
	Key       *keys.Key
}

var (
	keyMu    sync.Mutex
	keyCache = map[string]FileKey{}
)

// CachedKey returns one cosign-format key pair (base.key, base.pub under password) per name for the whole test
// binary, since scrypt is slow; RemoveKeys deletes them.
func CachedKey(t testing.TB, name, base, password string) FileKey {
	t.Helper()
	keyMu.Lock()
	defer keyMu.Unlock()
	if k, ok := keyCache[name]; ok {
		return k
	}
	dir, err := os.MkdirTemp("", base+"key-")
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.GenerateFile(filepath.Join(dir, base), []byte(password))
	if err != nil {
		t.Fatal(err)
	}
	fk := FileKey{Priv: filepath.Join(dir, base+".key"), Pub: filepath.Join(dir, base+".pub"), Key: k}
	keyCache[name] = fk
	return fk
}

// RemoveKeys deletes the key pairs CachedKey made; call it from TestMain after the tests ran.
func RemoveKeys() {
	keyMu.Lock()
	defer keyMu.Unlock()
	for name, fk := range keyCache {
		os.RemoveAll(filepath.Dir(fk.Priv))
		delete(keyCache, name)
	}
}

// Run runs the peer CLI tool offline (fresh TUF root, no sigstore cache) with env added, and returns its combined output.
func Run(t testing.TB, tool string, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(Tool(t, tool), args...)
	cmd.Env = append(append(os.Environ(), env...), "TUF_ROOT="+t.TempDir(), "SIGSTORE_NO_CACHE=true")
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

// EmptyTrustedRoot writes a sigstore trusted root with no CA, log or TSA and returns its path: key-based offline
// verification of a v0.3 bundle needs one, since cosign would otherwise fetch the public-good root over TUF.
func EmptyTrustedRoot(t testing.TB) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "trusted_root.json")
	if err := os.WriteFile(p, []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}
