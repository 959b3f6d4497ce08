package keyring

import (
	"context"
	"crypto"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/hsm/softhsmtest"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

var token softhsmtest.Token

func TestMain(m *testing.M) { os.Exit(softhsmtest.Main(m, &token)) }

const testPassword = "keyring-test-password"

var (
	pairOnce sync.Once
	pairDir  string
	pairErr  error
)

// copyPair writes prefix.key/.pub from one key pair made per test binary: scrypt is slow under -race.
func copyPair(t *testing.T, prefix string) {
	t.Helper()
	pairOnce.Do(func() {
		if pairDir, pairErr = os.MkdirTemp("", "keyring-pair-"); pairErr == nil {
			_, pairErr = keys.GenerateFile(filepath.Join(pairDir, "k"), []byte(testPassword))
		}
	})
	if pairErr != nil {
		t.Fatal(pairErr)
	}
	for _, ext := range []string{".key", ".pub"} {
		b, err := os.ReadFile(filepath.Join(pairDir, "k"+ext))
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(prefix+ext, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

// fixture writes a keyring with one active file key current for prod, valid from -from to +to around now.
func fixture(t *testing.T, from, to time.Duration, extra string) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv(keys.PasswordEnv, testPassword)
	copyPair(t, filepath.Join(dir, "k1"))
	now := time.Now().UTC()
	doc := "version: 1\nenvironments:\n  prod:\n    current: k1\n" + extra + "keys:\n" +
		"  - id: k1\n    backend: k1.key\n    publicKey: k1.pub\n    state: active\n" +
		"    notBefore: " + now.Add(-from).Format(time.RFC3339) + "\n    notAfter: " + now.Add(to).Format(time.RFC3339) + "\n" +
		"    rotation:\n      maxAge: 90d\n"
	p := filepath.Join(dir, "keys.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestLoadRejectsBadKeyringsWithAConfigError(t *testing.T) {
	valid := "    backend: k.key\n    publicKey: k.pub\n    state: active\n    notBefore: 2026-01-01T00:00:00Z\n    notAfter: 2027-01-01T00:00:00Z\n    rotation: {maxAge: 90d}\n"
	cases := []struct {
		name, doc, want string
	}{
		{"malformed YAML", "version: 1\nkeys: [\n", "malformed YAML"},
		{"an unknown field", "version: 1\nkeyz: []\n", "field keyz not found"},
		{"an unsupported version", "version: 2\n", "version 2 is not supported"},
		{"an environment listed twice", "version: 1\nenvironments:\n  prod: {current: a}\n  prod: {current: b}\nkeys:\n  - id: a\n" + valid + "  - id: b\n" + valid, "two current keys"},
		{"two current keys in a list", "version: 1\nenvironments:\n  prod:\n    current: [a, b]\nkeys:\n  - id: a\n" + valid + "  - id: b\n" + valid, "2 current keys"},
		{"an unknown current key id", "version: 1\nenvironments:\n  prod: {current: nope}\nkeys:\n  - id: a\n" + valid, `current key "nope" is not in keys`},
		{"a deprecated current key", "version: 1\nenvironments:\n  prod: {current: a}\nkeys:\n  - id: a\n" + strings.Replace(valid, "active", "deprecated", 1), "only an active key can be current"},
		{"a duplicate key id", "version: 1\nkeys:\n  - id: a\n" + valid + "  - id: a\n" + valid, "appears twice"},
		{"an unknown state", "version: 1\nkeys:\n  - id: a\n" + strings.Replace(valid, "active", "retired", 1), `state "retired"`},
		{"a bad maxAge", "version: 1\nkeys:\n  - id: a\n" + strings.Replace(valid, "90d", "ninety", 1), "use whole days"},
		{"notAfter before notBefore", "version: 1\nkeys:\n  - id: a\n" + strings.Replace(valid, "2027", "2025", 1), "is not after notBefore"},
		{"an HSM key as software fallback", "version: 1\nenvironments:\n  prod: {fallback: a, allowSoftwareFallback: true}\nkeys:\n  - id: a\n" +
			strings.Replace(valid, "k.key", "'pkcs11:token=t;object=o?module-path=/m.so'", 1), "must be a software (file) key"},
		{"an empty document", "", "empty document"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse("keys.yaml", []byte(tc.doc))
			if err == nil {
				t.Fatal("accepted")
			}
			if result.ClassOf(err) != result.ClassConfig || result.ClassOf(err).ExitCode() != 2 {
				t.Fatalf("class %q, want config (exit 2): %v", result.ClassOf(err), err)
			}
			if !strings.Contains(err.Error(), tc.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("error %q: want one line mentioning %q", err, tc.want)
			}
		})
	}
}

func TestSigningUsesOnlyTheCurrentActiveKeyInsideItsValidity(t *testing.T) {
	cases := []struct {
		name      string
		from, to  time.Duration
		env       string
		wantClass result.Class
		want      string
	}{
		{"a valid current key signs", time.Hour, 100 * 24 * time.Hour, "prod", "", ""},
		{"an expired current key is refused", 48 * time.Hour, -time.Hour, "prod", result.ClassKey, "expired at"},
		{"a key before its notBefore is refused", -time.Hour, 48 * time.Hour, "prod", result.ClassKey, "not valid before"},
		{"an unknown environment is a config error", time.Hour, 48 * time.Hour, "qa", result.ClassConfig, `unknown environment "qa"`},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := fixture(t, tc.from, tc.to, "")
			ref, chain, err := ResolveSigningKey(p, tc.env, time.Now())
			if result.ClassOf(err) != tc.wantClass {
				t.Fatalf("class %q, want %q: %v", result.ClassOf(err), tc.wantClass, err)
			}
			if err != nil {
				if !strings.Contains(err.Error(), tc.want) {
					t.Fatalf("error %q, want %q", err, tc.want)
				}
				return
			}
			if ref != "file://"+filepath.Join(filepath.Dir(p), "k1.key") || chain != "" {
				t.Fatalf("ref %q chain %q", ref, chain)
			}
		})
	}
}

func TestAFallbackIsRefusedUnlessTheEnvironmentAllowsIt(t *testing.T) {
	cause := result.Errorf(result.ClassAuth, "HSM health check (pin): wrong PIN")
	t.Run("refused by default as a configuration problem (exit 2), or unavailable (exit 3) when the HSM is down", func(t *testing.T) {
		f, err := Load(fixture(t, time.Hour, 48*time.Hour, ""))
		if err != nil {
			t.Fatal(err)
		}
		down := result.Errorf(result.ClassUnavailable, "hsm token prod: circuit open")
		if _, err := f.Fallback("prod", time.Now(), down); result.ClassOf(err).ExitCode() != 3 || !strings.Contains(err.Error(), "circuit open") {
			t.Fatalf("class %q, want unavailable (exit 3): %v", result.ClassOf(err), err)
		}
		_, err = f.Fallback("prod", time.Now(), cause)
		if result.ClassOf(err) != result.ClassConfig || result.ClassOf(err).ExitCode() != 2 {
			t.Fatalf("class %q, want config (exit 2): %v", result.ClassOf(err), err)
		}
		if !strings.Contains(err.Error(), "allowSoftwareFallback: false") || !strings.Contains(err.Error(), "wrong PIN") {
			t.Fatalf("error %q does not say why", err)
		}
	})
	t.Run("allowed with a named software key", func(t *testing.T) {
		f, err := Load(fixture(t, time.Hour, 48*time.Hour, "    allowSoftwareFallback: true\n    fallback: k1\n"))
		if err != nil {
			t.Fatal(err)
		}
		s, err := f.Fallback("prod", time.Now(), cause)
		if err != nil || s.Key.ID != "k1" || s.Ref.Scheme != keys.SchemeFile {
			t.Fatalf("fallback = %+v, %v", s, err)
		}
	})
	t.Run("allowed but without a fallback key is a config error", func(t *testing.T) {
		f, err := Load(fixture(t, time.Hour, 48*time.Hour, "    allowSoftwareFallback: true\n"))
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Fallback("prod", time.Now(), cause); result.ClassOf(err) != result.ClassConfig {
			t.Fatalf("class %q: %v", result.ClassOf(err), err)
		}
	})
}

func TestStatusFlagsActiveKeysThatExpireWithinTheWarningWindow(t *testing.T) {
	cases := []struct {
		name     string
		to       time.Duration
		from     time.Duration
		warnDays int
		want     string
	}{
		{"a key with a year left is fine", 365 * 24 * time.Hour, time.Hour, 14, ""},
		{"a key expiring in 10 days warns at 14", 10 * 24 * time.Hour, time.Hour, 14, "within the warning window"},
		{"a key expiring in 10 days is fine at 7", 10 * 24 * time.Hour, time.Hour, 7, ""},
		{"an expired key needs action", -time.Hour, 48 * time.Hour, 14, "expired at"},
		{"a key older than maxAge needs rotating", 365 * 24 * time.Hour, 100 * 24 * time.Hour, 14, "older than rotation.maxAge"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			f, err := Load(fixture(t, tc.from, tc.to, ""))
			if err != nil {
				t.Fatal(err)
			}
			st := f.Status(time.Now(), time.Duration(tc.warnDays)*24*time.Hour)
			if len(st) != 1 || !strings.Contains(st[0].Problem, tc.want) || st[0].NeedsAction != (tc.want != "") {
				t.Fatalf("status %+v, want problem %q", st, tc.want)
			}
		})
	}
}

func TestAnUnknownKeyIDIsAConfigErrorWhenCheckingASigner(t *testing.T) {
	f, err := Load(fixture(t, time.Hour, 48*time.Hour, ""))
	if err != nil {
		t.Fatal(err)
	}
	err = f.Accepts("nope")
	if result.ClassOf(err) != result.ClassConfig || !strings.Contains(err.Error(), `unknown key id "nope"`) {
		t.Fatalf("%q: %v", result.ClassOf(err), err)
	}
}

func newCA(t *testing.T) *keys.CA {
	t.Helper()
	ca, err := keys.NewCA("CN=keyring test", 48*time.Hour*365)
	if err != nil {
		t.Fatal(err)
	}
	return ca
}

func TestRotateDeprecatesTheOldKeyAndRevokeDropsItFromTheTrustBundle(t *testing.T) {
	p := fixture(t, time.Hour, 365*24*time.Hour, "")
	f, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	out, err := f.Rotate(context.Background(), RotateOptions{Environment: "prod", NewID: "k2", Backend: "file", CA: newCA(t), Validity: 30 * 24 * time.Hour})
	if err != nil {
		t.Fatal(err)
	}
	if out.Deprecated != "k1" || out.New.ID != "k2" {
		t.Fatalf("outcome %+v", out)
	}
	re, err := Load(p)
	if err != nil {
		t.Fatalf("the rewritten keyring does not load: %v", err)
	}
	if s, err := re.SigningKey("prod", time.Now()); err != nil || s.Key.ID != "k2" || s.CertChain == "" {
		t.Fatalf("signing key after rotation: %+v %v", s, err)
	}
	if k1, _ := re.Key("k1"); k1.State != Deprecated || re.Accepts("k1") != nil {
		t.Fatalf("k1 after rotation: %s, accepts=%v", k1.State, re.Accepts("k1"))
	}
	vs, err := re.VerificationKeys()
	if err != nil || len(vs) != 2 {
		t.Fatalf("verification keys %v %v", vs, err)
	}
	for _, name := range []string{"cosign/k1.pub", "cosign/k2.pub", "notation/trustpolicy.json"} {
		if _, err := os.Stat(filepath.Join(re.BundleDir(), name)); err != nil {
			t.Fatalf("bundle lacks %s: %v", name, err)
		}
	}
	if ents, _ := os.ReadDir(filepath.Join(re.BundleDir(), "notation/x509/ca/release-gates")); len(ents) != 1 {
		t.Fatalf("trust store holds %d roots, want 1", len(ents))
	}

	if _, _, err := re.Revoke("k1", "compromised laptop", time.Now()); err != nil {
		t.Fatal(err)
	}
	re2, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := re2.Accepts("k1"); result.ClassOf(err) != result.ClassPolicy || !strings.Contains(err.Error(), "compromised laptop") {
		t.Fatalf("a revoked key's signatures must be rejected as policy: %v", err)
	}
	if _, err := os.Stat(filepath.Join(re2.BundleDir(), "cosign/k1.pub")); !os.IsNotExist(err) {
		t.Fatalf("revoked key's public key is still in the bundle: %v", err)
	}
	if _, _, err := re2.Revoke("k2", "", time.Now()); err != nil {
		t.Fatal(err)
	}
	re3, _ := Load(p)
	if _, err := re3.SigningKey("prod", time.Now()); result.ClassOf(err) != result.ClassKey || !strings.Contains(err.Error(), "no current key") {
		t.Fatalf("revoking the current key must leave prod without a signer: %v", err)
	}
}

func TestRotateCreatesAnHSMKeyInSoftHSM(t *testing.T) {
	t.Setenv(keys.PINEnv, token.PIN)
	p := fixture(t, time.Hour, 365*24*time.Hour, "")
	f, err := Load(p)
	if err != nil {
		t.Fatal(err)
	}
	uri := token.URI("rotated-1", []byte{0x71})
	if _, err := f.Rotate(context.Background(), RotateOptions{Environment: "prod", NewID: "hsm-1", Backend: "pkcs11", PKCS11URI: uri, CA: newCA(t)}); err != nil {
		t.Fatal(err)
	}
	s, err := f.SigningKey("prod", time.Now())
	if err != nil || s.Ref.Scheme != keys.SchemePKCS11 {
		t.Fatalf("%+v %v", s, err)
	}
	k, err := keys.Load(context.Background(), s.Ref, keys.LoadOptions{CertChainFile: s.CertChain})
	if err != nil {
		t.Fatalf("the rotated HSM key does not load with its chain: %v", err)
	}
	defer k.Close()
	pub, _ := f.PublicKey(s.Key)
	if f.IdentifyPublic(pub).ID != "hsm-1" || !k.Public().(interface{ Equal(crypto.PublicKey) bool }).Equal(pub) {
		t.Fatal("the public key in the keyring is not the HSM key's")
	}
}

func TestRotateRefusesAnIDAlreadyInUseAndLeavesTheKeyringUntouched(t *testing.T) {
	p := fixture(t, time.Hour, 365*24*time.Hour, "")
	before, _ := os.ReadFile(p)
	f, _ := Load(p)
	_, err := f.Rotate(context.Background(), RotateOptions{Environment: "prod", NewID: "k1", Backend: "file"})
	if result.ClassOf(err) != result.ClassInput || !strings.Contains(err.Error(), "already in") {
		t.Fatalf("%v", err)
	}
	after, _ := os.ReadFile(p)
	if string(before) != string(after) {
		t.Fatal("keys.yaml changed")
	}
}

func TestParseDurationReadsDaysAndGoDurations(t *testing.T) {
	for in, want := range map[string]time.Duration{"90d": 90 * 24 * time.Hour, "36h": 36 * time.Hour, "0d": 0} {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, in := range []string{"-1d", "x", "1.5d"} {
		if _, err := ParseDuration(in); err == nil {
			t.Errorf("%s accepted", in)
		}
	}
}
