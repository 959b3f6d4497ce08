package report

import (
	"bytes"
	"context"
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"errors"
	"image/png"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/ledger"
	"github.com/release-gates/release-gates/helpers/internal/peertest"
)

const digest = "registry.example/orders@sha256:4b825dc642cb6eb9a060e54bf8d69288fbee4904aaaaaaaaaaaaaaaaaaaaaaaa"

// sampleChain writes a release's ledger: gates, signing, approvals, attestations and the verified release.
func sampleChain(t *testing.T) (string, ledger.Report) {
	t.Helper()
	k, _ := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	path := filepath.Join(t.TempDir(), "audit.jsonl")
	at := time.Date(2026, 1, 2, 10, 0, 0, 0, time.UTC)
	items := func(xs ...map[string]any) []any {
		out := []any{}
		for _, x := range xs {
			out = append(out, x)
		}
		return out
	}
	bodies := []ledger.Body{
		{Time: at, Kind: ledger.KindGate, Source: "go-build-gate run", Status: "passed", Data: map[string]any{"duration_ms": 4200, "items": items(
			map[string]any{"name": "modverify", "status": "passed"}, map[string]any{"name": "apidiff", "status": "passed", "message": "2 compatible changes"},
			map[string]any{"name": "smoke", "status": "passed"})}},
		// As ledger.FromResult records a sign-artifacts image sign result: formats in details, the key id at the top.
		{Time: at.Add(time.Minute), Kind: ledger.KindSign, Source: "sign-artifacts image sign", Status: "passed", Data: map[string]any{"duration_ms": 800,
			"data": map[string]any{"key_id": "3f1c9a0b7d2e4f65"}, "items": items(
				map[string]any{"name": "registry.example/orders:1.4.0", "kind": "image", "digest": digest, "details": map[string]any{
					"cosign": map[string]any{"location": "registry.example/orders:sha256-4b82.sig"}, "notation": map[string]any{"media_type": "application/jose+json"}}})}},
		{Time: at.Add(time.Minute), Kind: ledger.KindSign, Source: "sign-artifacts blob sign", Status: "passed", Data: map[string]any{"duration_ms": 300, "items": items(
			map[string]any{"name": "dist/orders", "kind": "blob", "sha256": strings.Repeat("e", 64), "key_id": "3f1c9a0b7d2e4f65", "signature": "dist/orders.sig"})}},
		{Time: at.Add(2 * time.Minute), Kind: ledger.KindAttestation, Source: "release-evidence attest provenance", Status: "passed", Subject: digest,
			Data: map[string]any{"predicate_type": "https://slsa.dev/provenance/v1", "key_id": "aa11bb22cc33dd44", "location": "sha256-4b82.att", "builder": "https://jenkins.example/job/orders/7/"}},
		{Time: at.Add(3 * time.Minute), Kind: ledger.KindApproval, Source: "slack-approval audit", Status: "request", Environment: "prod", Data: map[string]any{"event": "request", "by": "ci"}},
		{Time: at.Add(4 * time.Minute), Kind: ledger.KindApproval, Source: "slack-approval audit", Status: "approved", Environment: "prod", Data: map[string]any{"event": "approved", "user": "alice <script>alert(1)</script>"}},
		{Time: at.Add(5 * time.Minute), Kind: ledger.KindApproval, Source: "slack-approval audit", Status: "approved", Environment: "prod", Data: map[string]any{"event": "approved", "user": "bob"}},
		{Time: at.Add(6 * time.Minute), Kind: ledger.KindAttestation, Source: "release-evidence attest approval", Status: "passed", Subject: digest, Environment: "prod",
			Data: map[string]any{"predicate_type": "https://release-gates.dev/approval/v1", "key_id": "aa11bb22cc33dd44", "location": "sha256-4b82.att"}},
		{Time: at.Add(7 * time.Minute), Kind: ledger.KindRelease, Source: "release-evidence verify", Status: "verified", Environment: "prod", Subject: digest},
	}
	for i := range bodies {
		bodies[i].TraceID = "rg-demo"
	}
	if _, err := ledger.Append(path, k, bodies...); err != nil {
		t.Fatal(err)
	}
	rep, err := ledger.Verify(path, ledger.VerifyOptions{Keys: []crypto.PublicKey{k.Public()}})
	if err != nil {
		t.Fatal(err)
	}
	return path, rep
}

func TestTheHTMLReportIsSelfContainedShowsEverySectionAndEscapesInput(t *testing.T) {
	path, rep := sampleChain(t)
	m := Build("orders 1.4.0", path, rep, nil, time.Date(2026, 1, 2, 11, 0, 0, 0, time.UTC))
	var b bytes.Buffer
	if err := HTML(&b, m); err != nil {
		t.Fatal(err)
	}
	h := b.String()
	for _, want := range []string{"Evidence chain", "<svg", "Gates and checks", "apidiff", "3f1c9a0b7d2e4f65", digest, "Approvals", "bob",
		"sha256-4b82.sig", "notation jose", "dist/orders.sig", "sha256:eeee",
		"Timeline", "rg-demo", "chain verified", "Verified release", "&lt;script&gt;"} {
		if !strings.Contains(h, want) {
			t.Errorf("report lacks %q", want)
		}
	}
	if strings.Contains(h, "<script>") {
		t.Error("report carries an unescaped <script>")
	}
	if ext := regexp.MustCompile(`(?i)(src|href)\s*=|@import|url\((?:[^#)])`).FindString(h); ext != "" {
		t.Errorf("report loads an external resource: %q", ext)
	}
}

func TestTheReportOfATamperedChainSaysSo(t *testing.T) {
	path, rep := sampleChain(t)
	m := Build("orders", path, ledger.Report{Records: 2, Head: rep.Head, Entries: rep.Entries[:2]}, errors.New("ledger x: record 3 is bad: signature does not verify"), time.Now())
	var h, md bytes.Buffer
	HTML(&h, m)
	Markdown(&md, m)
	if m.Outcome != "rejected" || !strings.Contains(h.String(), "chain does NOT verify: ledger x: record 3 is bad") || !strings.Contains(md.String(), "DOES NOT VERIFY") {
		t.Fatalf("outcome %s\n%s", m.Outcome, md.String())
	}
}

func TestMarkdownAndMetricsMatchTheirGoldenFiles(t *testing.T) {
	path, rep := sampleChain(t)
	m := Build("orders 1.4.0", "audit.jsonl", rep, nil, time.Date(2026, 1, 2, 11, 0, 0, 0, time.UTC))
	_ = path
	var md, prom bytes.Buffer
	Markdown(&md, m)
	Metrics(&prom, m, "orders")
	for name, got := range map[string]string{"summary.golden.md": md.String(), "metrics.golden.prom": prom.String()} {
		p := filepath.Join("testdata", name)
		if os.Getenv("UPDATE_GOLDEN") == "1" {
			os.MkdirAll("testdata", 0o755)
			os.WriteFile(p, []byte(got), 0o644)
		}
		want, _ := os.ReadFile(p)
		// The head hash changes with every signed chain; compare with it masked.
		mask := regexp.MustCompile("head `[0-9a-f]{16}…`")
		if mask.ReplaceAllString(string(want), "head X") != mask.ReplaceAllString(got, "head X") {
			t.Errorf("%s differs (UPDATE_GOLDEN=1 after checking):\n%s", name, got)
		}
	}
}

func TestTheHTMLReportRendersInHeadlessChromium(t *testing.T) {
	chromium := peertest.Tool(t, "chromium")
	path, rep := sampleChain(t)
	m := Build("orders 1.4.0", path, rep, nil, time.Now())
	dir := t.TempDir()
	html := filepath.Join(dir, "report.html")
	var b bytes.Buffer
	if err := HTML(&b, m); err != nil {
		t.Fatal(err)
	}
	os.WriteFile(html, b.Bytes(), 0o644)
	shot := filepath.Join(dir, "report.png")
	// A hung chromium must fail this test, not stall go test until its -timeout.
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, chromium, "--headless", "--no-sandbox", "--disable-gpu", "--hide-scrollbars", "--window-size=1100,1400",
		"--screenshot="+shot, "file://"+html)
	// On timeout kill chromium's whole process group (its renderers hold the output pipe), and stop waiting for the pipe.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 10 * time.Second
	cmd.Env = append(os.Environ(), "HOME="+dir)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("chromium (2 min limit): %v\n%s", err, out)
	}
	f, err := os.Open(shot)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatal(err)
	}
	// A rendered report has the stage colours in it; a blank or broken page does not.
	greens, colors := 0, map[uint32]bool{}
	bounds := img.Bounds()
	for y := bounds.Min.Y; y < bounds.Max.Y; y += 2 {
		for x := bounds.Min.X; x < bounds.Max.X; x += 2 {
			r, g, bl, _ := img.At(x, y).RGBA()
			colors[(r>>8)<<16|(g>>8)<<8|bl>>8] = true
			if r>>8 < 60 && g>>8 > 100 && g>>8 < 150 && bl>>8 < 80 {
				greens++
			}
		}
	}
	if len(colors) < 20 || greens < 50 {
		t.Fatalf("screenshot looks blank: %d colours, %d green pixels", len(colors), greens)
	}
	if dst := os.Getenv("RG_REPORT_SCREENSHOT"); dst != "" {
		b, _ := os.ReadFile(shot)
		os.WriteFile(dst, b, 0o644)
	}
}
