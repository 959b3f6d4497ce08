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
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	"github.com/google/go-containerregistry/pkg/v1/random"
	"github.com/google/go-containerregistry/pkg/v1/remote"

	"github.com/release-gates/release-gates/helpers/internal/app"
	"github.com/release-gates/release-gates/helpers/internal/hsm/softhsmtest"
	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/peertest"
	"github.com/release-gates/release-gates/helpers/internal/registry"
	"github.com/release-gates/release-gates/helpers/internal/registry/registrytest"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/testing/downaddr"
)

const imgPassword = "image-cli-test"

// imgRun drives sign-artifacts in-process and returns the exit code, the result file and stderr.
func imgRun(t *testing.T, args ...string) (int, result.Result, string) {
	t.Helper()
	rf := filepath.Join(t.TempDir(), "result.json")
	var out, errb bytes.Buffer
	// Flags go before the IMAGE arguments: insert --result-file right after the verb.
	full := append([]string{"sign-artifacts", args[0], args[1], "--result-file", rf}, args[2:]...)
	code := app.Run(context.Background(), newApp(), full, &out, &errb)
	b, err := os.ReadFile(rf)
	if err != nil {
		t.Fatalf("no result file (exit %d, stderr %s): %v", code, errb.String(), err)
	}
	var r result.Result
	if err := json.Unmarshal(b, &r); err != nil {
		t.Fatal(err)
	}
	if r.ExitCode != code {
		t.Fatalf("result exit code %d != process exit code %d", r.ExitCode, code)
	}
	return code, r, errb.String()
}

// imgPush pushes a random image to ref on a plain-HTTP registry and returns repo@digest.
func imgPush(t *testing.T, ref string) string {
	t.Helper()
	img, err := random.Image(1024, 2)
	if err != nil {
		t.Fatal(err)
	}
	r, err := name.ParseReference(ref, name.Insecure)
	if err != nil {
		t.Fatal(err)
	}
	rc := registry.New(registry.Options{PlainHTTP: true, Username: os.Getenv(registry.UsernameEnv), Password: os.Getenv(registry.PasswordEnv)})
	if err := remote.Write(r, img, rc.RemoteOptions(context.Background())...); err != nil {
		t.Fatalf("pushing %s: %v", ref, err)
	}
	d, _ := img.Digest()
	return r.Context().Digest(d.String()).String()
}

// imgPKI is a file signing key with a notation-ready chain, plus a trust store and policy that trust it.
type imgPKI struct {
	dir, key, pub, passFile, chain, policy, store string
	ca                                            *keys.CA
}

func imgNewPKI(t *testing.T) imgPKI {
	t.Helper()
	dir := t.TempDir()
	p := imgPKI{dir: dir, key: filepath.Join(dir, "cosign.key"), pub: filepath.Join(dir, "cosign.pub"), passFile: filepath.Join(dir, "pass"), chain: filepath.Join(dir, "chain.pem")}
	k, err := keys.GenerateFile(filepath.Join(dir, "cosign"), []byte(imgPassword))
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p.passFile, []byte(imgPassword+"\n"), 0o600)
	p.ca, err = keys.NewCA("CN=release-gates image test,O=release-gates,C=US", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := p.ca.IssueCodeSigning(k.Public(), "CN=release-gates image signer,O=release-gates,C=US", 12*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(p.chain, keys.EncodeCerts(leaf, p.ca.Cert), 0o644)
	p.policy, p.store = imgTrust(t, "rg", keys.EncodeCerts(p.ca.Cert))
	return p
}

// imgTrust writes a notation trust store (x509/ca/<name>/ca.pem) and a policy trusting it for every scope.
func imgTrust(t *testing.T, storeName string, caPEM []byte) (policy, store string) {
	t.Helper()
	dir := t.TempDir()
	store = filepath.Join(dir, "truststore")
	os.MkdirAll(filepath.Join(store, "x509", "ca", storeName), 0o755)
	os.WriteFile(filepath.Join(store, "x509", "ca", storeName, "ca.pem"), caPEM, 0o644)
	policy = filepath.Join(dir, "trustpolicy.json")
	os.WriteFile(policy, []byte(`{"version":"1.0","trustPolicies":[{"name":"rg","registryScopes":["*"],"signatureVerification":{"level":"strict","override":{"revocation":"skip"}},"trustStores":["ca:`+storeName+`"],"trustedIdentities":["*"]}]}`), 0o644)
	return policy, store
}

// imgPeer runs a stock CLI with a private HOME/XDG config so it sees only this test's trust material.
func imgPeer(t *testing.T, home string, env []string, tool string, args ...string) (string, error) {
	t.Helper()
	cmd := exec.Command(peertest.Tool(t, tool), args...)
	cmd.Env = append(os.Environ(), append([]string{"HOME=" + home, "XDG_CONFIG_HOME=" + filepath.Join(home, ".config"), "TUF_ROOT=" + filepath.Join(home, "tuf"), "DOCKER_CONFIG=" + filepath.Join(home, ".docker")}, env...)...)
	out, err := cmd.CombinedOutput()
	return string(out), err
}

// imgNotationTrusts installs caPEM and a permissive policy into notation's config under home.
func imgNotationTrusts(t *testing.T, home string, caPEM []byte) {
	t.Helper()
	ca := filepath.Join(t.TempDir(), "ca.pem")
	os.WriteFile(ca, caPEM, 0o644)
	if out, err := imgPeer(t, home, nil, "notation", "cert", "add", "--type", "ca", "--store", "rg", ca); err != nil {
		t.Fatalf("notation cert add: %v: %s", err, out)
	}
	policy, _ := imgTrust(t, "rg", caPEM)
	if out, err := imgPeer(t, home, nil, "notation", "policy", "import", "--force", policy); err != nil {
		t.Fatalf("notation policy import: %v: %s", err, out)
	}
}

func TestImageSignWritesBothSignaturesThatStockCosignAndNotationVerify(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	p := imgNewPKI(t)
	refs := []string{reg.Host + "/svc/api:v1", reg.Host + "/svc/worker:v1"}
	digests := []string{imgPush(t, refs[0]), imgPush(t, refs[1])}
	for _, format := range []string{"jws", "cose"} {
		t.Run(format, func(t *testing.T) {
			code, r, stderr := imgRun(t, "image", "sign", "--key", p.key, "--password-file", p.passFile, "--cert-chain", p.chain,
				"--notation-format", format, "--plain-http", refs[0], refs[1])
			if code != 0 {
				t.Fatalf("image sign: exit %d: %s\n%s", code, r.Message, stderr)
			}
			if r.Verb != "image sign" || len(r.Items) != 2 {
				t.Fatalf("result: %+v", r)
			}
			for _, it := range r.Items {
				cs, _ := it.Details["cosign"].(map[string]any)
				ns, _ := it.Details["notation"].(map[string]any)
				if it.Status != "passed" || cs["verified"] != true || ns["verified"] != true || !strings.Contains(it.Details["digest"].(string), "@sha256:") {
					t.Fatalf("item: %+v", it)
				}
			}
			if strings.Contains(stderr, imgPassword) {
				t.Fatal("the key password reached stderr")
			}
			home := t.TempDir()
			imgNotationTrusts(t, home, keys.EncodeCerts(p.ca.Cert))
			for _, d := range digests {
				if out, err := imgPeer(t, home, nil, "cosign", "verify", "--key", p.pub, "--insecure-ignore-tlog=true", "--allow-http-registry", d); err != nil {
					t.Fatalf("cosign verify %s: %v\n%s", d, err, out)
				}
				if out, err := imgPeer(t, home, nil, "notation", "verify", "--insecure-registry", d); err != nil {
					t.Fatalf("notation verify %s: %v\n%s", d, err, out)
				}
			}
			code, r, stderr = imgRun(t, "image", "verify", "--key", p.pub, "--trust-policy", p.policy, "--trust-store", p.store, "--plain-http", digests[0], refs[1])
			if code != 0 {
				t.Fatalf("image verify: exit %d: %s\n%s", code, r.Message, stderr)
			}
		})
	}
}

func TestImageVerifyAcceptsSignaturesMadeByStockCosignAndNotation(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	p := imgNewPKI(t)
	d := imgPush(t, reg.Host+"/peer/app:v1")
	home := t.TempDir()
	if out, err := imgPeer(t, home, []string{"COSIGN_PASSWORD=" + imgPassword}, "cosign", "sign", "--key", p.key, "--tlog-upload=false", "--allow-http-registry", "-y", d); err != nil {
		t.Fatalf("cosign sign: %v\n%s", err, out)
	}
	if out, err := imgPeer(t, home, nil, "notation", "cert", "generate-test", "--default", "rgpeer"); err != nil {
		t.Fatalf("notation cert generate-test: %v\n%s", err, out)
	}
	if out, err := imgPeer(t, home, nil, "notation", "sign", "--insecure-registry", "--key", "rgpeer", d); err != nil {
		t.Fatalf("notation sign: %v\n%s", err, out)
	}
	notationStore := filepath.Join(home, ".config", "notation", "truststore")
	policy, _ := imgTrust(t, "rgpeer", nil)
	code, r, stderr := imgRun(t, "image", "verify", "--key", p.pub, "--trust-policy", policy, "--trust-store", notationStore, "--plain-http", d)
	if code != 0 {
		t.Fatalf("image verify of peer signatures: exit %d: %s\n%s", code, r.Message, stderr)
	}
	// A notation config dir (holding truststore/) works as --trust-store too.
	code, r, _ = imgRun(t, "image", "verify", "--format", "notation", "--trust-policy", policy, "--trust-store", filepath.Dir(notationStore), "--plain-http", d)
	if code != 0 {
		t.Fatalf("image verify with a notation config dir: exit %d: %s", code, r.Message)
	}
}

func TestImageSignWithAnHSMKeyMakesSignaturesStockCLIsVerify(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	tok := softhsmtest.Shared(t)
	t.Setenv(keys.PINEnv, tok.PIN)
	uri := tok.URI("image-signer", []byte{0x71})
	ref, err := keys.ParseRef(uri)
	if err != nil {
		t.Fatal(err)
	}
	k, err := keys.GeneratePKCS11(context.Background(), ref, keys.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	pubPEM, err := k.PublicPEM()
	if err != nil {
		t.Fatal(err)
	}
	ca, err := keys.NewCA("CN=release-gates hsm test,O=release-gates,C=US", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.IssueCodeSigning(k.Public(), "CN=release-gates hsm signer,O=release-gates,C=US", 12*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	k.Close()
	dir := t.TempDir()
	pub, chain, pinFile := filepath.Join(dir, "hsm.pub"), filepath.Join(dir, "chain.pem"), filepath.Join(dir, "pin")
	os.WriteFile(pub, pubPEM, 0o644)
	os.WriteFile(chain, keys.EncodeCerts(leaf, ca.Cert), 0o644)
	os.WriteFile(pinFile, []byte(tok.PIN), 0o600)
	t.Setenv(keys.PINEnv, "")

	d := imgPush(t, reg.Host+"/hsm/app:v1")
	for _, format := range []string{"jws", "cose"} {
		code, r, stderr := imgRun(t, "image", "sign", "--key", uri, "--pin-file", pinFile, "--cert-chain", chain, "--notation-format", format, "--plain-http", reg.Host+"/hsm/app:v1")
		if code != 0 {
			t.Fatalf("image sign with HSM key (%s): exit %d: %s\n%s", format, code, r.Message, stderr)
		}
		if strings.Contains(stderr, tok.PIN) {
			t.Fatal("the PIN reached stderr")
		}
	}
	home := t.TempDir()
	imgNotationTrusts(t, home, keys.EncodeCerts(ca.Cert))
	if out, err := imgPeer(t, home, nil, "cosign", "verify", "--key", pub, "--insecure-ignore-tlog=true", "--allow-http-registry", d); err != nil {
		t.Fatalf("cosign verify of the HSM signature: %v\n%s", err, out)
	}
	if out, err := imgPeer(t, home, nil, "notation", "verify", "--insecure-registry", d); err != nil {
		t.Fatalf("notation verify of the HSM signature: %v\n%s", err, out)
	}
	if out, err := imgPeer(t, home, nil, "notation", "list", "--insecure-registry", d); err != nil || strings.Count(out, "── sha256:") != 2 {
		t.Fatalf("want a JWS and a COSE signature: %v\n%s", err, out)
	}
}

func TestImageCommandsFailWithTheRightExitCodeAndAlwaysWriteTheResult(t *testing.T) {
	reg := registrytest.Start(t, registrytest.Options{})
	authReg := registrytest.Start(t, registrytest.Options{Username: "ci", Password: "reg-pass"})
	p := imgNewPKI(t)
	d := imgPush(t, reg.Host+"/app:v1")
	cosignOnly := imgPush(t, reg.Host+"/app:cosign-only")
	t.Setenv(registry.UsernameEnv, "ci")
	t.Setenv(registry.PasswordEnv, "reg-pass")
	imgPush(t, authReg.Host+"/app:v1")
	t.Setenv(registry.UsernameEnv, "")
	t.Setenv(registry.PasswordEnv, "")
	if code, r, _ := imgRun(t, "image", "sign", "--key", p.key, "--password-file", p.passFile, "--format", "cosign", "--plain-http", cosignOnly); code != 0 {
		t.Fatalf("signing the cosign-only image: %s", r.Message)
	}
	down := downaddr.New(t)

	sign := []string{"image", "sign", "--key", p.key, "--password-file", p.passFile, "--cert-chain", p.chain, "--plain-http"}
	verify := []string{"image", "verify", "--key", p.pub, "--trust-policy", p.policy, "--trust-store", p.store, "--plain-http"}
	cases := []struct {
		name    string
		env     []string
		args    []string
		code    int
		class   result.Class
		mention string
	}{
		{"an unknown --format value", nil, append(append([]string{}, sign...), "--format", "gpg", d), 2, result.ClassInput, "--format"},
		{"an unknown --notation-format value", nil, append(append([]string{}, sign...), "--notation-format", "pgp", d), 2, result.ClassInput, "--notation-format"},
		{"an unknown image", nil, append(append([]string{}, sign...), reg.Host+"/app:nope"), 2, result.ClassInput, "not found"},
		{"a tag that moved away from the pinned digest", nil, append(append([]string{}, sign...), reg.Host+"/app:v1@sha256:"+strings.Repeat("2", 64)), 1, result.ClassTamper, "moved"},
		{"a tag that moved away from --expect-digest", nil, append(append([]string{}, sign...), "--expect-digest", "sha256:"+strings.Repeat("3", 64), reg.Host+"/app:v1"), 1, result.ClassTamper, "moved"},
		{"a registry that is down", nil, append(append([]string{}, sign...), down+"/app:v1"), 3, result.ClassUnavailable, "unavailable"},
		{"plain HTTP without --plain-http", nil, []string{"image", "sign", "--key", p.key, "--password-file", p.passFile, "--cert-chain", p.chain, d}, 2, result.ClassConfig, "--plain-http"},
		{"a wrong registry password", []string{"ci", "wrong"}, append(append([]string{}, sign...), authReg.Host+"/app:v1"), 2, result.ClassAuth, "REGISTRY_USERNAME"},
		{"a wrong key password", nil, []string{"image", "sign", "--key", p.key, "--password-file", p.chain, "--plain-http", d}, 2, result.ClassAuth, ""},
		{"notation without a certificate chain", nil, []string{"image", "sign", "--key", p.key, "--password-file", p.passFile, "--plain-http", d}, 2, result.ClassInput, "--cert-chain"},
		{"a missing notation signature", nil, append(append([]string{}, verify...), cosignOnly), 1, result.ClassTamper, "notation: no signature"},
		{"an unsigned image", nil, append(append([]string{}, verify...), d), 1, result.ClassTamper, "cosign: no signature"},
		{"a flag after the images", nil, []string{"image", "verify", "--key", p.pub, d, "--plain-http"}, 2, result.ClassInput, "before the images"},
		{"verify without trust policy", nil, []string{"image", "verify", "--key", p.pub, "--plain-http", d}, 2, result.ClassInput, "--trust-policy"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if tc.env != nil {
				t.Setenv(registry.UsernameEnv, tc.env[0])
				t.Setenv(registry.PasswordEnv, tc.env[1])
			}
			code, r, stderr := imgRun(t, tc.args...)
			if code != tc.code || r.FailureClass != tc.class {
				t.Fatalf("exit %d class %q, want %d %q: %s\n%s", code, r.FailureClass, tc.code, tc.class, r.Message, stderr)
			}
			if !strings.Contains(r.Message, tc.mention) || strings.Contains(r.Message, "\n") {
				t.Fatalf("message %q should be one line mentioning %q", r.Message, tc.mention)
			}
			if strings.Contains(r.Message+stderr, "reg-pass") || strings.Contains(r.Message+stderr, imgPassword) {
				t.Fatal("a secret leaked into the message or stderr")
			}
		})
	}
}
