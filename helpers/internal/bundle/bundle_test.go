package bundle_test

import (
	"bytes"
	"crypto"
	"crypto/sha256"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/breaker/breakertest"
	"github.com/release-gates/release-gates/helpers/internal/bundle"
	"github.com/release-gates/release-gates/helpers/internal/peertest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func TestMain(m *testing.M) { breakertest.Main(m) }

const password = "bundle-pw"

// testKey returns one cosign-format key pair per name for the whole test binary (scrypt is slow).
func testKey(t *testing.T, name string) peertest.FileKey {
	t.Helper()
	return peertest.CachedKey(t, name, "cosign", password)
}

// peer runs a stock cosign CLI (tool "cosign" is v2.6.5, "cosign3" is v3) offline, with the key password in its env.
func peer(t *testing.T, tool string, args ...string) (string, error) {
	t.Helper()
	return peertest.Run(t, tool, []string{"COSIGN_PASSWORD=" + password}, args...)
}

func writeBlob(t *testing.T, content string) (string, []byte) {
	t.Helper()
	p := filepath.Join(t.TempDir(), "artifact.bin")
	if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256([]byte(content))
	return p, sum[:]
}

func TestSignDigestVerifiesAndRejectsTheWrongBlobOrKey(t *testing.T) {
	k, other := testKey(t, "main"), testKey(t, "other")
	_, digest := writeBlob(t, "release 1.2.3")
	raw, err := bundle.SignDigest(k.Key.Signer, digest)
	if err != nil {
		t.Fatal(err)
	}
	if !bundle.Is(raw) || !strings.Contains(string(raw), bundle.MediaTypeV03) {
		t.Fatalf("not a v0.3 bundle: %s", raw)
	}
	cases := []struct {
		name   string
		raw    []byte
		digest []byte
		pubs   []crypto.PublicKey
		want   result.Class
		index  int
	}{
		{"it verifies with the signing key", raw, digest, []crypto.PublicKey{k.Key.Public()}, "", 0},
		{"it finds the signing key among several", raw, digest, []crypto.PublicKey{other.Key.Public(), k.Key.Public()}, "", 1},
		{"it rejects another blob as tampered", raw, sha256.New().Sum(nil), []crypto.PublicKey{k.Key.Public()}, result.ClassTamper, -1},
		{"it rejects another key as tampered", raw, digest, []crypto.PublicKey{other.Key.Public()}, result.ClassTamper, -1},
		{"it rejects a changed signature as tampered", bytes.Replace(raw, []byte(`"signature":"M`), []byte(`"signature":"N`), 1), digest, []crypto.PublicKey{k.Key.Public()}, result.ClassTamper, -1},
		{"it reports a v0.4 bundle as unsupported, not tampered", bytes.Replace(raw, []byte("v0.3"), []byte("v0.4"), 1), digest, []crypto.PublicKey{k.Key.Public()}, result.ClassInput, -1},
		{"it reports broken JSON in a bundle as tampered", append(raw[:len(raw)-2:len(raw)-2], []byte(`,"x":}`)...), digest, []crypto.PublicKey{k.Key.Public()}, result.ClassTamper, -1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			i, err := bundle.VerifyDigest(tc.raw, tc.digest, tc.pubs, "artifact.bin")
			if result.ClassOf(err) != tc.want && !(tc.want == "" && err == nil) {
				t.Fatalf("err = %v (class %s), want class %q", err, result.ClassOf(err), tc.want)
			}
			if tc.want == "" && i != tc.index {
				t.Fatalf("key index %d, want %d", i, tc.index)
			}
		})
	}
}

func TestABuildWithoutBundleSupportReportsABundleAsUnsupported(t *testing.T) {
	k := testKey(t, "main")
	_, digest := writeBlob(t, "release 1.2.3")
	raw, err := bundle.SignDigest(k.Key.Signer, digest)
	if err != nil {
		t.Fatal(err)
	}
	defer bundle.SetSupported(false)()
	_, err = bundle.VerifyDigest(raw, digest, []crypto.PublicKey{k.Key.Public()}, "artifact.bin")
	if result.ClassOf(err) != result.ClassInput || result.ClassOf(err).ExitCode() != 2 || !strings.Contains(err.Error(), "cannot verify") {
		t.Fatalf("err = %v (exit %d), want unsupported, exit 2", err, result.ClassOf(err).ExitCode())
	}
	if _, err := bundle.VerifyStatement(raw, digest, []crypto.PublicKey{k.Key.Public()}, "artifact.bin"); result.ClassOf(err).ExitCode() != 2 {
		t.Fatalf("statement: err = %v, want exit 2", err)
	}
}

func TestBlobBundlesInteropWithStockCosignBothWays(t *testing.T) {
	k := testKey(t, "main")
	for _, tc := range []struct {
		tool     string
		signArgs []string // extra flags that make the tool write a v0.3 bundle
	}{
		{"cosign", []string{"--new-bundle-format"}},
		{"cosign3", nil},
	} {
		t.Run(tc.tool, func(t *testing.T) {
			t.Run("it verifies our bundle", func(t *testing.T) {
				blobPath, digest := writeBlob(t, "ours for "+tc.tool)
				raw, err := bundle.SignDigest(k.Key.Signer, digest)
				if err != nil {
					t.Fatal(err)
				}
				os.WriteFile(blobPath+".bundle", raw, 0o644)
				args := append([]string{"verify-blob", "--key", k.Pub, "--bundle", blobPath + ".bundle", "--insecure-ignore-tlog=true", "--trusted-root", peertest.EmptyTrustedRoot(t)}, tc.signArgs...)
				if out, err := peer(t, tc.tool, append(args, blobPath)...); err != nil {
					t.Fatalf("%s verify-blob refused our bundle: %v: %s", tc.tool, err, out)
				}
				changed, _ := writeBlob(t, "changed")
				if out, err := peer(t, tc.tool, append(args, changed)...); err == nil {
					t.Fatalf("%s accepted our bundle for another blob: %s", tc.tool, out)
				}
			})
			t.Run("we verify its bundle", func(t *testing.T) {
				blobPath, digest := writeBlob(t, "theirs from "+tc.tool)
				args := append([]string{"sign-blob", "--key", k.Priv, "--bundle", blobPath + ".bundle", "--tlog-upload=false", "-y"}, offlineSign(tc.tool, tc.signArgs)...)
				if out, err := peer(t, tc.tool, append(args, blobPath)...); err != nil {
					t.Fatalf("%s sign-blob: %v: %s", tc.tool, err, out)
				}
				raw, _ := os.ReadFile(blobPath + ".bundle")
				if !bundle.Is(raw) || !strings.Contains(string(raw), "v0.3") {
					t.Fatalf("%s wrote no v0.3 bundle: %s", tc.tool, raw)
				}
				if _, err := bundle.VerifyDigest(raw, digest, []crypto.PublicKey{k.Key.Public()}, blobPath); err != nil {
					t.Fatal(err)
				}
				if _, err := bundle.VerifyDigest(raw, sha256.New().Sum(nil), []crypto.PublicKey{k.Key.Public()}, blobPath); result.ClassOf(err) != result.ClassTamper {
					t.Fatalf("another digest: err = %v, want tamper", err)
				}
			})
		})
	}
}

// offlineSign adds the flags that make a stock cosign sign offline: v3 signs from a TUF signing config unless told not to.
func offlineSign(tool string, args []string) []string {
	if tool == "cosign3" {
		return append([]string{"--use-signing-config=false"}, args...)
	}
	return args
}

func writeFile(t *testing.T, p, s string) {
	t.Helper()
	if err := os.WriteFile(p, []byte(s), 0o644); err != nil {
		t.Fatal(err)
	}
}
