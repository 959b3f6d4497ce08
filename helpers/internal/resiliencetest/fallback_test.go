package resiliencetest

import (
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
)

// hsmKeyring writes keys.yaml whose prod key lives in SoftHSM, with a software key as the named fallback.
func hsmKeyring(t *testing.T, allow bool) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv(keys.PasswordEnv, "fallback-test")
	if _, err := keys.GenerateFile(filepath.Join(dir, "soft"), []byte("fallback-test")); err != nil {
		t.Fatal(err)
	}
	uri := token.URI("select-key", []byte{0x44})
	if _, err := keys.ParseRef(uri); err != nil {
		t.Fatal(err)
	}
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
		{"a wrong PIN where fallback is allowed signs with the software key, audited", true, "0000", "soft", "", true},
		{"a wrong PIN where fallback is not allowed fails closed", false, "0000", "", result.ClassPolicy, false},
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
				if hsm.CauseOf(err) != hsm.CausePIN || !strings.Contains(err.Error(), "allowSoftwareFallback: false") || strings.Contains(err.Error(), "0000") {
					t.Fatalf("the refusal must name the PIN cause and the policy, without the PIN: %v", err)
				}
				return
			}
			if sel.Key.ID != tc.wantKey || (sel.Fallback != nil) != tc.fallback {
				t.Fatalf("selected %s, fallback %+v", sel.Key.ID, sel.Fallback)
			}
			if tc.fallback && (sel.Fallback.Cause != string(hsm.CausePIN) || sel.Fallback.Class != string(result.ClassAuth) || sel.Fallback.TraceID != "trace-1") {
				t.Fatalf("audit event %+v", sel.Fallback)
			}
		})
	}
}
