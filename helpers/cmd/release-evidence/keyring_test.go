package main

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/release/releasetest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// keyring writes a keys.yaml holding the kit's image signing key and release (attestation) key in the given states.
func (f fixture) keyring(t *testing.T, signState, releaseState string) string {
	t.Helper()
	entry := func(id, pub, state string) string {
		return fmt.Sprintf("  - id: %s\n    backend: keys/%s.key\n    publicKey: %s\n    state: %s\n"+
			"    notBefore: 2025-01-01T00:00:00Z\n    notAfter: 2030-01-01T00:00:00Z\n    rotation: {maxAge: 90d}\n", id, id, pub, state)
	}
	doc := "version: 1\nenvironments:\n  prod: {}\nkeys:\n" + entry("sign-2025", filepath.Base(f.kit.CosignPub), signState) +
		entry("rel-2025", filepath.Base(f.kit.ReleasePub), releaseState)
	return writeFile(t, f.kit.Dir, "keys-"+signState+"-"+releaseState+".yaml", doc)
}

func TestVerifyRejectsEvidenceSignedByAKeyTheKeyringNoLongerTrusts(t *testing.T) {
	f := setup(t)
	rel := f.build(t, releasetest.Spec{})
	signID, _ := keys.KeyID(f.kit.SignKey.Public())
	relID, _ := keys.KeyID(f.kit.ReleaseKey.Public())
	cases := []struct {
		name                    string
		signState, releaseState string
		code                    int
		want                    string
	}{
		{"an image signed by a revoked key is rejected", "revoked", "active", result.ExitRejected, "cosign key " + signID + " is revoked in keys.yaml as sign-2025"},
		{"attestations signed by an archived key are rejected", "active", "archived", result.ExitRejected, "release key " + relID + " is archived in keys.yaml as rel-2025"},
		{"a release signed by deprecated keys still verifies", "deprecated", "deprecated", 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"verify", "--image", rel.Digest, "--keyring", f.keyring(t, c.signState, c.releaseState)}, f.evidenceArgs("prod")...)
			code, r, stdout, _ := run(t, 1, args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d: %s", code, c.code, r.Message)
			}
			if c.code == 0 {
				if stdout != rel.Digest+"\n" {
					t.Fatalf("stdout %q", stdout)
				}
				return
			}
			if stdout != "" || r.FailureClass != result.ClassPolicy || !strings.Contains(r.Message, c.want) {
				t.Fatalf("stdout %q class %s: %s", stdout, r.FailureClass, r.Message)
			}
		})
	}
	t.Run("a malformed keyring is bad input and still writes the result file", func(t *testing.T) {
		bad := writeFile(t, t.TempDir(), "keys.yaml", "version: 1\nkeys:\n  - id: sign-2025\n    state: revoked\n")
		args := append([]string{"verify", "--image", rel.Digest, "--keyring", bad}, f.evidenceArgs("prod")...)
		code, r, stdout, _ := run(t, 1, args...)
		if code != result.ExitInput || stdout != "" || r.FailureClass != result.ClassConfig || !strings.Contains(r.Message, "has no backend") {
			t.Fatalf("exit %d class %s: %s", code, r.FailureClass, r.Message)
		}
	})
}

func TestRollbackNeverChoosesAReleaseSignedByAKeyTheKeyringRevoked(t *testing.T) {
	f := setup(t)
	index := filepath.Join(t.TempDir(), "releases.jsonl")
	rel := f.build(t, releasetest.Spec{})
	if code, r, _, _ := run(t, 1, append([]string{"verify", "--image", rel.Digest, "--index", index}, f.evidenceArgs("prod")...)...); code != 0 {
		t.Fatalf("verify: %s", r.Message)
	}
	relID, _ := keys.KeyID(f.kit.ReleaseKey.Public())
	cases := []struct {
		name         string
		releaseState string
		code         int
		want         string
	}{
		{"it finds no target when the attestation key is revoked", "revoked", result.ExitRejected, "release key " + relID + " is revoked in keys.yaml as rel-2025"},
		{"it still rolls back to a release signed by a deprecated key", "deprecated", 0, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			args := append([]string{"rollback", "--index", index, "--index-pub", f.auditPub, "--keyring", f.keyring(t, "active", c.releaseState)},
				f.evidenceArgs("prod")...)
			code, r, stdout, _ := run(t, 1, args...)
			if code != c.code {
				t.Fatalf("exit %d, want %d: %s", code, c.code, r.Message)
			}
			if c.code == 0 {
				if stdout != rel.Digest+"\n" {
					t.Fatalf("stdout %q", stdout)
				}
				return
			}
			if stdout != "" || !strings.Contains(r.Message, "still verifies") || !strings.Contains(r.Message, c.want) {
				t.Fatalf("stdout %q: %s", stdout, r.Message)
			}
		})
	}
}
