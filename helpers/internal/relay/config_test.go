package relay

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/decision"
)

func TestTheExampleConfigLoadsWithItsSecretsFromTheEnvironment(t *testing.T) {
	dir := t.TempDir()
	key := filepath.Join(dir, "decision.pem")
	if _, err := decision.GenerateKey(key); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile("../../../resources/relay.example.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := strings.NewReplacer("/etc/rg-relay/rbac.yaml", "../../../resources/rbac.example.yaml", "/etc/rg-relay/decision.pem", key).Replace(string(b))
	p := filepath.Join(dir, "relay.yaml")
	_ = os.WriteFile(p, []byte(cfg), 0o600)
	for k, v := range map[string]string{"RG_RELAY_DATABASE_URL": "postgres://rg:pw@db:5432/relay", "SLACK_BOT_TOKEN": "xoxb-1",
		"SLACK_SIGNING_SECRET": "s", "SLACK_APP_TOKEN": "xapp-1", "RG_JENKINS_CI_MAIN_TOKEN": "j"} {
		t.Setenv(k, v)
	}
	s, err := LoadConfig(p)
	if err != nil {
		t.Fatal(err)
	}
	if s.DatabaseDSN != "postgres://rg:pw@db:5432/relay" || len(s.Controllers) != 1 || s.Controllers[0].URL.Host != "ci.example.com" || s.SigningToken != "s" {
		t.Fatalf("setup %+v", s)
	}
	t.Setenv("RG_JENKINS_CI_MAIN_TOKEN", "")
	if _, err := LoadConfig(p); err == nil || !strings.Contains(err.Error(), "RG_JENKINS_CI_MAIN_TOKEN") || strings.Contains(err.Error(), "xoxb-1") {
		t.Fatalf("a missing secret: %v", err)
	}
}
