package resiliencetest

import (
	"context"
	"crypto"
	"crypto/rand"
	"crypto/sha256"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/hsm"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// hsmKey creates a key pair in token tok and returns its parsed reference.
func hsmKey(t *testing.T, uri string) keys.Ref {
	t.Helper()
	t.Setenv(keys.PINEnv, token.PIN)
	ref, err := keys.ParseRef(uri)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.GeneratePKCS11(context.Background(), ref, keys.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	k.Close()
	deleteHSMKeyAtEnd(t, ref.Token, ref.ID)
	return ref
}

// deleteHSMKeyAtEnd deletes the key pair with id from the token when the test ends: the token lives as long as the
// test binary, so a key left behind made a second run (-count=2) refuse to generate it again.
func deleteHSMKeyAtEnd(t *testing.T, label string, id []byte) {
	t.Cleanup(func() {
		tok, err := hsm.Open(hsm.Config{ModulePath: token.Module, Token: label, PIN: token.PIN})
		if err != nil {
			return // a test that removed the token took its keys along
		}
		defer tok.Close()
		if s, err := tok.FindSigner(id, nil); err == nil {
			if d, ok := s.(interface{ Delete() error }); ok {
				_ = d.Delete()
			}
		}
	})
}

func TestTheHSMHealthCheckNamesTheBrokenPart(t *testing.T) {
	ref := hsmKey(t, token.URI("health-1", []byte{0x11}))
	cfg := hsm.Config{ModulePath: token.Module, Token: token.Label, PIN: token.PIN}
	cases := []struct {
		name      string
		cfg       func(hsm.Config) hsm.Config
		id, label []byte
		cause     hsm.Cause
		class     result.Class
	}{
		{"a healthy key passes", func(c hsm.Config) hsm.Config { return c }, ref.ID, []byte(ref.Label), "", ""},
		{"a wrong PIN is an auth failure", func(c hsm.Config) hsm.Config { c.PIN = "wrong-PIN-qx"; return c }, ref.ID, nil, hsm.CausePIN, result.ClassAuth},
		{"a missing module is a config failure", func(c hsm.Config) hsm.Config { c.ModulePath = "/nonexistent/libpkcs11.so"; return c }, ref.ID, nil, hsm.CauseModule, result.ClassConfig},
		{"an unknown token is a token failure", func(c hsm.Config) hsm.Config { c.Token = "no-such-token"; return c }, ref.ID, nil, hsm.CauseToken, result.ClassKey},
		{"a missing key is a key failure", func(c hsm.Config) hsm.Config { return c }, []byte{0x7f, 0x7f}, nil, hsm.CauseKey, result.ClassKey},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := hsm.Check(tc.cfg(cfg), tc.id, tc.label)
			if hsm.CauseOf(err) != tc.cause || result.ClassOf(err) != tc.class {
				t.Fatalf("cause %q class %q, want %q %q: %v", hsm.CauseOf(err), result.ClassOf(err), tc.cause, tc.class, err)
			}
			if err != nil && containsPIN(err.Error()) {
				t.Fatal("the PIN leaked into the error")
			}
		})
	}
}

func containsPIN(s string) bool {
	return strings.Contains(s, token.PIN) || strings.Contains(s, "wrong-PIN-qx")
}

func signDigest(s crypto.Signer) error {
	sum := sha256.Sum256([]byte("artifact"))
	_, err := s.Sign(rand.Reader, sum[:], crypto.SHA256)
	return err
}

func TestAKeyDeletedInTheMiddleOfABatchFailsTheRestWithClassKey(t *testing.T) {
	ref := hsmKey(t, token.URI("doomed-key", []byte{0x22}))
	k, err := keys.Load(context.Background(), ref, keys.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	var errs []error
	for i := 0; i < 5; i++ {
		if i == 2 { // an operator deletes the key from another session mid-batch
			tok, err := hsm.Open(hsm.Config{ModulePath: token.Module, Token: token.Label, PIN: token.PIN})
			if err != nil {
				t.Fatal(err)
			}
			s, err := tok.FindSigner(ref.ID, nil)
			if err != nil {
				t.Fatal(err)
			}
			if err := s.(interface{ Delete() error }).Delete(); err != nil {
				t.Fatal(err)
			}
			tok.Close()
		}
		errs = append(errs, hsm.ClassifyOpError(signDigest(k.Signer), token.Label))
	}
	if errs[0] != nil || errs[1] != nil {
		t.Fatalf("items before the deletion failed: %v %v", errs[0], errs[1])
	}
	for _, err := range errs[2:] {
		if hsm.CauseOf(err) != hsm.CauseKey || result.ClassOf(err) != result.ClassKey {
			t.Fatalf("after the deletion: cause %q class %q: %v", hsm.CauseOf(err), result.ClassOf(err), err)
		}
	}
	err = hsm.Check(hsm.Config{ModulePath: token.Module, Token: token.Label, PIN: token.PIN}, ref.ID, nil)
	if hsm.CauseOf(err) != hsm.CauseKey {
		t.Fatalf("a health check after the deletion: %v", err)
	}
}

func TestARemovedTokenFailsTheHealthCheckWithATokenCause(t *testing.T) {
	before, _ := os.ReadDir(token.Dir)
	out, err := exec.Command("softhsm2-util", "--init-token", "--free", "--label", "removable", "--pin", token.PIN, "--so-pin", token.SOPIN).CombinedOutput()
	if err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	after, _ := os.ReadDir(token.Dir)
	var dir string
	for _, a := range after {
		found := false
		for _, b := range before {
			found = found || a.Name() == b.Name()
		}
		if !found {
			dir = filepath.Join(token.Dir, a.Name())
		}
	}
	if dir == "" {
		t.Fatal("cannot find the new token's directory")
	}
	uri := "pkcs11:token=removable;object=rk;id=%33?module-path=" + token.Module
	ref := hsmKey(t, uri)
	cfg := hsm.Config{ModulePath: token.Module, Token: "removable", PIN: token.PIN}
	if err := hsm.Check(cfg, ref.ID, nil); err != nil {
		t.Fatalf("the new token is unhealthy before removal: %v", err)
	}
	if err := os.RemoveAll(dir); err != nil {
		t.Fatal(err)
	}
	err = hsm.Check(cfg, ref.ID, nil)
	if hsm.CauseOf(err) != hsm.CauseToken || result.ClassOf(err).ExitCode() == 0 {
		t.Fatalf("cause %q class %q: %v", hsm.CauseOf(err), result.ClassOf(err), err)
	}
}
