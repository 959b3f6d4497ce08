package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/breaker"
	"github.com/release-gates/release-gates/helpers/internal/breaker/breakertest"
	"github.com/release-gates/release-gates/helpers/internal/keyring"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/registry/registrytest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// TestMain keeps breaker state (registries that are down, HSM health checks) in a temp dir, never in ~/.cache.
func TestMain(m *testing.M) { breakertest.Main(m) }

// keyringSignatures reads the signatures counter of key id from keys.yaml.
func keyringSignatures(t *testing.T, path, id string) int64 {
	t.Helper()
	f, err := keyring.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	k, err := f.Key(id)
	if err != nil {
		t.Fatal(err)
	}
	return k.Signed
}

func TestKeysFromAKeyringSignBlobsCountSignaturesAndRefuseBadChoices(t *testing.T) {
	t.Setenv(breaker.DirEnv, t.TempDir())
	t.Setenv(keys.PINEnv, "wrong-PIN-qx")
	_, files := blobWriteFiles(t, "app-linux-amd64", "app-linux-arm64")
	expired := func() string {
		p := lcKeyring(t, "soft", 48*time.Hour, "")
		f, _ := keyring.Load(p)
		k, _ := f.Key("soft")
		k.NotBefore, k.NotAfter = time.Now().Add(-72*time.Hour), time.Now().Add(-time.Hour)
		if err := f.Save(); err != nil {
			t.Fatal(err)
		}
		return p
	}
	cases := []struct {
		name    string
		args    func(kr string) []string
		keyring func() string
		code    int
		class   result.Class
		mention string
	}{
		{"--key and --keyring together", func(kr string) []string {
			return []string{"--key", filepath.Join(filepath.Dir(kr), "soft.key"), "--keyring", kr, "--environment", "prod"}
		}, func() string { return lcKeyring(t, "soft", 48*time.Hour, "") }, 2, result.ClassInput, "exclude each other"},
		{"neither --key nor --keyring", func(string) []string { return nil }, func() string { return "" }, 2, result.ClassInput, "no signing key"},
		{"--keyring without --environment", func(kr string) []string { return []string{"--keyring", kr} },
			func() string { return lcKeyring(t, "soft", 48*time.Hour, "") }, 2, result.ClassInput, "--environment"},
		{"--environment without --keyring", func(kr string) []string { return []string{"--environment", "prod"} },
			func() string { return "" }, 2, result.ClassInput, "--keyring"},
		{"an unknown environment", func(kr string) []string { return []string{"--keyring", kr, "--environment", "staging"} },
			func() string { return lcKeyring(t, "soft", 48*time.Hour, "") }, 2, result.ClassConfig, "unknown environment"},
		{"an expired current key", func(kr string) []string { return []string{"--keyring", kr, "--environment", "prod"} },
			expired, 2, result.ClassKey, "expired at"},
		{"an unhealthy HSM key where no fallback is allowed", func(kr string) []string { return []string{"--keyring", kr, "--environment", "prod"} },
			func() string { return lcKeyring(t, "hsm", 48*time.Hour, "") }, 2, result.ClassConfig, "fallback refused"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			kr := tc.keyring()
			args := append(append([]string{"blob", "sign"}, tc.args(kr)...), files...)
			code, r, stderr := blobRunCLI(t, args...)
			if code != tc.code || r.FailureClass != tc.class || !strings.Contains(r.Message, tc.mention) {
				t.Fatalf("exit %d class %q message %q, want %d %q mentioning %q\n%s", code, r.FailureClass, r.Message, tc.code, tc.class, tc.mention, stderr)
			}
			for _, f := range files {
				if _, err := os.Stat(f + ".sig"); err == nil {
					t.Fatalf("%s.sig written by a refused call", f)
				}
			}
			if kr != "" && keyringSignatures(t, kr, "soft") != 0 {
				t.Fatal("a refused call counted signatures")
			}
			if strings.Contains(r.Message+stderr, "wrong-PIN-qx") || strings.Contains(r.Message+stderr, lcPassword) {
				t.Fatal("a secret leaked")
			}
		})
	}

	t.Run("the current key signs, verifies and is counted until maxSignatures makes it due", func(t *testing.T) {
		kr := lcKeyring(t, "soft", 48*time.Hour, "")
		f, _ := keyring.Load(kr)
		k, _ := f.Key("soft")
		k.Rotation.MaxSignatures = 3
		if err := f.Save(); err != nil {
			t.Fatal(err)
		}
		code, r, stderr := blobRunCLI(t, append([]string{"blob", "sign", "--keyring", kr, "--environment", "prod"}, files...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s\n%s", code, r.Message, stderr)
		}
		if r.Data["keyring_key_id"] != "soft" || r.Data["environment"] != "prod" || r.Data["keyring"] != kr || r.Data["key_signatures"] != float64(2) {
			t.Fatalf("result data %+v", r.Data)
		}
		if n := keyringSignatures(t, kr, "soft"); n != 2 {
			t.Fatalf("keys.yaml counts %d signatures, want 2", n)
		}
		pub := filepath.Join(filepath.Dir(kr), "soft.pub")
		if code, r, _ := blobRunCLI(t, append([]string{"blob", "verify", "--key", pub}, files...)...); code != 0 {
			t.Fatalf("verify: exit %d: %s", code, r.Message)
		}
		if code, _, _, _ := runCLI(t, "keys", "status", "--keyring", kr, "--warn-days", "0"); code != 0 {
			t.Fatalf("keys status: exit %d below the limit", code)
		}
		code, r, stderr = blobRunCLI(t, append([]string{"blob", "sign", "--keyring", kr, "--environment", "prod"}, files...)...)
		if code != 0 || keyringSignatures(t, kr, "soft") != 4 {
			t.Fatalf("second signing: exit %d, count %d: %s\n%s", code, keyringSignatures(t, kr, "soft"), r.Message, stderr)
		}
		if code, r, _, _ := runCLI(t, "keys", "status", "--keyring", kr, "--warn-days", "0"); code != 1 || !strings.Contains(r.Message, "soft") {
			t.Fatalf("keys status past maxSignatures: exit %d %q, want 1", code, r.Message)
		}
		if code, r, _ := blobRunCLI(t, append([]string{"blob", "sign", "--keyring", kr, "--environment", "prod"}, files...)...); code != 2 || !strings.Contains(r.Message, "rotation limit") {
			t.Fatalf("signing past maxSignatures: exit %d %q, want 2", code, r.Message)
		}
	})

	t.Run("an allowed software fallback signs, is audited and counted on the fallback key", func(t *testing.T) {
		kr := lcKeyring(t, "hsm", 48*time.Hour, "    allowSoftwareFallback: true\n    fallback: soft\n")
		audit := filepath.Join(t.TempDir(), "audit.jsonl")
		code, r, stderr := blobRunCLI(t, append([]string{"blob", "sign", "--keyring", kr, "--environment", "prod", "--audit-log", audit}, files...)...)
		if code != 0 {
			t.Fatalf("exit %d: %s\n%s", code, r.Message, stderr)
		}
		if r.Data["fallback"] == nil || r.Data["keyring_key_id"] != "soft" || !strings.Contains(stderr, "software fallback in prod") {
			t.Fatalf("fallback not recorded: %+v\n%s", r.Data, stderr)
		}
		b, err := os.ReadFile(audit)
		var ev keyring.FallbackEvent
		if err != nil || json.Unmarshal(b, &ev) != nil || ev.HSMKey != "hsm" || ev.FallbackKey != "soft" || ev.TraceID != r.TraceID {
			t.Fatalf("audit line %s (%v)", b, err)
		}
		if keyringSignatures(t, kr, "soft") != 2 || keyringSignatures(t, kr, "hsm") != 0 {
			t.Fatal("the signatures were not counted on the key that made them")
		}
	})
}

func TestImageSignWithAKeyringUsesTheKeysCertChainAndCountsNewSignaturesOnly(t *testing.T) {
	t.Setenv(breaker.DirEnv, t.TempDir())
	reg := registrytest.Start(t, registrytest.Options{})
	p := imgNewPKI(t)
	now := time.Now().UTC()
	kr := filepath.Join(p.dir, "keys.yaml")
	doc := "version: 1\nenvironments:\n  prod:\n    current: img\nkeys:\n  - id: img\n    backend: cosign.key\n    publicKey: cosign.pub\n    certChain: chain.pem\n" +
		"    state: active\n    notBefore: " + now.Add(-time.Hour).Format(time.RFC3339) + "\n    notAfter: " + now.Add(48*time.Hour).Format(time.RFC3339) + "\n    rotation: {maxAge: 90d}\n"
	if err := os.WriteFile(kr, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	d := imgPush(t, reg.Host+"/svc/api:v1")
	for _, round := range []struct {
		name string
		want int64
	}{{"the first signing pushes and counts a cosign and a notation signature", 2}, {"signing again reuses both and counts nothing", 2}} {
		t.Run(round.name, func(t *testing.T) {
			// No --cert-chain: notation takes the chain keys.yaml names.
			code, r, stderr := imgRun(t, "image", "sign", "--keyring", kr, "--environment", "prod", "--password-file", p.passFile, "--plain-http", d)
			if code != 0 {
				t.Fatalf("image sign: exit %d: %s\n%s", code, r.Message, stderr)
			}
			if r.Data["keyring_key_id"] != "img" || r.Data["environment"] != "prod" {
				t.Fatalf("result data %+v", r.Data)
			}
			if n := keyringSignatures(t, kr, "img"); n != round.want {
				t.Fatalf("keys.yaml counts %d signatures, want %d", n, round.want)
			}
			code, r, stderr = imgRun(t, "image", "verify", "--key", p.pub, "--trust-policy", p.policy, "--trust-store", p.store, "--plain-http", d)
			if code != 0 {
				t.Fatalf("image verify: exit %d: %s\n%s", code, r.Message, stderr)
			}
		})
	}
	t.Run("--key with --keyring is refused before anything is signed", func(t *testing.T) {
		code, r, _ := imgRun(t, "image", "sign", "--key", p.key, "--keyring", kr, "--environment", "prod", "--password-file", p.passFile, "--plain-http", d)
		if code != 2 || r.FailureClass != result.ClassInput || !strings.Contains(r.Message, "exclude each other") {
			t.Fatalf("exit %d class %q %q", code, r.FailureClass, r.Message)
		}
	})
}
