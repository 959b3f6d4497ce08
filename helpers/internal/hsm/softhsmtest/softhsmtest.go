package softhsmtest

import (
	"flag"
	"fmt"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"sync"
	"testing"
)

// Module is the Debian SoftHSM2 PKCS#11 module.
const Module = "/usr/lib/softhsm/libsofthsm2.so"

// Token describes an initialised throwaway token; its PINs are test-only values.
type Token struct {
	Module string
	Label  string
	PIN    string
	SOPIN  string
	Dir    string
	Conf   string
}

// URI returns a pkcs11: key URI for object label and id (raw bytes) in this token.
func (t Token) URI(label string, id []byte) string {
	s := "pkcs11:token=" + url.PathEscape(t.Label)
	if label != "" {
		s += ";object=" + url.PathEscape(label)
	}
	if len(id) > 0 {
		s += ";id="
		for _, b := range id {
			s += fmt.Sprintf("%%%02X", b)
		}
	}
	return s + "?module-path=" + t.Module
}

// Init writes a SoftHSM2 config under dir, points SOFTHSM2_CONF at it and initialises a token with label and pin.
func Init(dir, label, pin string) (Token, error) {
	tok := Token{Module: Module, Label: label, PIN: pin, SOPIN: pin + "-so", Dir: filepath.Join(dir, "tokens"), Conf: filepath.Join(dir, "softhsm2.conf")}
	if _, err := os.Stat(Module); err != nil {
		return tok, fmt.Errorf("SoftHSM2 module %s missing: apt-get install softhsm2", Module)
	}
	if err := os.MkdirAll(tok.Dir, 0o700); err != nil {
		return tok, err
	}
	conf := fmt.Sprintf("directories.tokendir = %s\nobjectstore.backend = file\nlog.level = ERROR\nslots.removable = false\n", tok.Dir)
	if err := os.WriteFile(tok.Conf, []byte(conf), 0o600); err != nil {
		return tok, err
	}
	if err := os.Setenv("SOFTHSM2_CONF", tok.Conf); err != nil {
		return tok, err
	}
	out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", label, "--pin", pin, "--so-pin", tok.SOPIN).CombinedOutput()
	if err != nil {
		return tok, fmt.Errorf("softhsm2-util --init-token: %v: %s", err, out)
	}
	return tok, nil
}

// Main runs a test package with one fresh token in a temp dir, stored in *tok, and returns the exit code for os.Exit.
// Under -short (make check) a machine without SoftHSM2 skips the package instead of failing it; with SoftHSM2 the
// package's HSM tests run, as TestMain cannot skip them one by one.
func Main(m *testing.M, tok *Token) int {
	flag.Parse()
	if _, err := os.Stat(Module); err != nil && testing.Short() {
		fmt.Fprintf(os.Stderr, "softhsmtest: %s missing (Debian softhsm2): package skipped under -short\n", Module)
		return 0
	}
	dir, err := os.MkdirTemp("", "softhsm-")
	if err != nil {
		fmt.Fprintln(os.Stderr, "softhsmtest:", err)
		return 1
	}
	defer os.RemoveAll(dir)
	t, err := Init(dir, "rg-test", "1234-test")
	if err != nil {
		fmt.Fprintln(os.Stderr, "softhsmtest:", err)
		return 1
	}
	*tok = t
	sharedOnce.Do(func() { shared = t }) // Shared then returns this token too
	return m.Run()
}

var (
	sharedOnce sync.Once
	shared     Token
	sharedErr  error
)

// Shared returns one token per test process, created on first use, for packages that cannot own TestMain
// (e.g. a command package shared by several engineers). Its temp dir outlives the process. Under -short it skips.
func Shared(t testing.TB) Token {
	t.Helper()
	if testing.Short() {
		t.Skip("needs SoftHSM2; skipped under -short (make check), run by make test")
	}
	sharedOnce.Do(func() {
		dir, err := os.MkdirTemp("", "softhsm-shared-")
		if err != nil {
			sharedErr = err
			return
		}
		shared, sharedErr = Init(dir, "rg-shared", "1234-shared")
	})
	if sharedErr != nil {
		t.Fatalf("SoftHSM token: %v", sharedErr)
	}
	return shared
}
