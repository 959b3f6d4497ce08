package release_test

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/release"
	"github.com/release-gates/release-gates/helpers/internal/release/releasetest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// writeKeyring writes a keys.yaml whose key sign-2025 (the kit's image signing key) is in state and whose
// release key is active and current for prod.
func writeKeyring(t *testing.T, kit *releasetest.Kit, state string) string {
	t.Helper()
	extra := ""
	if state == "revoked" || state == "archived" {
		extra = "    reason: laptop stolen\n"
	}
	doc := fmt.Sprintf(`version: 1
environments:
  prod: {current: rel-2026}
keys:
  - id: sign-2025
    backend: keys/sign-2025.key
    publicKey: %s
    state: %s
    notBefore: 2025-01-01T00:00:00Z
    notAfter: 2030-01-01T00:00:00Z
    rotation: {maxAge: 90d}
%s  - id: rel-2026
    backend: keys/rel-2026.key
    publicKey: %s
    state: active
    notBefore: 2026-01-01T00:00:00Z
    notAfter: 2030-01-01T00:00:00Z
    rotation: {maxAge: 180d}
`, kit.CosignPub, state, extra, filepath.Base(kit.ReleasePub))
	p := filepath.Join(kit.Dir, "keys.yaml")
	if err := os.WriteFile(p, []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestVerifyTrustsOnlyTheKeysTheKeyringStillAccepts(t *testing.T) {
	e := setup(t)
	r := e.build(t, releasetest.Spec{})
	signID, _ := keys.KeyID(e.kit.SignKey.Public())
	cases := []struct {
		state string
		want  string // "" means the release verifies
	}{
		{"active", ""},
		{"deprecated", ""},
		{"revoked", "revoked: cosign key " + signID + " is revoked in keys.yaml as sign-2025 (laptop stolen)"},
		{"archived", "revoked: cosign key " + signID + " is archived in keys.yaml as sign-2025 (laptop stolen)"},
	}
	for _, c := range cases {
		t.Run("a release signed by a key the keyring marks "+c.state, func(t *testing.T) {
			revoked, err := release.KeyringRevocations(writeKeyring(t, e.kit, c.state))
			if err != nil {
				t.Fatal(err)
			}
			o := e.options(t, r)
			o.RevokedKeys = revoked
			var revocation release.Check
			out, err := release.Verify(context.Background(), e.rc, o, func(ch release.Check) {
				if ch.Name == "revocation" {
					revocation = ch
				}
			})
			if c.want == "" {
				if err != nil || out.Digest != r.Digest {
					t.Fatalf("want a pass, got %q, %v", out.Digest, err)
				}
				return
			}
			if result.ClassOf(err) != result.ClassPolicy || result.ClassOf(err).ExitCode() != result.ExitRejected || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v (class %s), want policy containing %q", err, result.ClassOf(err), c.want)
			}
			if revocation.Err == nil || fmt.Sprint(revocation.Details["keyring_distrusted_key_ids"]) != "["+signID+"]" {
				t.Fatalf("revocation check = %+v", revocation)
			}
		})
	}
}

func TestKeyringRevocationsRefusesAKeyringItCannotTrust(t *testing.T) {
	e := setup(t)
	cases := []struct {
		name string
		edit func(t *testing.T, path string)
		want string
	}{
		{"malformed YAML", func(t *testing.T, p string) { write(t, p, "version: 1\nkeys: [\n") }, "malformed YAML"},
		{"an unknown state", func(t *testing.T, p string) { replaceIn(t, p, "state: revoked", "state: gone") }, `has state "gone"`},
		{"an unknown field", func(t *testing.T, p string) { replaceIn(t, p, "state: revoked", "state: revoked\n    revoke: yes") }, "malformed keys.yaml"},
		{"a revoked key whose public key is missing", func(t *testing.T, p string) { replaceIn(t, p, e.kit.CosignPub, "gone.pub") }, "reading public key"},
		{"a revoked key whose public key is not PEM", func(t *testing.T, p string) { replaceIn(t, p, e.kit.CosignPub, e.kit.TrustPolicy) }, "not a PEM public key"},
	}
	for _, c := range cases {
		t.Run("it refuses "+c.name+" as bad input", func(t *testing.T) {
			p := writeKeyring(t, e.kit, "revoked")
			c.edit(t, p)
			_, err := release.KeyringRevocations(p)
			if err == nil || result.ClassOf(err).ExitCode() != result.ExitInput || !strings.Contains(err.Error(), c.want) || strings.Contains(err.Error(), "\n") {
				t.Fatalf("err = %v (class %s), want a one-line exit-2 error containing %q", err, result.ClassOf(err), c.want)
			}
		})
	}
	t.Run("it refuses a missing keyring as bad input", func(t *testing.T) {
		_, err := release.KeyringRevocations(filepath.Join(t.TempDir(), "keys.yaml"))
		if result.ClassOf(err).ExitCode() != result.ExitInput {
			t.Fatalf("err = %v", err)
		}
	})
}

func write(t *testing.T, p, body string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
		t.Fatal(err)
	}
}

func replaceIn(t *testing.T, p, old, new string) {
	t.Helper()
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(string(b), old) {
		t.Fatalf("%s does not contain %q", p, old)
	}
	write(t, p, strings.Replace(string(b), old, new, 1))
}
