package rbac

import (
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

var update = flag.Bool("update", false, "rewrite golden files")

func example(t *testing.T) *Config {
	t.Helper()
	c, err := Load(filepath.Join("..", "..", "..", "resources", "rbac.example.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestCheckAppliesMembershipFourEyesAndBranches(t *testing.T) {
	c := example(t)
	cases := []struct {
		name    string
		req     Request
		allowed bool
		reason  string
	}{
		{"a group member approves someone else's main release", Request{"U02BOB", "payments", "prod", "main", "U01ALICE"}, true, "may approve"},
		{"a service suffix matches the rule", Request{"U02BOB", "payments-api", "prod", "main", "U01ALICE"}, true, "may approve"},
		{"a user outside the approvers is denied", Request{"U04DAVE", "payments", "prod", "main", "U01ALICE"}, false, "not an approver"},
		{"the requester may not approve their own prod release", Request{"U01ALICE", "payments", "prod", "main", "U01ALICE"}, false, "four-eyes"},
		{"a feature branch may not reach prod", Request{"U02BOB", "payments", "prod", "feature/x", "U01ALICE"}, false, "may not be released"},
		{"self-approval is allowed where the rule says so", Request{"U04DAVE", "search", "staging", "feature/x", "U04DAVE"}, true, "may approve"},
		{"an environment without a rule is denied", Request{"U02BOB", "payments", "qa", "main", "U01ALICE"}, false, "no approval rule"},
		{"patterns match whole names only", Request{"U02BOB", "xpayments", "prod", "main", "U01ALICE"}, false, "no approval rule"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			d := c.Check(tc.req)
			if d.Allowed != tc.allowed || !strings.Contains(d.Reason, tc.reason) {
				t.Fatalf("Check = %+v, want allowed=%v reason ~%q", d, tc.allowed, tc.reason)
			}
		})
	}
}

func TestParseRejectsBadConfigsWithAnActionableMessage(t *testing.T) {
	base := `version: 1
users: {U01A: alice, U02B: bob}
approvals:
  - {service: "a", environment: prod, approvers: [U01A, U02B], required: 1}
`
	cases := []struct {
		name, yaml, want string
	}{
		{"wrong version", strings.Replace(base, "version: 1", "version: 2", 1), "set `version: 1`"},
		{"unknown key", base + "extra: 1\n", "field extra not found"},
		{"bad regex", strings.Replace(base, `service: "a"`, `service: "("`, 1), "service:"},
		{"too few approvers", strings.Replace(base, "required: 1", "required: 3", 1), "only 2 approvers"},
		{"unmapped approver", strings.Replace(base, "[U01A, U02B]", "[U01A, U09Z]", 1), "U09Z has no Jenkins user"},
		{"undefined group", strings.Replace(base, "[U01A, U02B]", "[S07]", 1), "S07 is not defined"},
		{"no rules", "version: 1\n", "at least one approval rule"},
		{"role with bad permission", base + "roles: [{name: r, global: true, permissions: [build], members: {users: [a]}}]\n", "Group/Name"},
		{"role both global and item", base + "roles: [{name: r, global: true, pattern: x, permissions: [Job/Build], members: {users: [a]}}]\n", "either `global: true`"},
		{"empty file", "", "empty"},
		{"lower-case user id", strings.Replace(base, "U01A: alice", "u01a: alice", 1), "not a Slack user id"},
		{"malformed approver id", strings.Replace(base, "[U01A, U02B]", "[U01A, X02]", 1), "not a Slack user id"},
		{"lower-case group id", base + "groups: {s01rel: [U01A]}\n", "user group ids"},
		{"group member that is not a user", base + "groups: {S01REL: [C1X]}\n", "not a Slack user id"},
		{"escalation group that is a user", strings.Replace(base, "required: 1}", "required: 1, escalationGroup: U01A}", 1), "escalationGroup"},
		{"channel that is not a channel id", strings.Replace(base, "required: 1}", "required: 1, channel: deploys}", 1), "channel id"},
		{"bad maxTimeout", strings.Replace(base, "required: 1}", "required: 1, maxTimeout: forever}", 1), "maxTimeout"},
		{"escalateAfter without group", strings.Replace(base, "required: 1}", "required: 1, escalateAfter: 1h}", 1), "escalationGroup"},
		{"unknown rule field", strings.Replace(base, "required: 1}", "required: 1, requried: 2}", 1), "field requried not found"},
		{"identity to a bad id", base + "identities: {\"a@example.com\": alice}\n", "identities"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			_, err := Parse([]byte(tc.yaml))
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("Parse error = %v, want ~%q", err, tc.want)
			}
			if strings.Contains(err.Error(), "\n") {
				t.Fatalf("error spans lines: %q", err)
			}
		})
	}
}

func TestRenderJCasCMatchesTheRoleStrategySchemaAndGolden(t *testing.T) {
	got, err := example(t).RenderJCasC()
	if err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "jcasc.golden.yaml")
	if *update {
		if err := os.WriteFile(golden, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != string(want) {
		t.Fatalf("JCasC differs from golden:\n%s", got)
	}
	// The keys the role-strategy plugin's configurator reads (see its Configuration-as-Code.yml test resource).
	var doc struct {
		Jenkins struct {
			AuthorizationStrategy struct {
				RoleBased struct {
					Roles struct {
						Global []map[string]any `yaml:"global"`
						Items  []map[string]any `yaml:"items"`
					} `yaml:"roles"`
				} `yaml:"roleBased"`
			} `yaml:"authorizationStrategy"`
		} `yaml:"jenkins"`
	}
	dec := yaml.NewDecoder(strings.NewReader(string(got)))
	dec.KnownFields(true)
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	roles := doc.Jenkins.AuthorizationStrategy.RoleBased.Roles
	if len(roles.Global) != 2 || len(roles.Items) != 1 || roles.Items[0]["pattern"] != "payments/.*" {
		t.Fatalf("unexpected roles %+v", roles)
	}
	entries := roles.Items[0]["entries"].([]any)
	if entries[0].(map[string]any)["user"] != "alice" || entries[2].(map[string]any)["group"] != "payments-team" {
		t.Fatalf("unexpected entries %+v", entries)
	}
}
