package resiliencetest

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/hsm"
	"github.com/release-gates/release-gates/helpers/internal/keyring"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/retry"
)

// hsmKeyring writes keys.yaml whose prod key lives in SoftHSM, with a software key as the named fallback.
func hsmKeyring(t *testing.T, allow bool) string {
	t.Helper()
	ref, err := keys.ParseRef(token.URI("select-key", []byte{0x44}))
	if err != nil {
		t.Fatal(err)
	}
	return hsmKeyringFor(t, allow, ref)
}

// hsmKeyringFor is hsmKeyring with the HSM key at ref.
func hsmKeyringFor(t *testing.T, allow bool, ref keys.Ref) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv(keys.PasswordEnv, "fallback-test")
	if _, err := keys.GenerateFile(filepath.Join(dir, "soft"), []byte("fallback-test")); err != nil {
		t.Fatal(err)
	}
	uri := ref.String()
	now := time.Now().UTC()
	key := func(id, backend string) string {
		return "  - id: " + id + "\n    backend: '" + backend + "'\n    publicKey: soft.pub\n    state: active\n    notBefore: " +
			now.Add(-time.Hour).Format(time.RFC3339) + "\n    notAfter: " + now.Add(48*time.Hour).Format(time.RFC3339) + "\n    rotation: {maxAge: 90d}\n"
	}
	doc := "version: 1\nenvironments:\n  prod:\n    current: hsm\n    fallback: soft\n    allowSoftwareFallback: " + map[bool]string{true: "true", false: "false"}[allow] + "\nkeys:\n" + key("hsm", uri) + key("soft", "soft.key")
	p := filepath.Join(dir, "keys.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSelectHealthChecksTheHSMKeyAndFallsBackOnlyWhereAllowed(t *testing.T) {
	t.Setenv(keys.PINEnv, token.PIN)
	hsmKey(t, token.URI("select-key", []byte{0x44}))
	set := breaker.New(t.TempDir(), breaker.DefaultThreshold, time.Minute)
	cases := []struct {
		name      string
		allow     bool
		pin       string
		wantKey   string
		wantClass result.Class
		fallback  bool
	}{
		{"a healthy HSM key signs", false, token.PIN, "hsm", "", false},
		{"a wrong PIN where fallback is allowed never falls back", true, "wrong-PIN-qx", "", result.ClassAuth, false},
		{"a wrong PIN where fallback is not allowed fails closed", false, "wrong-PIN-qx", "", result.ClassAuth, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := keyring.Load(hsmKeyring(t, tc.allow))
			if err != nil {
				t.Fatal(err)
			}
			t.Setenv(keys.PINEnv, tc.pin)
			sel, err := f.Select("prod", time.Now(), "trace-1", keyring.CheckHSM("", set))
			if result.ClassOf(err) != tc.wantClass {
				t.Fatalf("class %q, want %q: %v", result.ClassOf(err), tc.wantClass, err)
			}
			if err != nil {
				if hsm.CauseOf(err) != hsm.CausePIN || result.ClassOf(err).ExitCode() != 2 || !strings.Contains(err.Error(), "wrong PIN (CKR_PIN_INCORRECT) from $PKCS11_PIN") ||
					!strings.Contains(err.Error(), "no software fallback") || strings.Contains(err.Error(), "wrong-PIN-qx") {
					t.Fatalf("a wrong PIN must be exit 2 naming PKCS11_PIN, without fallback or the PIN: %v", err)
				}
				return
			}
			if sel.Key.ID != tc.wantKey || (sel.Fallback != nil) != tc.fallback {
				t.Fatalf("selected %s, fallback %+v", sel.Key.ID, sel.Fallback)
			}
		})
	}
}

func TestAWrongPINIsTriedOnceAndARefusedFallbackIsBadConfigOrUnavailable(t *testing.T) {
	t.Setenv(keys.PINEnv, token.PIN)
	ref := hsmKey(t, token.URI("select-key-2", []byte{0x45}))
	t.Run("a wrong PIN is not retried", func(t *testing.T) {
		t.Setenv(keys.PINEnv, "wrong-PIN-qx")
		tries := 0
		health := keyring.CheckHSM("", nil)
		counting := func(r keys.Ref) error { tries++; return health(r) }
		f, err := keyring.Load(hsmKeyringFor(t, true, ref))
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Select("prod", time.Now(), "trace-1", counting)
		if result.ClassOf(err) != result.ClassAuth || tries != 1 || retry.Classify(err) == result.ClassTransient {
			t.Fatalf("tries %d, class %q: %v", tries, result.ClassOf(err), err)
		}
	})
	t.Run("an unreachable HSM (its breaker open) with the fallback refused is exit 3", func(t *testing.T) {
		set := breaker.New(t.TempDir(), 1, time.Hour)
		dep := "hsm " + ref.Token
		_ = set.Do(context.Background(), dep, func(context.Context) error { return result.Errorf(result.ClassTransient, "session broke") })
		f, err := keyring.Load(hsmKeyringFor(t, false, ref))
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Select("prod", time.Now(), "trace-1", keyring.CheckHSM("", set))
		if result.ClassOf(err).ExitCode() != 3 || !strings.Contains(err.Error(), "software fallback refused") {
			t.Fatalf("class %q (exit %d): %v", result.ClassOf(err), result.ClassOf(err).ExitCode(), err)
		}
	})
	t.Run("a missing HSM module with the fallback refused is exit 2", func(t *testing.T) {
		bad := ref
		bad.ModulePath = filepath.Join(t.TempDir(), "no-such-module.so")
		f, err := keyring.Load(hsmKeyringFor(t, false, bad))
		if err != nil {
			t.Fatal(err)
		}
		_, err = f.Select("prod", time.Now(), "trace-1", keyring.CheckHSM("", nil))
		if result.ClassOf(err) != result.ClassConfig || !strings.Contains(err.Error(), "software fallback refused") {
			t.Fatalf("class %q: %v", result.ClassOf(err), err)
		}
	})
}
