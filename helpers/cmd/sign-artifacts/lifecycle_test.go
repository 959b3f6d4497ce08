package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/keyring"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

const lcPassword = "lifecycle-cli-test"

var (
	lcOnce    sync.Once
	lcPairDir string
	lcPairErr error
)

// lcKeyring writes keys.yaml with a file key "soft" and an HSM key "hsm" whose module does not exist; prod's current key is current.
func lcKeyring(t *testing.T, current string, notAfter time.Duration, envExtra string) string {
	t.Helper()
	dir := t.TempDir()
	t.Setenv(keys.PasswordEnv, lcPassword)
	lcOnce.Do(func() {
		if lcPairDir, lcPairErr = os.MkdirTemp("", "lifecycle-pair-"); lcPairErr == nil {
			_, lcPairErr = keys.GenerateFile(filepath.Join(lcPairDir, "soft"), []byte(lcPassword))
		}
	})
	if lcPairErr != nil {
		t.Fatal(lcPairErr)
	}
	for _, ext := range []string{".key", ".pub"} { // one scrypt key pair per test binary: scrypt is slow under -race
		b, _ := os.ReadFile(filepath.Join(lcPairDir, "soft"+ext))
		if err := os.WriteFile(filepath.Join(dir, "soft"+ext), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	now := time.Now().UTC()
	key := func(id, backend string) string {
		return "  - id: " + id + "\n    backend: '" + backend + "'\n    publicKey: soft.pub\n    state: active\n" +
			"    notBefore: " + now.Add(-time.Hour).Format(time.RFC3339) + "\n    notAfter: " + now.Add(notAfter).Format(time.RFC3339) + "\n    rotation: {maxAge: 90d}\n"
	}
	doc := "version: 1\nenvironments:\n  prod:\n    current: " + current + "\n" + envExtra + "keys:\n" +
		key("soft", "soft.key") + key("hsm", "pkcs11:token=gone;object=k;id=%01?module-path="+filepath.Join(dir, "no-such-module.so"))
	p := filepath.Join(dir, "keys.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runCLI(t *testing.T, args ...string) (int, result.Result, string, string) {
	t.Helper()
	rf := filepath.Join(t.TempDir(), "r.json")
	var out, errb bytes.Buffer
	code := app.Run(context.Background(), newApp(), append(append([]string{"sign-artifacts"}, args...), "--result-file", rf), &out, &errb)
	var r result.Result
	b, err := os.ReadFile(rf)
	if err != nil {
		t.Fatalf("no result file: %v (stderr %s)", err, errb.String())
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return code, r, out.String(), errb.String()
}

func TestKeysStatusExitsNonZeroWhenAKeyExpiresWithinTheWarningWindow(t *testing.T) {
	cases := []struct {
		name     string
		notAfter time.Duration
		warn     string
		code     int
	}{
		{"a year left passes", 365 * 24 * time.Hour, "14", 0},
		{"ten days left at 14 warn days fails", 10 * 24 * time.Hour, "14", 1},
		{"ten days left at 7 warn days passes", 10 * 24 * time.Hour, "7", 0},
		{"an expired key fails", -time.Minute, "14", 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p := lcKeyring(t, "soft", tc.notAfter, "")
			if tc.notAfter < 0 { // an expired key cannot be current; keep it listed only
				b, _ := os.ReadFile(p)
				os.WriteFile(p, bytes.Replace(b, []byte("current: soft"), []byte("{}"), 1), 0o644)
				b, _ = os.ReadFile(p)
				os.WriteFile(p, bytes.Replace(b, []byte("  prod:\n    {}"), []byte("  prod: {}"), 1), 0o644)
			}
			code, r, _, stderr := runCLI(t, "keys", "status", "--keyring", p, "--warn-days", tc.warn)
			if code != tc.code {
				t.Fatalf("exit %d, want %d; stderr %s", code, tc.code, stderr)
			}
			if len(r.Items) != 2 || r.Verb != "keys status" {
				t.Fatalf("result %+v", r)
			}
		})
	}
}

func TestKeysCommandsRejectBadKeyringsWithExitCode2(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.yaml")
	os.WriteFile(bad, []byte("version: 1\nkeys: [\n"), 0o644)
	twice := filepath.Join(dir, "twice.yaml")
	os.WriteFile(twice, []byte("version: 1\nenvironments:\n  prod: {current: a}\n  prod: {current: b}\nkeys: []\n"), 0o644)
	cases := []struct {
		name string
		args []string
		want string
	}{
		{"a malformed keys.yaml", []string{"keys", "status", "--keyring", bad}, "malformed YAML"},
		{"two current keys for one environment", []string{"keys", "status", "--keyring", twice}, "two current keys"},
		{"a missing keys.yaml", []string{"keys", "status", "--keyring", filepath.Join(dir, "none.yaml")}, "not found"},
		{"an unknown key id to revoke", []string{"keys", "revoke", "--keyring", lcKeyring(t, "soft", time.Hour*48, ""), "--id", "nope"}, `unknown key id "nope"`},
		{"an unknown backend", []string{"keys", "rotate", "--keyring", lcKeyring(t, "soft", time.Hour*48, ""), "--environment", "prod", "--new-id", "n", "--backend", "tpm"}, `--backend "tpm"`},
		{"a bad validity", []string{"keys", "rotate", "--keyring", lcKeyring(t, "soft", time.Hour*48, ""), "--environment", "prod", "--new-id", "n", "--backend", "file", "--validity", "soon"}, "--validity"},
		{"a missing --environment", []string{"keys", "select", "--keyring", bad}, "Required flag"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			code, r, _, stderr := runCLI(t, tc.args...)
			if code != 2 || !strings.Contains(r.Message, tc.want) {
				t.Fatalf("exit %d message %q, want 2 and %q (stderr %s)", code, r.Message, tc.want, stderr)
			}
			if strings.Contains(stderr, lcPassword) || strings.Contains(r.Message, lcPassword) {
				t.Fatal("a secret leaked")
			}
		})
	}
}

func TestKeysSelectFailsClosedOnAnUnhealthyHSMUnlessTheEnvironmentAllowsAFallback(t *testing.T) {
	t.Setenv(keys.PINEnv, "wrong-PIN-qx")
	t.Setenv("RELEASE_GATES_STATE_DIR", t.TempDir())
	t.Run("the default refuses with exit 2 and names the HSM cause", func(t *testing.T) {
		code, r, out, _ := runCLI(t, "keys", "select", "--keyring", lcKeyring(t, "hsm", 48*time.Hour, ""), "--environment", "prod")
		if code != 2 || r.FailureClass != result.ClassConfig || !strings.Contains(r.Message, "module failure") || out != "" {
			t.Fatalf("exit %d class %q message %q stdout %q", code, r.FailureClass, r.Message, out)
		}
	})
	t.Run("an allowed fallback signs with the software key and is audited", func(t *testing.T) {
		p := lcKeyring(t, "hsm", 48*time.Hour, "    allowSoftwareFallback: true\n    fallback: soft\n")
		audit := filepath.Join(t.TempDir(), "audit.jsonl")
		code, r, out, stderr := runCLI(t, "keys", "select", "--keyring", p, "--environment", "prod", "--fallback-log", audit)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, stderr)
		}
		if strings.TrimSpace(out) != "file://"+filepath.Join(filepath.Dir(p), "soft.key") {
			t.Fatalf("stdout %q", out)
		}
		if r.Data["fallback"] == nil || !strings.Contains(stderr, "software fallback in prod") {
			t.Fatalf("fallback not recorded: %+v / %s", r.Data, stderr)
		}
		b, err := os.ReadFile(audit)
		var ev keyring.FallbackEvent
		if err != nil || json.Unmarshal(b, &ev) != nil || ev.HSMKey != "hsm" || ev.FallbackKey != "soft" || ev.Cause != "module" || ev.TraceID == "" {
			t.Fatalf("audit line %s (%v)", b, err)
		}
		if strings.Contains(string(b), "wrong-PIN-qx") {
			t.Fatal("the PIN reached the audit log")
		}
	})
	t.Run("an expired current key is refused with exit 2", func(t *testing.T) {
		p := lcKeyring(t, "soft", 48*time.Hour, "")
		f, _ := keyring.Load(p)
		k, _ := f.Key("soft")
		k.NotBefore, k.NotAfter = time.Now().Add(-72*time.Hour), time.Now().Add(-time.Hour)
		if err := f.Save(); err != nil {
			t.Fatal(err)
		}
		code, r, _, _ := runCLI(t, "keys", "select", "--keyring", p, "--environment", "prod")
		if code != 2 || r.FailureClass != result.ClassKey || !strings.Contains(r.Message, "expired at") {
			t.Fatalf("exit %d class %q %q", code, r.FailureClass, r.Message)
		}
	})
}

func TestKeysRotateThenRevokeThroughTheCLI(t *testing.T) {
	p := lcKeyring(t, "soft", 365*24*time.Hour, "")
	dir := t.TempDir()
	ca, err := keys.NewCA("CN=cli test", 365*24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	caKey, _ := keys.EncryptPrivateKey(ca.Key, []byte("ca-pass"))
	os.WriteFile(filepath.Join(dir, "ca.pem"), keys.EncodeCerts(ca.Cert), 0o644)
	os.WriteFile(filepath.Join(dir, "ca.key"), caKey, 0o600)
	t.Setenv(keyring.CAPasswordEnv, "ca-pass")
	code, r, _, stderr := runCLI(t, "keys", "rotate", "--keyring", p, "--environment", "prod", "--new-id", "soft-2", "--backend", "file",
		"--ca-cert", filepath.Join(dir, "ca.pem"), "--ca-key", filepath.Join(dir, "ca.key"), "--validity", "30d")
	if code != 0 {
		t.Fatalf("rotate exit %d: %s", code, stderr)
	}
	if r.Items[0].Details["deprecated"] != "soft" || r.Data["trust_bundle"] == nil {
		t.Fatalf("result %+v", r)
	}
	code, r, out, _ := runCLI(t, "keys", "select", "--keyring", p, "--environment", "prod")
	if code != 0 || !strings.HasSuffix(strings.TrimSpace(out), "keys/soft-2.key") || r.Data["cert_chain"] == "" {
		t.Fatalf("select after rotate: %d %q %+v", code, out, r.Data)
	}
	if code, _, _, stderr := runCLI(t, "keys", "revoke", "--keyring", p, "--id", "soft-2", "--reason", "test"); code != 0 || !strings.Contains(stderr, "has no current key now") {
		t.Fatalf("revoke exit %d: %s", code, stderr)
	}
	if code, r, _, _ := runCLI(t, "keys", "select", "--keyring", p, "--environment", "prod"); code != 2 || r.FailureClass != result.ClassKey {
		t.Fatalf("select after revoking the current key: exit %d class %q", code, r.FailureClass)
	}
}
