package systemd

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

const unit = "release-gates-relay.service"

// verify runs systemd-analyze verify on unit text, with ExecStart pointed at an existing binary (verify checks it).
func verify(t *testing.T, text string) string {
	t.Helper()
	sa, err := exec.LookPath("systemd-analyze")
	if err != nil {
		if os.Getenv("RG_REQUIRE_TOOLS") == "1" {
			t.Fatal("systemd-analyze not found (Debian package systemd) and RG_REQUIRE_TOOLS=1")
		}
		t.Skip("systemd-analyze not found (Debian package systemd)")
	}
	self, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	f := filepath.Join(t.TempDir(), unit)
	os.WriteFile(f, []byte(strings.ReplaceAll(text, "/usr/local/bin/slack-approval", self)), 0o644)
	out, _ := exec.Command(sa, "verify", f).CombinedOutput()
	return strings.TrimSpace(string(out))
}

func TestRelayUnitVerifiesWithoutWarnings(t *testing.T) {
	b, err := os.ReadFile(unit)
	if err != nil {
		t.Fatal(err)
	}
	text := string(b)
	// systemd-analyze verify exits 0 on unknown keys, so any output is a failure.
	if out := verify(t, text); out != "" {
		t.Fatalf("systemd-analyze verify %s:\n%s", unit, out)
	}
	for _, want := range []string{"ExecStart=/usr/local/bin/slack-approval relay --config /etc/release-gates/relay.yaml", "DynamicUser=yes", "NoNewPrivileges=yes", "LoadCredential=decision-key.pem:"} {
		if !strings.Contains(text, want) {
			t.Errorf("%s lacks %q", unit, want)
		}
	}
	for _, secretEnv := range []string{"Environment=SLACK_BOT_TOKEN", "Environment=JENKINS_API_TOKEN", "Environment=SLACK_SIGNING_SECRET"} {
		if strings.Contains(text, secretEnv) {
			t.Errorf("%s puts a secret in the unit (%s): use LoadCredential", unit, secretEnv)
		}
	}
	// The check can fail: a misspelt directive is reported.
	if out := verify(t, strings.Replace(text, "NoNewPrivileges=yes", "NoNewPrivilege=yes", 1)); !strings.Contains(out, "Unknown key 'NoNewPrivilege'") {
		t.Fatalf("systemd-analyze verify did not report a misspelt key: %q", out)
	}
}
