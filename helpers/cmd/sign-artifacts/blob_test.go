package main

import (
	"bytes"
	"context"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	nx509 "github.com/notaryproject/notation-core-go/x509"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/gobin/gobintest"
	"github.com/release-gates/release-gates/helpers/internal/hsm/softhsmtest"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/peertest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

// runCLI drives sign-artifacts in-process and returns the exit code, the result file and stderr.
func blobRunCLI(t *testing.T, args ...string) (int, result.Result, string) {
	t.Helper()
	rf := filepath.Join(t.TempDir(), "result.json")
	var out, errb bytes.Buffer
	// Flags must precede the FILE arguments, so the result file goes right after the verb.
	full := append([]string{"sign-artifacts"}, args[:2]...)
	full = append(append(full, "--result-file", rf), args[2:]...)
	code := app.Run(context.Background(), newApp(), full, &out, &errb)
	var r result.Result
	b, err := os.ReadFile(rf)
	if err != nil {
		t.Fatalf("no result file (exit %d, stderr %s): %v", code, errb.String(), err)
	}
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	return code, r, errb.String()
}

func blobCosign(t *testing.T, env []string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(peertest.Tool(t, "cosign"), args...)
	cmd.Env = append(os.Environ(), append([]string{"TUF_ROOT=" + t.TempDir()}, env...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// hsmKey generates (once per label) an HSM key through the CLI and returns its URI and exported public key file.
func blobHSMKey(t *testing.T, label string, id byte) (uri, pub string) {
	t.Helper()
	tok := softhsmtest.Shared(t)
	t.Setenv(keys.PINEnv, tok.PIN)
	uri = tok.URI(label, []byte{id})
	if code, r, stderr := blobRunCLI(t, "keys", "generate", "--type", "pkcs11", "--key", uri); code != 0 {
		t.Fatalf("keys generate pkcs11: exit %d: %s %s", code, r.Message, stderr)
	}
	pub = filepath.Join(t.TempDir(), label+".pub")
	if code, r, _ := blobRunCLI(t, "keys", "public", "--key", uri, "--out", pub); code != 0 {
		t.Fatalf("keys public: exit %d: %s", code, r.Message)
	}
	return uri, pub
}

func blobWriteFiles(t *testing.T, names ...string) (string, []string) {
	dir := t.TempDir()
	var out []string
	for _, n := range names {
		p := filepath.Join(dir, n)
		os.WriteFile(p, []byte("content of "+n), 0o644)
		out = append(out, p)
	}
	return dir, out
}

func TestBlobSignAndVerifyExitCodesAndResultFiles(t *testing.T) {
	uri, pub := blobHSMKey(t, "cli-blob", 0x10)
	bins := t.TempDir()
	arm, err := gobintest.Build(bins, "linux", "arm64", false)
	if err != nil {
		t.Fatal(err)
	}
	dirty, err := gobintest.Build(bins, "linux", "amd64", true)
	if err != nil {
		t.Fatal(err)
	}
	dir, files := blobWriteFiles(t, "a.tar.gz", "b.tar.gz", "go.sum")

	code, r, stderr := blobRunCLI(t, "blob", "sign", "--key", uri, "--checksums", filepath.Join(dir, "SHA256SUMS"), filepath.Join(dir, "*.tar.gz"), files[2])
	if code != 0 || r.Status != "passed" || len(r.Items) != 4 || r.Verb != "blob sign" {
		t.Fatalf("sign: exit %d, result %+v, stderr %s", code, r, stderr)
	}
	if got := strings.Count(stderr, "ok   "); got != 4 {
		t.Fatalf("want one progress line per file, got %d:\n%s", got, stderr)
	}
	for _, it := range r.Items {
		if it.Details["key_id"] == "" || len(it.Details["sha256"].(string)) != 64 || it.Details["signature"] != it.Name+".sig" {
			t.Fatalf("item lacks details: %+v", it)
		}
	}
	if code, r, _ := blobRunCLI(t, "blob", "verify", "--key", pub, filepath.Join(dir, "*")); code != 0 || len(r.Items) != 4 {
		t.Fatalf("verify: exit %d, %+v", code, r)
	}
	exported := filepath.Join(t.TempDir(), "signer.pub")
	if code, r, stderr := blobRunCLI(t, "blob", "sign", "--key", uri, "--public-key-out", exported, files[2]); code != 0 || r.Data["public_key"] != exported {
		t.Fatalf("sign with --public-key-out: exit %d, %+v, %s", code, r, stderr)
	}
	if want, got := readFile(t, pub), readFile(t, exported); want != got {
		t.Fatalf("--public-key-out wrote\n%s\nwant the key's public key\n%s", got, want)
	}
	if out, err := blobCosign(t, nil, "verify-blob", "--key", pub, "--signature", files[2]+".sig", "--insecure-ignore-tlog=true", files[2]); err != nil {
		t.Fatalf("cosign rejects the HSM signature: %v: %s", err, out)
	}

	tampered := filepath.Join(dir, "b.tar.gz")
	cases := []struct {
		name  string
		setup func()
		args  []string
		code  int
		class result.Class
		want  string
	}{
		{"a glob that matches nothing", nil, []string{"blob", "sign", "--key", uri, filepath.Join(dir, "*.exe")}, 2, result.ClassInput, "matched no files"},
		{"pin-value in the key URI", nil, []string{"blob", "sign", "--key", uri + "&pin-value=s3cret-PIN-qx", files[0]}, 2, result.ClassInput, "pin-value in a key URI is refused: bind the PIN with withCredentials as PKCS11_PIN or --pin-file"},
		{"a missing PKCS#11 module", nil, []string{"blob", "sign", "--key", "pkcs11:token=x;object=y?module-path=/no/such/module.so", files[0]}, 2, result.ClassConfig, "/no/such/module.so"},
		{"a binary for the wrong platform", nil, []string{"blob", "sign", "--key", uri, "--expect-platform", "linux/amd64", arm}, 1, result.ClassRejected, "built for linux/arm64, expected linux/amd64"},
		{"a dirty build", nil, []string{"blob", "sign", "--key", uri, dirty}, 1, result.ClassRejected, "vcs.modified=true"},
		{"a tampered blob", func() { os.WriteFile(tampered, []byte("evil"), 0o644) }, []string{"blob", "verify", "--key", pub, files[0], tampered}, 1, result.ClassTamper, "b.tar.gz"},
		{"a missing signature", func() { os.Remove(files[0] + ".sig") }, []string{"blob", "verify", "--key", pub, files[0]}, 1, result.ClassRejected, "no signature"},
		{"a private key given to verify", nil, []string{"blob", "verify", "--key", filepath.Join(dir, "go.sum"), files[2]}, 2, result.ClassInput, "not a PEM public key"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.setup != nil {
				tc.setup()
			}
			code, r, stderr := blobRunCLI(t, tc.args...)
			if code != tc.code || r.FailureClass != tc.class || !strings.Contains(r.Message, tc.want) {
				t.Fatalf("exit %d class %q message %q, want %d %q containing %q\n%s", code, r.FailureClass, r.Message, tc.code, tc.class, tc.want, stderr)
			}
			if strings.Contains(stderr+r.Message, "s3cret-PIN-qx") || strings.Contains(stderr+r.Message, softhsmtest.Shared(t).PIN) {
				t.Fatal("a PIN reached the output")
			}
		})
	}
	for _, f := range []string{arm, dirty} {
		if _, err := os.Stat(f + ".sig"); err == nil {
			t.Fatalf("%s.sig written for a rejected binary", f)
		}
	}
}

func TestKeysGenerateFileMakesKeysCosignAccepts(t *testing.T) {
	dir := t.TempDir()
	prefix := filepath.Join(dir, "release")
	pwFile := filepath.Join(dir, "pw")
	os.WriteFile(pwFile, []byte("s3cret-pw\n"), 0o600)
	if code, r, _ := blobRunCLI(t, "keys", "generate", "--type", "file", "--out-prefix", prefix, "--password-file", pwFile); code != 0 {
		t.Fatalf("exit %d: %s", code, r.Message)
	}
	if code, r, _ := blobRunCLI(t, "keys", "generate", "--type", "file", "--out-prefix", prefix, "--password-file", pwFile); code != 2 || !strings.Contains(r.Message, "already exists") {
		t.Fatalf("overwrite: exit %d: %s", code, r.Message)
	}
	blobPath := filepath.Join(dir, "app.tar.gz")
	os.WriteFile(blobPath, []byte("release"), 0o644)
	if out, err := blobCosign(t, []string{"COSIGN_PASSWORD=s3cret-pw"}, "sign-blob", "--tlog-upload=false", "--key", prefix+".key", "--output-signature", blobPath+".sig", "-y", blobPath); err != nil {
		t.Fatalf("cosign sign-blob refuses our key: %v: %s", err, out)
	}
	if code, r, _ := blobRunCLI(t, "blob", "verify", "--key", prefix+".pub", blobPath); code != 0 {
		t.Fatalf("verify cosign's signature: exit %d: %s", code, r.Message)
	}
	wrong := filepath.Join(dir, "wrong")
	os.WriteFile(wrong, []byte("nope"), 0o600)
	code, r, stderr := blobRunCLI(t, "blob", "sign", "--key", "file://"+prefix+".key", "--password-file", wrong, blobPath)
	if code != 2 || r.FailureClass != result.ClassAuth || strings.Contains(stderr, "nope") {
		t.Fatalf("wrong password: exit %d class %s: %s", code, r.FailureClass, r.Message)
	}
	if sig, _ := os.ReadFile(blobPath + ".sig"); len(sig) == 0 {
		t.Fatal("the failed call removed the earlier signature")
	}
}

func TestKeysGenerateRefusesADuplicateHSMKey(t *testing.T) {
	uri, _ := blobHSMKey(t, "cli-dup", 0x20)
	tok := softhsmtest.Shared(t)
	for _, u := range []string{uri, tok.URI("cli-dup", []byte{0x21}), tok.URI("cli-dup-2", []byte{0x20})} {
		if code, r, _ := blobRunCLI(t, "keys", "generate", "--type", "pkcs11", "--key", u); code != 2 || !strings.Contains(r.Message, "already holds") {
			t.Fatalf("%s: exit %d: %s", u, code, r.Message)
		}
	}
}

func TestKeysGenerateCAIssuesANotationCompatibleChainForAnHSMKey(t *testing.T) {
	uri, _ := blobHSMKey(t, "cli-notation", 0x30)
	dir := t.TempDir()
	if code, r, stderr := blobRunCLI(t, "keys", "generate", "--type", "ca", "--key", uri, "--out-dir", dir, "--subject", "CN=release signer,O=example"); code != 0 {
		t.Fatalf("exit %d: %s %s", code, r.Message, stderr)
	}
	chain, err := keys.ReadCertChain(filepath.Join(dir, "chain.pem"))
	if err != nil || len(chain) != 2 {
		t.Fatalf("chain: %v (%d certs)", err, len(chain))
	}
	if err := nx509.ValidateCodeSigningCertChain(chain, nil); err != nil {
		t.Fatalf("notation rejects the chain: %v", err)
	}
	ref, _ := keys.ParseRef(uri)
	k, err := keys.Load(context.Background(), ref, keys.LoadOptions{CertChainFile: filepath.Join(dir, "chain.pem")})
	if err != nil {
		t.Fatalf("the chain does not match the HSM key: %v", err)
	}
	k.Close()
}

func readFile(t *testing.T, path string) string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestBlobSignWithAWrongPasswordExitsTwoAndWritesNothing(t *testing.T) {
	priv := filepath.Join(t.TempDir(), "cosign")
	if _, err := keys.GenerateFile(priv, []byte("right-pw-Kd8q")); err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	big := filepath.Join(dir, "big.bin")
	if err := os.WriteFile(big, bytes.Repeat([]byte("release bytes "), 3<<20), 0o644); err != nil { // 42 MiB: several mapping windows
		t.Fatal(err)
	}
	os.WriteFile(filepath.Join(dir, "small.txt"), []byte("small"), 0o644)
	pwDir := t.TempDir()
	wrong := filepath.Join(pwDir, "pw")
	os.WriteFile(wrong, []byte("wrong-pw-Vx3m"), 0o600)
	code, r, stderr := blobRunCLI(t, "blob", "sign", "--key", priv+".key", "--password-file", wrong,
		"--checksums", filepath.Join(dir, "SHA256SUMS"), "--bundle", "--public-key-out", filepath.Join(dir, "release.pub"), dir+"/*")
	if code != 2 || r.FailureClass != result.ClassAuth || !strings.Contains(r.Message, "wrong password") {
		t.Fatalf("exit %d class %s: %s", code, r.FailureClass, r.Message)
	}
	if strings.Contains(stderr, "wrong-pw-Vx3m") || strings.Contains(r.Message, "wrong-pw-Vx3m") {
		t.Fatalf("the password leaked: %s %s", stderr, r.Message)
	}
	ents, _ := os.ReadDir(dir)
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	if strings.Join(names, " ") != "big.bin small.txt" {
		t.Fatalf("a failed call left files behind: %v", names)
	}
	for _, it := range r.Items {
		if it.Status == result.StatusPassed {
			t.Fatalf("item %s passed in a failed call", it.Name)
		}
	}
}
