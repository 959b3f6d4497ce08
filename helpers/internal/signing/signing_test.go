package signing

import (
	"context"
	"encoding/json"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/release-gates/release-gates/helpers/internal/breaker/breakertest"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/params"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/registry/registrytest"
	"github.com/release-gates/release-gates/helpers/internal/result"
)

func TestMain(m *testing.M) { breakertest.Main(m) }

func decode(t *testing.T, doc string) (*Params, error) {
	t.Helper()
	var p Params
	if err := params.Decode(json.RawMessage(doc), &p); err != nil {
		return nil, err
	}
	return &p, p.Validate()
}

func TestValidateNamesTheJenkinsfileKeyOfEveryRule(t *testing.T) {
	cases := []struct{ doc, want string }{
		{`{"key":"k"}`, "nothing to sign: give files"},
		{`{"key":"k","keyCredentialsId":"c","files":["f"]}`, "set one of key (a path, file:// or pkcs11: URI), keyCredentialsId"},
		{`{"keyring":"keys.yaml","environment":"prod","key":"k","files":["f"]}`, "not both"},
		{`{"files":["f"]}`, "parameter 'key', 'keyCredentialsId' or 'keyring' is required"},
		{`{"keyring":"keys.yaml","files":["f"]}`, "set keyring and environment together"},
		{`{"key":"k","environment":"prod","files":["f"]}`, "set keyring and environment together"},
		{`{"key":"k","keyringAuditLog":"a.jsonl","files":["f"]}`, "keyringAuditLog: 'a.jsonl' applies only with keyring"},
		{`{"key":"pkcs11:token=release;object=signer;pin-value=4711","files":["f"]}`, "a pin-value in the key URI is refused"},
		{`{"key":"pkcs11:token=r;object=s?PIN-VALUE=4711&module-path=/x.so","files":["f"]}`, "store the PIN as a secret text credential and pass pinCredentialsId"},
		{`{"key":"k","files":["f"],"formats":["gpg"]}`, "formats must be a non-empty subset of cosign, notation; got 'gpg'"},
		{`{"key":"k","files":["f"],"formats":[]}`, "formats must be a non-empty subset"},
		{`{"key":"k","files":["f"],"notationFormat":"xml"}`, "notationFormat must be jws or cose; got 'xml'"},
		{`{"key":"k","images":["r/i:1"]}`, "parameter 'certChain' is required to sign images with notation"},
		{`{"key":"k","images":["r/a:1","r/b:1"],"formats":["cosign"],"expectDigest":"sha256:` + strings.Repeat("0", 64) + `"}`, "expectDigest needs exactly one image; got 2"},
		{`{"key":"k","images":["r/a:1"],"formats":["cosign"],"expectDigest":"latest"}`, "expectDigest must be sha256:<64 hex digits>; got 'latest'"},
		{`{"key":"k","images":["r/a:1"],"formats":["cosign"],"checksums":"SHA256SUMS"}`, "apply to files, and files is empty"},
		{`{"key":"k","images":["r/a:1"],"formats":["cosign"],"allowDirty":true}`, "apply to files, and files is empty"},
		{`{"key":"k","files":["f"],"expectPlatform":"arm64"}`, "expectPlatform must be os/arch, e.g. linux/arm64; got 'arm64'"},
		{`{"key":"k","files":["f"],"trustPolicy":"tp.json","trustStore":"ts"}`, "apply to images, and images is empty"},
		{`{"key":"k","files":["f"],"plainHttp":true}`, "apply to images, and images is empty"},
		{`{"key":"k","images":["r/a:1"],"formats":["cosign"],"trustPolicy":"tp.json"}`, "set trustPolicy and trustStore together"},
		{`{"key":"k","files":["f"],"parallel":0}`, "parallel must be a whole number from 1 to 64; got 0"},
		{`{"key":"k","files":["f"],"parallel":65}`, "parallel must be a whole number from 1 to 64; got 65"},
		{`{"key":"k","files":["f"],"verifyKeys":["pkcs11:token=t;object=o?pin-value=4711"]}`, "verifyKeys must list public key files"},
		{`{"key":"k","files":["f"],"verifyKeys":[" "]}`, "verifyKeys must list public key files"},
		{`{"key":"k","files":"dist/*"}`, "parameter 'files' must be a List of Strings"},
		{`{"key":"k","files":["f"],"bundleFormat":"v0.2"}`, "bundleFormat must be v0.3 (or unset); got 'v0.2'"},
		{`{"key":"k","images":["r/a:1"],"certChain":"c","timestampUrl":"https://tsa"}`, "set timestampUrl and timestampRootCert together"},
		{`{"key":"k","images":["r/a:1"],"formats":["cosign"],"timestampUrl":"https://tsa","timestampRootCert":"r.pem"}`, "timestampUrl: 'https://tsa' applies to notation signatures of images"},
		{`{"key":"k","files":["f"],"paralel":2}`, "unknown parameter 'paralel' (did you mean 'parallel'?)"},
	}
	for _, c := range cases {
		t.Run(c.doc, func(t *testing.T) {
			_, err := decode(t, c.doc)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
			if result.ClassOf(err) != result.ClassInput || strings.Contains(err.Error(), "4711") {
				t.Fatalf("class %s, or the PIN is echoed: %v", result.ClassOf(err), err)
			}
		})
	}
}

// fileKey writes an encrypted cosign key pair and binds its password as the runner would.
func fileKey(t *testing.T, dir string) string {
	t.Helper()
	t.Setenv("RG_TEST_PASSWORD", "pa55")
	if _, err := keys.GenerateFile(filepath.Join(dir, "cosign"), []byte("pa55")); err != nil {
		t.Fatal(err)
	}
	return filepath.Join(dir, "cosign.key")
}

func chdir(t *testing.T, dir string) {
	t.Helper()
	wd, _ := os.Getwd()
	if err := os.Chdir(dir); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = os.Chdir(wd) })
}

func TestRunSignsAndVerifiesFilesWritingEveryStageResult(t *testing.T) {
	dir := t.TempDir()
	chdir(t, dir)
	key := fileKey(t, dir)
	for _, f := range []string{"a.bin", "go.sum"} {
		if err := os.WriteFile(f, []byte("content of "+f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	p, err := decode(t, `{"keyCredentialsId":"cosign-key","files":["*.bin","go.sum"],"checksums":"SHA256SUMS"}`)
	if err != nil {
		t.Fatal(err)
	}
	out := Run(context.Background(), p, RunOptions{KeyFile: key, PasswordEnv: "RG_TEST_PASSWORD", TraceID: "rg-1", Helper: "sign-artifacts",
		ResultFile: ".release-gates/signArtifacts.json", Log: log.New(io.Discard, "", 0)})
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	if strings.Join(out.Stages, ",") != "blobSign,blobVerify" {
		t.Fatalf("stages %v", out.Stages)
	}
	if out.PubKey != ".release-gates/signArtifacts.pub" || len(out.Sigs) != 3 {
		t.Fatalf("public key %q, signatures %v", out.PubKey, out.Sigs)
	}
	for _, f := range append(out.Files, out.Sigs...) {
		if _, err := os.Stat(f); err != nil {
			t.Errorf("%s: %v", f, err)
		}
	}
	if got := len(out.Results["blobVerify"].Items); got != 3 {
		t.Fatalf("verified %d files, want 3 (a.bin, go.sum, SHA256SUMS)", got)
	}
	m := out.Combined
	if m["status"] != "passed" || m["exit_code"] != 0 || m["verb"] != "signArtifacts" || m["publicKey"] != out.PubKey {
		t.Fatalf("combined %v", m)
	}
	b, _ := json.Marshal(m)
	var back map[string]any
	_ = json.Unmarshal(b, &back)
	if back["results"].(map[string]any)["blobSign"].(map[string]any)["items"].([]any)[0].(map[string]any)["details"].(map[string]any)["signature"] != "a.bin.sig" {
		t.Fatalf("combined results do not keep the stage items: %s", b)
	}
	sum := strings.Join(out.Summary(), "\n")
	if !strings.Contains(sum, "signArtifacts: blob verify: 3 verified") || strings.Contains(sum, "pa55") {
		t.Fatalf("summary:\n%s", sum)
	}
}

func TestRunStopsAtTheFailingStageAndNamesIt(t *testing.T) {
	dir := t.TempDir()
	chdir(t, dir)
	key := fileKey(t, dir)
	other := filepath.Join(dir, "other")
	if _, err := keys.GenerateFile(other, []byte("x")); err != nil {
		t.Fatal(err)
	}
	_ = os.WriteFile("a.bin", []byte("a"), 0o644)
	p, err := decode(t, `{"key":"`+key+`","files":["a.bin"],"verifyKeys":["`+other+`.pub"],"images":["127.0.0.1:1/never:1"],"formats":["cosign"]}`)
	if err != nil {
		t.Fatal(err)
	}
	out := Run(context.Background(), p, RunOptions{PasswordEnv: "RG_TEST_PASSWORD", Helper: "sign-artifacts", ResultFile: "r.json"})
	if out.Failed != "blobVerify" || result.ClassOf(out.Err).ExitCode() != result.ExitRejected || !strings.HasPrefix(out.Message(), "blob verify: ") {
		t.Fatalf("failed %q: %v", out.Failed, out.Err)
	}
	if _, ran := out.Results["imageSign"]; ran || out.Combined["status"] != "rejected" || out.Combined["exit_code"] != 1 {
		t.Fatalf("ran on after the failure: %v", out.Combined)
	}
	nothing, _ := decode(t, `{"key":"`+key+`","files":["build/*.tar.gz"]}`)
	if out := Run(context.Background(), nothing, RunOptions{PasswordEnv: "RG_TEST_PASSWORD", ResultFile: "r.json"}); out.Err == nil ||
		!strings.HasPrefix(out.Err.Error(), `files: glob "build/*.tar.gz" matched no files`) || result.ClassOf(out.Err) != result.ClassInput {
		t.Fatalf("a glob that matches nothing: %v", out.Err)
	}
	bad := Run(context.Background(), p, RunOptions{PasswordEnv: "RG_NO_SUCH_PASSWORD_ENV", Helper: "sign-artifacts", ResultFile: "r.json"})
	if bad.Failed != "blobSign" || result.ClassOf(bad.Err).ExitCode() != result.ExitInput || !strings.Contains(bad.Err.Error(), "no key password: set passwordCredentialsId") {
		t.Fatalf("a missing password: failed %q: %v", bad.Failed, bad.Err)
	}
}

func TestRunSignsAnImageByDigest(t *testing.T) {
	dir := t.TempDir()
	chdir(t, dir)
	key := fileKey(t, dir)
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	d := registrytest.PushRandom(t, registry.New(registry.Options{PlainHTTP: true}), host+"/orders:1.4.0")
	p, err := decode(t, `{"key":"`+key+`","images":["`+host+`/orders:1.4.0"],"formats":["cosign"],"plainHttp":true}`)
	if err != nil {
		t.Fatal(err)
	}
	out := Run(context.Background(), p, RunOptions{PasswordEnv: "RG_TEST_PASSWORD", Helper: "sign-artifacts", ResultFile: "r.json"})
	if out.Err != nil {
		t.Fatal(out.Err)
	}
	it := out.Results["imageSign"].Items[0]
	if it.Details["digest"] != d.String() || it.Status != result.StatusPassed {
		t.Fatalf("image item %+v, want digest %s", it, d)
	}
}
