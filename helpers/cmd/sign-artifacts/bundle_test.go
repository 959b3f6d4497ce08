package main

import (
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/keys"
	"github.com/release-gates/release-gates/helpers/internal/registry/registrytest"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/tsa/tsatest"
)

// trustedRootOffline is an empty sigstore trusted root: stock cosign needs one to verify a v0.3 bundle offline.
func trustedRootOffline(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "trusted_root.json")
	os.WriteFile(p, []byte(`{"mediaType":"application/vnd.dev.sigstore.trustedroot+json;version=0.1"}`), 0o644)
	return p
}

func TestBundleFormatV03SignaturesAreFoundByStockCosignV2AndV3(t *testing.T) {
	p := imgNewPKI(t)
	home := t.TempDir()
	t.Run("blobs", func(t *testing.T) {
		dir, files := blobWriteFiles(t, "app.bin")
		code, r, stderr := blobRunCLI(t, "blob", "sign", "--key", p.key, "--password-file", p.passFile, "--bundle-format", "v0.3", files[0])
		if code != 0 {
			t.Fatalf("blob sign: exit %d %s %s", code, r.Message, stderr)
		}
		raw, _ := os.ReadFile(files[0] + ".bundle")
		if !strings.Contains(string(raw), "application/vnd.dev.sigstore.bundle.v0.3+json") {
			t.Fatalf("not a v0.3 bundle: %s", raw)
		}
		for _, tool := range []string{"cosign", "cosign3"} {
			args := []string{"verify-blob", "--key", p.pub, "--bundle", files[0] + ".bundle", "--insecure-ignore-tlog=true", "--trusted-root", trustedRootOffline(t)}
			if tool == "cosign" {
				args = append(args, "--new-bundle-format")
			}
			if out, err := imgPeer(t, home, nil, tool, append(args, files[0])...); err != nil {
				t.Fatalf("%s verify-blob: %v\n%s", tool, err, out)
			}
			// the detached .sig stays for verifiers that read signatures
			if out, err := imgPeer(t, home, nil, tool, "verify-blob", "--key", p.pub, "--signature", files[0]+".sig", "--insecure-ignore-tlog=true", files[0]); err != nil {
				t.Fatalf("%s verify-blob --signature: %v\n%s", tool, err, out)
			}
		}
		if code, r, _ := blobRunCLI(t, "blob", "verify", "--key", p.pub, "--bundle", files[0]); code != 0 {
			t.Fatalf("blob verify of our v0.3 bundle: exit %d %s", code, r.Message)
		}
		// cosign v3's own default output
		theirs := filepath.Join(dir, "theirs.bin")
		os.WriteFile(theirs, []byte("signed by cosign v3"), 0o644)
		if out, err := imgPeer(t, home, []string{"COSIGN_PASSWORD=" + imgPassword}, "cosign3", "sign-blob", "--key", p.key, "--bundle", theirs+".bundle",
			"--use-signing-config=false", "--tlog-upload=false", "-y", theirs); err != nil {
			t.Fatalf("cosign3 sign-blob: %v\n%s", err, out)
		}
		if code, r, _ := blobRunCLI(t, "blob", "verify", "--key", p.pub, "--bundle", theirs); code != 0 {
			t.Fatalf("blob verify of cosign v3's bundle: exit %d %s", code, r.Message)
		}
		os.WriteFile(theirs, []byte("changed"), 0o644)
		if code, r, _ := blobRunCLI(t, "blob", "verify", "--key", p.pub, "--bundle", theirs); code != result.ExitRejected || r.FailureClass != result.ClassTamper {
			t.Fatalf("a changed blob: exit %d %s %s", code, r.FailureClass, r.Message)
		}
	})
	t.Run("images", func(t *testing.T) {
		reg := registrytest.Start(t, registrytest.Options{})
		ours := imgPush(t, reg.Host+"/bundle/ours:v1")
		code, r, stderr := imgRun(t, "image", "sign", "--key", p.key, "--password-file", p.passFile, "--cert-chain", p.chain, "--plain-http",
			"--bundle-format", "v0.3", ours)
		if code != 0 {
			t.Fatalf("image sign: exit %d %s\n%s", code, r.Message, stderr)
		}
		if _, ok := r.Items[0].Details["cosign_bundle"]; !ok {
			t.Fatalf("no cosign_bundle in the result: %+v", r.Items[0].Details)
		}
		for _, tool := range []string{"cosign", "cosign3"} {
			args := []string{"verify", "--key", p.pub, "--insecure-ignore-tlog=true", "--allow-http-registry", "--trusted-root", trustedRootOffline(t)}
			if out, err := imgPeer(t, home, nil, tool, append(args, ours)...); err != nil {
				t.Fatalf("%s verify: %v\n%s", tool, err, out)
			}
		}
		theirs := imgPush(t, reg.Host+"/bundle/theirs:v1")
		if out, err := imgPeer(t, home, []string{"COSIGN_PASSWORD=" + imgPassword}, "cosign3", "sign", "--key", p.key, "--use-signing-config=false",
			"--tlog-upload=false", "--allow-http-registry", "-y", theirs); err != nil {
			t.Fatalf("cosign3 sign: %v\n%s", err, out)
		}
		if code, r, _ := imgRun(t, "image", "verify", "--format", "cosign", "--key", p.pub, "--plain-http", theirs); code != 0 {
			t.Fatalf("image verify of cosign v3's default output: exit %d %s", code, r.Message)
		}
		other := imgNewPKI(t)
		if code, r, _ := imgRun(t, "image", "verify", "--format", "cosign", "--key", other.pub, "--plain-http", theirs); code != result.ExitRejected {
			t.Fatalf("another key: exit %d %s", code, r.Message)
		}
	})
	t.Run("a bad bundleFormat is bad input", func(t *testing.T) {
		_, files := blobWriteFiles(t, "x.bin")
		if code, r, _ := blobRunCLI(t, "blob", "sign", "--key", p.key, "--password-file", p.passFile, "--bundle-format", "v9", files[0]); code != result.ExitInput || !strings.Contains(r.Message, "bundleFormat") {
			t.Fatalf("exit %d %s", code, r.Message)
		}
	})
}

// TestABuildWithoutBundleSupportReportsAV03BundleAsUnsupported builds sign-artifacts with the nobundle tag, as a
// release without bundle support is, and checks that cosign v3's default output is exit 2 (unsupported), not 1.
func TestABuildWithoutBundleSupportReportsAV03BundleAsUnsupported(t *testing.T) {
	if testing.Short() {
		t.Skip("builds the helper")
	}
	bin := filepath.Join(t.TempDir(), "sign-artifacts")
	build := exec.Command("go", "build", "-tags", "nobundle", "-o", bin, ".")
	build.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("go build -tags nobundle: %v\n%s", err, out)
	}
	p := imgNewPKI(t)
	_, files := blobWriteFiles(t, "app.bin")
	if code, r, _ := blobRunCLI(t, "blob", "sign", "--key", p.key, "--password-file", p.passFile, "--bundle-format", "v0.3", files[0]); code != 0 {
		t.Fatalf("blob sign: %s", r.Message)
	}
	rf := filepath.Join(t.TempDir(), "result.json")
	cmd := exec.Command(bin, "blob", "verify", "--result-file", rf, "--key", p.pub, "--bundle", files[0])
	out, _ := cmd.CombinedOutput()
	var r result.Result
	b, _ := os.ReadFile(rf)
	json.Unmarshal(b, &r)
	if cmd.ProcessState.ExitCode() != result.ExitInput || r.FailureClass != result.ClassInput || !strings.Contains(r.Message, "nobundle") {
		t.Fatalf("exit %d class %s: %s\n%s", cmd.ProcessState.ExitCode(), r.FailureClass, r.Message, out)
	}
}

func TestImageSignWithATimestampURLGivesNotationSignaturesARFC3161Timestamp(t *testing.T) {
	ts := tsatest.Start(t)
	p := imgNewPKI(t)
	reg := registrytest.Start(t, registrytest.Options{})
	d := imgPush(t, reg.Host+"/tsa/app:v1")
	plain := imgPush(t, reg.Host+"/tsa/plain:v1")
	base := []string{"image", "sign", "--format", "notation", "--key", p.key, "--password-file", p.passFile, "--cert-chain", p.chain, "--plain-http"}
	if code, r, stderr := imgRun(t, append(append(base, "--timestamp-url", ts.URL, "--timestamp-root-cert", ts.RootFile), d)...); code != 0 {
		t.Fatalf("image sign --timestamp-url: exit %d %s\n%s", code, r.Message, stderr)
	}
	if code, r, _ := imgRun(t, append(base, plain)...); code != 0 {
		t.Fatalf("image sign: exit %d %s", code, r.Message)
	}
	// A policy that always requires a timestamp (verifyTimestamp "always" with a tsa trust store) tells them apart.
	dir := t.TempDir()
	store := filepath.Join(dir, "truststore")
	os.MkdirAll(filepath.Join(store, "x509", "ca", "rg"), 0o755)
	os.MkdirAll(filepath.Join(store, "x509", "tsa", "tsa"), 0o755)
	os.WriteFile(filepath.Join(store, "x509", "ca", "rg", "ca.pem"), keys.EncodeCerts(p.ca.Cert), 0o644)
	root, _ := os.ReadFile(ts.RootFile)
	os.WriteFile(filepath.Join(store, "x509", "tsa", "tsa", "root.pem"), root, 0o644)
	policy := filepath.Join(dir, "trustpolicy.json")
	os.WriteFile(policy, []byte(`{"version":"1.0","trustPolicies":[{"name":"rg","registryScopes":["*"],"signatureVerification":{"level":"strict","override":{"revocation":"skip"},"verifyTimestamp":"always"},"trustStores":["ca:rg","tsa:tsa"],"trustedIdentities":["*"]}]}`), 0o644)
	verify := []string{"image", "verify", "--format", "notation", "--trust-policy", policy, "--trust-store", store, "--plain-http"}
	if code, r, _ := imgRun(t, append(verify, d)...); code != 0 {
		t.Fatalf("the timestamped signature: exit %d %s", code, r.Message)
	}
	if code, r, _ := imgRun(t, append(verify, plain)...); code != result.ExitRejected || !strings.Contains(r.Message, "timestamp") {
		t.Fatalf("the signature without a timestamp: exit %d %s", code, r.Message)
	}
	t.Run("a timestamp URL without its root certificate is bad input", func(t *testing.T) {
		code, r, _ := imgRun(t, append(append(base, "--timestamp-url", ts.URL), d)...)
		if code != result.ExitInput || !strings.Contains(r.Message, "timestampRootCert") {
			t.Fatalf("exit %d %s", code, r.Message)
		}
	})
}
