package blob

import (
	"bytes"
	"context"
	"crypto"
	"crypto/rand"
	"encoding/base64"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/gobin/gobintest"
	"github.com/release-gates/release-gates/helpers/internal/hsm/softhsmtest"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/peertest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

var token softhsmtest.Token

func TestMain(m *testing.M) {
	code := softhsmtest.Main(m, &token)
	peertest.RemoveKeys()
	os.Exit(code)
}

type fileKey struct {
	priv, pub string
	key       *keys.Key
}

func (f fileKey) loader(password string) KeyLoader {
	return func(ctx context.Context) (*keys.Key, error) {
		pw := filepath.Join(filepath.Dir(f.priv), "pw")
		if err := os.WriteFile(pw, []byte(password), 0o600); err != nil {
			return nil, err
		}
		return keys.Load(ctx, keys.Ref{Scheme: keys.SchemeFile, Path: f.priv}, keys.LoadOptions{PasswordFile: pw})
	}
}

// mem returns a loader for the already decrypted key: scrypt under -race is slow, and only a few tests need it.
func (f fileKey) mem() KeyLoader {
	return func(context.Context) (*keys.Key, error) { return &keys.Key{Signer: f.key.Signer, ID: f.key.ID}, nil }
}

// cachedKey returns one file key per name and password for the whole test binary.
func cachedKey(t *testing.T, name, password string) fileKey {
	k := peertest.CachedKey(t, name, "cosign", password)
	return fileKey{priv: k.Priv, pub: k.Pub, key: k.Key}
}

func (f fileKey) public() []PublicKey { return []PublicKey{{Key: f.key.Public(), ID: f.key.ID}} }

func writeBlobs(t *testing.T, n, size int) (string, []string) {
	t.Helper()
	dir := t.TempDir()
	var files []string
	for i := 0; i < n; i++ {
		b := make([]byte, size)
		rand.Read(b)
		p := filepath.Join(dir, "artifact-"+string(rune('a'+i%26))+strings.Repeat("x", i/26)+".bin")
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
		files = append(files, p)
	}
	return dir, files
}

// sigFiles lists signature-like and temp files in dir.
func sigFiles(t *testing.T, dir string) []string {
	t.Helper()
	var out []string
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		if strings.HasSuffix(e.Name(), ".sig") || strings.HasSuffix(e.Name(), ".bundle") || strings.Contains(e.Name(), ".tmp-") || e.Name() == "SHA256SUMS" {
			out = append(out, e.Name())
		}
	}
	return out
}

func TestSignThenVerifyRoundTripsManyFilesInParallel(t *testing.T) {
	fk := cachedKey(t, "main", "pw")
	dir, files := writeBlobs(t, 30, 64<<10)
	arts, err := Sign(context.Background(), fk.loader("pw"), files, SignOptions{Parallel: 4, Checksums: filepath.Join(dir, "SHA256SUMS")})
	if err != nil {
		t.Fatal(err)
	}
	if len(arts) != 31 {
		t.Fatalf("%d artifacts, want 30 files + SHA256SUMS", len(arts))
	}
	for _, a := range arts {
		if a.KeyID != fk.key.ID || a.Signature != a.Path+".sig" || len(a.SHA256) != 64 {
			t.Fatalf("incomplete artifact %+v", a)
		}
	}
	sums, _ := os.ReadFile(filepath.Join(dir, "SHA256SUMS"))
	lines := strings.Split(strings.TrimSpace(string(sums)), "\n")
	if len(lines) != 30 || !strings.HasSuffix(lines[0], "  artifact-a.bin") || len(strings.Fields(lines[0])[0]) != 64 {
		t.Fatalf("SHA256SUMS not goreleaser style:\n%s", sums)
	}
	all := append(append([]string{}, files...), filepath.Join(dir, "SHA256SUMS"))
	if _, err := Verify(context.Background(), fk.public(), all, VerifyOptions{Parallel: 3}); err != nil {
		t.Fatal(err)
	}
}

func TestResigningReplacesTheSignatureWithoutLeavingExtraFiles(t *testing.T) {
	fk := cachedKey(t, "main", "pw")
	dir, files := writeBlobs(t, 2, 1000)
	for i := 0; i < 2; i++ {
		if _, err := Sign(context.Background(), fk.mem(), files, SignOptions{}); err != nil {
			t.Fatal(err)
		}
	}
	if got := sigFiles(t, dir); len(got) != 2 {
		t.Fatalf("files after re-signing: %v, want exactly two .sig", got)
	}
	if _, err := Verify(context.Background(), fk.public(), files, VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
}

func TestVerifyRejectsTamperingAndMissingSignatures(t *testing.T) {
	fk := cachedKey(t, "main", "pw")
	other := cachedKey(t, "other", "pw")
	cases := []struct {
		name   string
		break_ func(t *testing.T, file string)
		pubs   []PublicKey
		class  result.Class
		want   string
		all    bool // every file fails, not just the broken one
	}{
		{"an untouched file verifies", func(*testing.T, string) {}, fk.public(), "", "", false},
		{"a second key may match", func(*testing.T, string) {}, append(other.public(), fk.public()...), "", "", false},
		{"a tampered blob", func(t *testing.T, f string) { appendTo(t, f, "x") }, fk.public(), result.ClassTamper, "does not verify", false},
		{"a tampered signature", func(t *testing.T, f string) {
			sig, _ := os.ReadFile(f + ".sig")
			raw, _ := base64.StdEncoding.DecodeString(string(sig))
			raw[len(raw)-3] ^= 0x01
			os.WriteFile(f+".sig", []byte(base64.StdEncoding.EncodeToString(raw)), 0o644)
		}, fk.public(), result.ClassTamper, "does not verify", false},
		{"a signature that is not base64", func(t *testing.T, f string) { os.WriteFile(f+".sig", []byte("@@@"), 0o644) }, fk.public(), result.ClassTamper, "not base64", false},
		{"the wrong key", func(*testing.T, string) {}, other.public(), result.ClassTamper, "does not verify", true},
		{"a missing signature", func(t *testing.T, f string) { os.Remove(f + ".sig") }, fk.public(), result.ClassRejected, "no signature", false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, files := writeBlobs(t, 3, 4096)
			if _, err := Sign(context.Background(), fk.mem(), files, SignOptions{}); err != nil {
				t.Fatal(err)
			}
			tc.break_(t, files[1])
			arts, err := Verify(context.Background(), tc.pubs, files, VerifyOptions{})
			if result.ClassOf(err) != tc.class {
				t.Fatalf("class = %q, want %q (err %v)", result.ClassOf(err), tc.class, err)
			}
			if err == nil {
				return
			}
			if tc.all {
				if !strings.Contains(err.Error(), "3 of 3 files") {
					t.Fatalf("err = %v, want all three files to fail", err)
				}
				return
			}
			if result.ClassOf(err).ExitCode() != result.ExitRejected || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), filepath.Base(files[1])) {
				t.Fatalf("err = %v, want exit 1 naming %s and %q", err, files[1], tc.want)
			}
			if arts[0].Err != nil || arts[1].Err == nil {
				t.Fatalf("only the broken file should fail: %v / %v", arts[0].Err, arts[1].Err)
			}
		})
	}
}

func appendTo(t *testing.T, path, s string) {
	f, err := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteString(s)
	f.Close()
}

func TestSignWritesNothingWhenAnyFileOrTheKeyFails(t *testing.T) {
	fk := cachedKey(t, "right", "right")
	bins := t.TempDir()
	arm, err := gobintest.Build(bins, "linux", "arm64", false)
	if err != nil {
		t.Fatal(err)
	}
	dirty, err := gobintest.Build(bins, "linux", "amd64", true)
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name  string
		load  KeyLoader
		extra string
		opts  SignOptions
		class result.Class
		want  string
	}{
		{"wrong key password", fk.loader("wrong"), "", SignOptions{}, result.ClassAuth, "wrong password"},
		{"binary for the wrong platform", fk.mem(), arm, SignOptions{ExpectPlatform: "linux/amd64"}, result.ClassRejected, "built for linux/arm64, expected linux/amd64"},
		{"dirty build", fk.mem(), dirty, SignOptions{}, result.ClassRejected, "vcs.modified=true"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			dir, files := writeBlobs(t, 4, 2048)
			if tc.extra != "" {
				p := filepath.Join(dir, filepath.Base(tc.extra))
				b, _ := os.ReadFile(tc.extra)
				os.WriteFile(p, b, 0o755)
				files = append(files, p)
			}
			tc.opts.Checksums = filepath.Join(dir, "SHA256SUMS")
			tc.opts.Bundle = true
			_, err := Sign(context.Background(), tc.load, files, tc.opts)
			if result.ClassOf(err) != tc.class || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("err = %v (%s), want %s containing %q", err, result.ClassOf(err), tc.class, tc.want)
			}
			if got := sigFiles(t, dir); len(got) != 0 {
				t.Fatalf("failed call left files behind: %v", got)
			}
		})
	}
	t.Run("a dirty build passes with AllowDirty and records its build info", func(t *testing.T) {
		arts, err := Sign(context.Background(), fk.mem(), []string{dirty}, SignOptions{AllowDirty: true, ExpectPlatform: "linux/amd64"})
		if err != nil {
			t.Fatal(err)
		}
		if g := arts[0].Go; g == nil || !g.Modified || g.Module != "example.com/hello" || g.BuildID == "" {
			t.Fatalf("build info not recorded: %+v", g)
		}
	})
}

func TestExpandResolvesGlobsAndRefusesEmptyMatches(t *testing.T) {
	dir, files := writeBlobs(t, 3, 10)
	os.WriteFile(files[0]+".sig", []byte("x"), 0o644)
	got, err := Expand([]string{filepath.Join(dir, "*"), files[1]}, []string{".sig"}, nil)
	if err != nil || len(got) != 3 {
		t.Fatalf("Expand = %v, %v; want the 3 blobs without the .sig", got, err)
	}
	for _, args := range [][]string{{filepath.Join(dir, "*.exe")}, {filepath.Join(dir, "missing.bin")}, {dir}, nil} {
		if _, err := Expand(args, nil, nil); result.ClassOf(err) != result.ClassInput {
			t.Fatalf("Expand(%v) err = %v, want input error", args, err)
		}
	}
}

func cosignRun(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(peertest.Tool(t, "cosign"), args...)
	cmd.Env = append(os.Environ(), append([]string{"TUF_ROOT=" + t.TempDir(), "SIGSTORE_NO_CACHE=true"}, env...)...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	err := cmd.Run()
	return out.String(), err
}

func TestCosignInteropBothWays(t *testing.T) {
	peertest.Tool(t, "cosign")
	fk := cachedKey(t, "main", "pw")
	_, files := writeBlobs(t, 2, 2*hashWindow+hashChunk+7) // hashed through several mappings and a read tail
	if _, err := Sign(context.Background(), fk.loader("pw"), files[:1], SignOptions{Bundle: true}); err != nil {
		t.Fatal(err)
	}
	t.Run("cosign verify-blob accepts our signature", func(t *testing.T) {
		if out, err := cosignRun(t, nil, "verify-blob", "--key", fk.pub, "--signature", files[0]+".sig", "--insecure-ignore-tlog=true", files[0]); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	})
	t.Run("cosign verify-blob accepts our bundle", func(t *testing.T) {
		if out, err := cosignRun(t, nil, "verify-blob", "--key", fk.pub, "--bundle", files[0]+".bundle", "--insecure-ignore-tlog=true", files[0]); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	})
	t.Run("cosign verify-blob rejects our signature for a changed blob", func(t *testing.T) {
		changed := filepath.Join(t.TempDir(), "changed")
		b, _ := os.ReadFile(files[0])
		b[0] ^= 1
		os.WriteFile(changed, b, 0o644)
		if out, err := cosignRun(t, nil, "verify-blob", "--key", fk.pub, "--signature", files[0]+".sig", "--insecure-ignore-tlog=true", changed); err == nil {
			t.Fatalf("cosign accepted a changed blob: %s", out)
		}
	})
	t.Run("cosign signs with our generated key and we verify", func(t *testing.T) {
		if out, err := cosignRun(t, []string{"COSIGN_PASSWORD=pw"}, "sign-blob", "--tlog-upload=false", "--key", fk.priv, "--output-signature", files[1]+".sig", "-y", files[1]); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		if _, err := Verify(context.Background(), fk.public(), files[1:], VerifyOptions{}); err != nil {
			t.Fatal(err)
		}
	})
	t.Run("a key from cosign generate-key-pair signs with us", func(t *testing.T) {
		dir := t.TempDir()
		cmd := exec.Command(peertest.Tool(t, "cosign"), "generate-key-pair")
		cmd.Dir, cmd.Env = dir, append(os.Environ(), "COSIGN_PASSWORD=cpw")
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
		ck := fileKey{priv: filepath.Join(dir, "cosign.key"), pub: filepath.Join(dir, "cosign.pub")}
		blob := filepath.Join(dir, "blob")
		os.WriteFile(blob, []byte("hello"), 0o644)
		if _, err := Sign(context.Background(), ck.loader("cpw"), []string{blob}, SignOptions{}); err != nil {
			t.Fatal(err)
		}
		if out, err := cosignRun(t, nil, "verify-blob", "--key", ck.pub, "--signature", blob+".sig", "--insecure-ignore-tlog=true", blob); err != nil {
			t.Fatalf("%v: %s", err, out)
		}
	})
}

func TestHSMKeySignsBlobsThatCosignVerifies(t *testing.T) {
	t.Setenv(keys.PINEnv, token.PIN)
	ref, err := keys.ParseRef(token.URI("blob-signer", []byte{0x42}))
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.GeneratePKCS11(context.Background(), ref, keys.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, _ := k.PublicPEM()
	k.Close()
	pub := filepath.Join(t.TempDir(), "hsm.pub")
	os.WriteFile(pub, pubPEM, 0o644)
	_, files := writeBlobs(t, 8, 100<<10)
	load := func(ctx context.Context) (*keys.Key, error) { return keys.Load(ctx, ref, keys.LoadOptions{}) }
	arts, err := Sign(context.Background(), load, files, SignOptions{Parallel: 4})
	if err != nil {
		t.Fatal(err)
	}
	if arts[0].KeyID != k.ID {
		t.Fatalf("key id %s, want %s", arts[0].KeyID, k.ID)
	}
	if _, err := Verify(context.Background(), []PublicKey{{Key: k.Public(), ID: k.ID}}, files, VerifyOptions{}); err != nil {
		t.Fatal(err)
	}
	if out, err := cosignRun(t, nil, "verify-blob", "--key", pub, "--signature", files[3]+".sig", "--insecure-ignore-tlog=true", files[3]); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
}

// faultySigner stands in for a broken token: it returns signatures that do not verify.
type faultySigner struct{ crypto.Signer }

func (f faultySigner) Sign(r io.Reader, d []byte, o crypto.SignerOpts) ([]byte, error) {
	sig, err := f.Signer.Sign(r, d, o)
	sig[len(sig)-1] ^= 0xff
	return sig, err
}

func TestSignRefusesSignaturesThatDoNotVerifyAgainstTheKey(t *testing.T) {
	fk := cachedKey(t, "main", "pw")
	dir, files := writeBlobs(t, 2, 100)
	load := func(context.Context) (*keys.Key, error) {
		return &keys.Key{Signer: faultySigner{fk.key.Signer}, ID: fk.key.ID}, nil
	}
	_, err := Sign(context.Background(), load, files, SignOptions{})
	if result.ClassOf(err) != result.ClassKey || !strings.Contains(err.Error(), "does not verify against its own public key") {
		t.Fatalf("err = %v, want a key error", err)
	}
	if got := sigFiles(t, dir); len(got) != 0 {
		t.Fatalf("files left behind: %v", got)
	}
}
