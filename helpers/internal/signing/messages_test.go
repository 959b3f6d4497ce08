package signing

import (
	"context"
	"io"
	"log"
	"net/http/httptest"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	ggcrregistry "github.com/google/go-containerregistry/pkg/registry"

	"github.com/release-gates/release-gates/helpers/internal/gobin/gobintest"
	"github.com/release-gates/release-gates/helpers/internal/hsm/softhsmtest"
	"github.com/release-gates/release-gates/helpers/internal/image"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/params"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/vocab"
)

// helperFlag matches a helper flag such as --allow-dirty: a step's errors must never name one.
var helperFlag = regexp.MustCompile(`(^|[\s(,'"])--[a-z]`)

// runDoc runs the step as sign-artifacts run does: the runner's params document, decoded and validated, then Run;
// it returns the error the step fails with.
func runDoc(t *testing.T, doc string) error {
	t.Helper()
	d, err := params.Parse([]byte(doc))
	if err != nil {
		t.Fatal(err)
	}
	var p Params
	if err := d.Decode(&p); err != nil {
		return err
	}
	out := Run(context.Background(), &p, RunOptions{KeyFile: d.Secret("key"), PasswordEnv: d.SecretEnv("password"), PINEnv: d.SecretEnv("pin"),
		Helper: "sign-artifacts", ResultFile: filepath.Join(t.TempDir(), "signArtifacts.json")})
	if out.Err == nil {
		t.Fatal("the step passed")
	}
	return out.Err
}

func TestStepErrorsNameTheJenkinsfileKeyAndValueNeverAFlagOrASecret(t *testing.T) {
	dir := t.TempDir()
	chdir(t, dir)
	key := fileKey(t, dir)
	t.Setenv("RG_TEST_SIGNING_KEY", key)
	dirty, err := gobintest.Build(dir, "linux", "amd64", true)
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range []string{"a/x.bin", "b/x.bin", "SHA256SUMS"} {
		if err := os.MkdirAll(filepath.Dir(f), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(f, []byte("content of "+f), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	const wrongPassword, wrongPIN, pinInURI = "Wr0ngPassw0rd-qZx", "Wr0ngPIN-vYk", "Sekr1tPinInUri-wQ"
	t.Setenv("RG_TEST_WRONG_PASSWORD", wrongPassword)
	t.Setenv("RG_TEST_WRONG_PIN", wrongPIN)
	t.Setenv("RG_TEST_UNSET_PASSWORD", "x")
	os.Unsetenv("RG_TEST_UNSET_PASSWORD") // t.Setenv restores it; the step sees no password at all
	fileKeyDoc := func(params string, secrets string) string {
		return `{"step":"signArtifacts","params":{"keyCredentialsId":"cosign-key",` + params + `},"context":{},` +
			`"secrets":{"key":"RG_TEST_SIGNING_KEY",` + secrets + `}}`
	}
	pw := `"password":"RG_TEST_PASSWORD"`
	cases := []struct {
		name  string
		doc   string
		exit  int
		wants []string
	}{
		{"a dirty Go binary", fileKeyDoc(`"files":["`+dirty+`"]`, pw), 1,
			[]string{"built from a dirty tree", "sign it anyway with allowDirty: true"}},
		{"a Go binary for another platform", fileKeyDoc(`"files":["`+dirty+`"],"expectPlatform":"linux/arm64"`, pw), 1,
			[]string{"built for linux/amd64", "expectPlatform: 'linux/arm64'"}},
		{"two files signed to one path by outDir", fileKeyDoc(`"files":["a/x.bin","b/x.bin"],"outDir":"sigs"`, pw), 2,
			[]string{"would both be signed to sigs/x.bin.sig", "drop outDir: 'sigs'"}},
		{"the checksums file among the files", fileKeyDoc(`"files":["SHA256SUMS","a/x.bin"],"checksums":"SHA256SUMS"`, pw), 2,
			[]string{"SHA256SUMS is both an input and the checksums file (checksums: 'SHA256SUMS')"}},
		{"a wrong key password", fileKeyDoc(`"files":["a/x.bin"],"passwordCredentialsId":"cosign-pw"`, `"password":"RG_TEST_WRONG_PASSWORD"`), 2,
			[]string{"wrong password", "passwordCredentialsId: 'cosign-pw'"}},
		{"no key password", fileKeyDoc(`"files":["a/x.bin"]`, `"password":"RG_TEST_UNSET_PASSWORD"`), 2,
			[]string{"no key password: set passwordCredentialsId"}},
		{"a key URI with a PIN and keyCredentialsId", fileKeyDoc(`"files":["a/x.bin"],"key":"pkcs11:token=t;object=o?pin-value=`+pinInURI+`"`, pw), 2,
			[]string{"a pin-value in the key URI is refused", "pinCredentialsId"}},
		{"key and keyCredentialsId", fileKeyDoc(`"files":["a/x.bin"],"key":"cosign.key"`, pw), 2,
			[]string{"key: 'cosign.key' and keyCredentialsId: 'cosign-key' are both set", "not both"}},
		{"keyring without environment", `{"step":"signArtifacts","params":{"keyring":"keys.yaml","files":["a/x.bin"]}}`, 2,
			[]string{"keyring: 'keys.yaml' is set without environment", "set keyring and environment together"}},
		{"key, keyCredentialsId and keyring", fileKeyDoc(`"files":["a/x.bin"],"key":"cosign.key","keyring":"keys.yaml","environment":"prod"`, pw), 2,
			[]string{"key: 'cosign.key' and keyCredentialsId: 'cosign-key' and keyring: 'keys.yaml' are all set"}},
		{"environment without keyring", fileKeyDoc(`"files":["a/x.bin"],"environment":"prod"`, pw), 2,
			[]string{"environment: 'prod' is set without keyring"}},
		{"keyringAuditLog without keyring", fileKeyDoc(`"files":["a/x.bin"],"keyringAuditLog":"fallback.jsonl"`, pw), 2,
			[]string{"keyringAuditLog: 'fallback.jsonl' applies only with keyring"}},
		{"file options without files", fileKeyDoc(`"images":["r.example/a:1"],"formats":["cosign"],"checksums":"SHA256SUMS","allowDirty":true`, pw), 2,
			[]string{"checksums: 'SHA256SUMS', allowDirty: true: ", "apply to files, and files is empty"}},
		{"image options without images", fileKeyDoc(`"files":["a/x.bin"],"plainHttp":true,"trustPolicy":"tp.json","trustStore":"ts"`, pw), 2,
			[]string{"plainHttp: true, trustPolicy: 'tp.json', trustStore: 'ts': ", "apply to images, and images is empty"}},
		{"trustPolicy without trustStore", fileKeyDoc(`"images":["r.example/a:1"],"formats":["cosign"],"trustPolicy":"tp.json"`, pw), 2,
			[]string{"trustPolicy: 'tp.json' is set without trustStore"}},
		{"trustStore without trustPolicy", fileKeyDoc(`"images":["r.example/a:1"],"formats":["cosign"],"trustStore":"ts"`, pw), 2,
			[]string{"trustStore: 'ts' is set without trustPolicy"}},
		{"timestampUrl without its root", fileKeyDoc(`"images":["r.example/a:1"],"certChain":"c.pem","timestampUrl":"https://tsa.example/tsr"`, pw), 2,
			[]string{"timestampUrl: 'https://tsa.example/tsr' is set without timestampRootCert"}},
		{"timestampRootCert without its url", fileKeyDoc(`"images":["r.example/a:1"],"certChain":"c.pem","timestampRootCert":"root.pem"`, pw), 2,
			[]string{"timestampRootCert: 'root.pem' is set without timestampUrl"}},
		{"timestampUrl without notation", fileKeyDoc(`"images":["r.example/a:1"],"formats":["cosign"],"timestampUrl":"https://tsa.example/tsr","timestampRootCert":"root.pem"`, pw), 2,
			[]string{"timestampUrl: 'https://tsa.example/tsr' applies to notation signatures", "formats: ['cosign'] has no 'notation'"}},
		{"timestampUrl without images", fileKeyDoc(`"files":["a/x.bin"],"timestampUrl":"https://tsa.example/tsr","timestampRootCert":"root.pem"`, pw), 2,
			[]string{"timestampUrl: 'https://tsa.example/tsr' applies to notation signatures", "images is empty"}},
		{"an empty verifyKeys entry", fileKeyDoc(`"files":["a/x.bin"],"verifyKeys":["release.pub"," "]`, pw), 2,
			[]string{"verifyKeys: ['release.pub', ' '] has an empty entry (number 2)"}},
		{"a verifyKeys entry with a PIN", fileKeyDoc(`"files":["a/x.bin"],"verifyKeys":["pkcs11:token=t;object=o?pin-value=`+pinInURI+`"]`, pw), 2,
			[]string{"verifyKeys entry number 1 has a pin-value"}},
		{"expectDigest with two images", fileKeyDoc(`"images":["r.example/a:1","r.example/b:1"],"formats":["cosign"],"expectDigest":"sha256:`+strings.Repeat("ab", 32)+`"`, pw), 2,
			[]string{"expectDigest: 'sha256:abab", "got 2"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			checkMessage(t, runDoc(t, c.doc), c.exit, c.wants, wrongPassword, wrongPIN, pinInURI)
		})
	}
}

// checkMessage asserts that err has the exit code, contains every want, names no helper flag and shows no secret.
func checkMessage(t *testing.T, err error, exit int, wants []string, secrets ...string) {
	t.Helper()
	msg := err.Error()
	for _, w := range wants {
		if !strings.Contains(msg, w) {
			t.Errorf("message lacks %q:\n%s", w, msg)
		}
	}
	if helperFlag.MatchString(msg) {
		t.Errorf("message names a helper flag:\n%s", msg)
	}
	for _, s := range secrets {
		if strings.Contains(msg, s) {
			t.Errorf("message shows a secret:\n%s", msg)
		}
	}
	if got := result.ClassOf(err).ExitCode(); got != exit {
		t.Errorf("exit %d (%s), want %d: %s", got, result.ClassOf(err), exit, msg)
	}
}

func TestStepWrongPINNamesPinCredentialsIdNotThePIN(t *testing.T) {
	tok := softhsmtest.Shared(t)
	dir := t.TempDir()
	chdir(t, dir)
	if err := os.WriteFile("a.bin", []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	const wrongPIN = "Wr0ngPIN-vYk"
	t.Setenv("RG_TEST_WRONG_PIN", wrongPIN)
	err := runDoc(t, `{"step":"signArtifacts","params":{"key":"`+tok.URI("signer", nil)+`","pinCredentialsId":"hsm-pin","files":["a.bin"]},`+
		`"context":{},"secrets":{"pin":"RG_TEST_WRONG_PIN"}}`)
	checkMessage(t, err, 2, []string{"wrong PIN (CKR_PIN_INCORRECT) from pinCredentialsId: 'hsm-pin'", "do not retry"}, wrongPIN, tok.PIN)
}

func TestSpellingNamesCredentialsByTheirEnvVars(t *testing.T) {
	p := &Params{PinCredentialsID: "hsm-pin"}
	sp := p.Spelling("RG_PIN", "")
	if got := sp.Spell("$RG_PIN", nil); got != "passwordCredentialsId" {
		t.Fatalf("password bound as RG_PIN: %q", got)
	}
	if got := sp.Spell("$"+keys.PINEnv, nil); got != "pinCredentialsId: 'hsm-pin'" {
		t.Fatalf("PIN: %q", got)
	}
}

func TestStepImageErrorsNameTheJenkinsfileKey(t *testing.T) {
	dir := t.TempDir()
	chdir(t, dir)
	key := fileKey(t, dir)
	srv := httptest.NewServer(ggcrregistry.New(ggcrregistry.Logger(log.New(io.Discard, "", 0))))
	t.Cleanup(srv.Close)
	host := strings.TrimPrefix(srv.URL, "http://")
	t.Setenv("RG_TEST_SIGNING_KEY", key)
	err := runDoc(t, `{"step":"signArtifacts","params":{"keyCredentialsId":"cosign-key","images":["`+host+`/orders:1.4.0"],"formats":["cosign"]},`+
		`"context":{},"secrets":{"key":"RG_TEST_SIGNING_KEY","password":"RG_TEST_PASSWORD"}}`)
	checkMessage(t, err, 2, []string{"speaks plain HTTP; set plainHttp: true if that is intended"})

	// keys.yaml may name a key without a chain; the step then asks for certChain, the CLI for --cert-chain.
	p := &Params{Formats: []string{"notation"}}
	k, err := ChooseKey(KeyOptions{Key: key})
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		sp   vocab.Spelling
		want string
	}{{p.Spelling("", ""), "give it with certChain"}, {nil, "give it with --cert-chain"}} {
		sp, want := c.sp, c.want
		err := SignImages(context.Background(), result.NewRecorder("h", "v", "image sign", ""), registry.New(registry.Options{PlainHTTP: true}), k,
			[]string{host + "/orders:1.4.0"}, ImageSignOptions{Formats: []image.Format{image.Notation}, NotationFormat: "jws", Load: keys.LoadOptions{PasswordEnv: "RG_TEST_PASSWORD"}, Spell: sp})
		if result.ClassOf(err) != result.ClassInput || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want %q", err, want)
		}
	}
}

func TestStepKeyringHealthCheckNamesPinCredentialsIdNotThePIN(t *testing.T) {
	tok := softhsmtest.Shared(t)
	dir := t.TempDir()
	chdir(t, dir)
	if _, err := keys.GenerateFile(filepath.Join(dir, "soft"), []byte("soft-pw")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile("a.bin", []byte("a"), 0o644); err != nil {
		t.Fatal(err)
	}
	now := time.Now().UTC()
	entry := func(id, backend string) string {
		return "  - id: " + id + "\n    backend: '" + backend + "'\n    publicKey: soft.pub\n    state: active\n    notBefore: " +
			now.Add(-time.Hour).Format(time.RFC3339) + "\n    notAfter: " + now.Add(48*time.Hour).Format(time.RFC3339) + "\n    rotation: {maxAge: 90d}\n"
	}
	doc := "version: 1\nenvironments:\n  prod:\n    current: hsm\n    fallback: soft\n    allowSoftwareFallback: false\nkeys:\n" +
		entry("hsm", tok.URI("signer", []byte{0x51})) + entry("soft", "soft.key")
	if err := os.WriteFile("keys.yaml", []byte(doc), 0o644); err != nil {
		t.Fatal(err)
	}
	const wrongPIN = "Wr0ngKeyringPIN-tGm"
	t.Setenv(keys.PINEnv, wrongPIN)
	err := runDoc(t, `{"step":"signArtifacts","params":{"keyring":"keys.yaml","environment":"prod","pinCredentialsId":"hsm-pin","files":["a.bin"]},`+
		`"context":{},"secrets":{"pin":"`+keys.PINEnv+`"}}`)
	checkMessage(t, err, 2, []string{"wrong PIN (CKR_PIN_INCORRECT) from pinCredentialsId: 'hsm-pin'"}, wrongPIN, tok.PIN)
}
