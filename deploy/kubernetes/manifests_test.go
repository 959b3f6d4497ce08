package kubernetes

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	"gopkg.in/yaml.v3"
)

// K8sVersion is the Kubernetes release whose OpenAPI document (api/openapi-spec/swagger.json in the
// k8s.io/kubernetes module, fetched by test/scripts/tools.sh kubeconform) the manifests are checked against.
const k8sVersion = "v1.34.4"

// requireEnv turns a missing kubeconform or schema module from a skip into a failure, as for the other peer CLIs.
const requireEnv = "RG_REQUIRE_TOOLS"

// tool finds name on PATH (test/scripts/tools.sh puts it in the tools dir).
func tool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("%s not on PATH and %s=1: run test/scripts/tools.sh %s and add its bin dir to PATH", name, requireEnv, name)
		}
		t.Skipf("%s not on PATH (set %s=1 to make this a failure)", name, requireEnv)
	}
	return p
}

var manifests = []string{"relay.yaml", "secrets.example.yaml"}

// swaggerPath finds swagger.json of k8s.io/kubernetes@k8sVersion in the module cache; missing, the test skips (or
// fails under RG_REQUIRE_TOOLS=1).
func swaggerPath(t *testing.T) string {
	t.Helper()
	cmd := exec.Command("go", "mod", "download", "-json", "k8s.io/kubernetes@"+k8sVersion)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod", "GOPROXY=off")
	out, err := cmd.Output()
	var mod struct{ Dir, Error string }
	_ = json.Unmarshal(out, &mod)
	p := filepath.Join(mod.Dir, "api", "openapi-spec", "swagger.json")
	if _, serr := os.Stat(p); err != nil || mod.Dir == "" || serr != nil {
		msg := fmt.Sprintf("k8s.io/kubernetes@%s is not in the module cache (%v %s): run test/scripts/tools.sh kubeconform", k8sVersion, err, mod.Error)
		if os.Getenv(requireEnv) == "1" {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	return p
}

// writeSchemas converts the Kubernetes OpenAPI v2 definitions into kubeconform's layout: one standalone JSON schema
// per group/version/kind, every $ref inlined, and additionalProperties false on each object (kubeconform -strict).
func writeSchemas(t *testing.T, swagger, dir string) {
	t.Helper()
	b, err := os.ReadFile(swagger)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Definitions map[string]map[string]any `json:"definitions"`
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatalf("%s: %v", swagger, err)
	}
	n := 0
	for name, def := range doc.Definitions {
		gvks, _ := def["x-kubernetes-group-version-kind"].([]any)
		for _, g := range gvks {
			gvk, _ := g.(map[string]any)
			group, version, kind := gvk["group"].(string), gvk["version"].(string), gvk["kind"].(string)
			// kubeconform's file name: kind, then the first label of the group, then the version.
			suffix := "-" + strings.ToLower(version)
			if group != "" {
				suffix = "-" + strings.ToLower(strings.Split(group, ".")[0]) + suffix
			}
			s, err := inline(def, doc.Definitions, map[string]bool{name: true})
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			out, _ := json.Marshal(s)
			if err := os.WriteFile(filepath.Join(dir, strings.ToLower(kind)+suffix+".json"), out, 0o644); err != nil {
				t.Fatal(err)
			}
			n++
		}
	}
	if n < 100 {
		t.Fatalf("%s gave only %d kinds", swagger, n)
	}
}

// inline returns schema with every #/definitions/ $ref replaced by its target; a cycle (none in the kinds here)
// becomes an open schema.
func inline(schema any, defs map[string]map[string]any, open map[string]bool) (any, error) {
	switch s := schema.(type) {
	case map[string]any:
		if ref, ok := s["$ref"].(string); ok {
			name := strings.TrimPrefix(ref, "#/definitions/")
			target, ok := defs[name]
			if !ok {
				return nil, fmt.Errorf("unresolved $ref %s", ref)
			}
			if open[name] {
				return map[string]any{}, nil
			}
			open[name] = true
			defer delete(open, name)
			return inline(target, defs, open)
		}
		out := map[string]any{}
		for k, v := range s {
			if k == "x-kubernetes-group-version-kind" {
				continue
			}
			iv, err := inline(v, defs, open)
			if err != nil {
				return nil, err
			}
			out[k] = iv
		}
		// int-or-string (ports, maxSurge) is a string or an integer in YAML.
		if out["format"] == "int-or-string" {
			delete(out, "type")
			out["oneOf"] = []any{map[string]any{"type": "string"}, map[string]any{"type": "integer"}}
		}
		if _, hasProps := out["properties"]; hasProps {
			if _, set := out["additionalProperties"]; !set {
				out["additionalProperties"] = false
			}
		}
		return out, nil
	case []any:
		out := make([]any, len(s))
		for i, v := range s {
			iv, err := inline(v, defs, open)
			if err != nil {
				return nil, err
			}
			out[i] = iv
		}
		return out, nil
	}
	return schema, nil
}

// kubeconform runs the stock kubeconform, offline, strict, on files with the schemas in dir.
func kubeconform(t *testing.T, dir string, files ...string) (string, error) {
	t.Helper()
	args := append([]string{"-strict", "-summary", "-output", "text", "-schema-location", filepath.Join(dir, "{{ .ResourceKind }}{{ .KindSuffix }}.json")}, files...)
	out, err := exec.Command(tool(t, "kubeconform"), args...).CombinedOutput()
	return string(out), err
}

func TestManifestsPassKubeconformStrictAgainstTheKubernetesSchemas(t *testing.T) {
	schemas := t.TempDir()
	writeSchemas(t, swaggerPath(t), schemas)
	out, err := kubeconform(t, schemas, manifests...)
	if err != nil {
		t.Fatalf("kubeconform: %v\n%s", err, out)
	}
	// Every resource was checked against a schema, none skipped.
	if !regexp.MustCompile(`Summary: 9 resources found in 2 files - Valid: 9, Invalid: 0, Errors: 0, Skipped: 0`).MatchString(out) {
		t.Fatalf("kubeconform summary: %s", out)
	}

	// The same validator rejects what a cluster would: each broken copy must fail, naming the problem.
	bad := []struct{ name, from, to, want string }{
		{"a misspelt field", "readinessProbe:", "readynessProbe:", "additional properties 'readynessProbe' not allowed"},
		{"a string where replicas is an integer", "replicas: 2", `replicas: "2"`, "at '/spec/replicas': got string, want integer"},
		{"a probe without a handler port", "httpGet: {path: /readyz, port: http}", "httpGet: {path: /readyz}", "missing property 'port'"},
		{"an unknown securityContext key", "runAsNonRoot: true", "runAsNonRoot: true\n        runAsRoot: false", "additional properties 'runAsRoot' not allowed"},
	}
	src, err := os.ReadFile("relay.yaml")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range bad {
		t.Run(tc.name, func(t *testing.T) {
			if !bytes.Contains(src, []byte(tc.from)) {
				t.Fatalf("relay.yaml no longer has %q", tc.from)
			}
			f := filepath.Join(t.TempDir(), "relay.yaml")
			os.WriteFile(f, bytes.Replace(src, []byte(tc.from), []byte(tc.to), 1), 0o644)
			out, err := kubeconform(t, schemas, f)
			if err == nil || !strings.Contains(out, tc.want) {
				t.Fatalf("kubeconform accepted %s (err %v):\n%s", tc.name, err, out)
			}
		})
	}
}

// objects decodes every document of a manifest file.
func objects(t *testing.T, file string) []map[string]any {
	t.Helper()
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var objs []map[string]any
	dec := yaml.NewDecoder(f)
	for {
		var o map[string]any
		if err := dec.Decode(&o); errors.Is(err, io.EOF) {
			return objs
		} else if err != nil {
			t.Fatalf("%s: %v", file, err)
		}
		objs = append(objs, o)
	}
}

// path walks o along keys (map keys, or list indexes as ints).
func path(o any, keys ...any) any {
	for _, k := range keys {
		switch k := k.(type) {
		case string:
			m, _ := o.(map[string]any)
			o = m[k]
		case int:
			l, _ := o.([]any)
			if k >= len(l) {
				return nil
			}
			o = l[k]
		}
	}
	return o
}

func TestRelayDeploymentRunsTwoNonRootReplicasWithProbesAndSecretReferences(t *testing.T) {
	byKind := map[string]map[string]any{}
	for _, o := range objects(t, "relay.yaml") {
		byKind[o["kind"].(string)] = o
	}
	d := byKind["Deployment"]
	if d == nil || byKind["Service"] == nil {
		t.Fatalf("relay.yaml needs a Deployment and a Service, has %v", slices.Sorted(func(yield func(string) bool) {
			for k := range byKind {
				if !yield(k) {
					return
				}
			}
		}))
	}
	if r := path(d, "spec", "replicas"); r != 2 {
		t.Errorf("replicas = %v, want 2 (several replicas share one PostgreSQL)", r)
	}
	pod := path(d, "spec", "template", "spec")
	c := path(pod, "containers", 0)
	for _, want := range []struct {
		keys []any
		val  any
	}{
		{[]any{"securityContext", "runAsNonRoot"}, true},
		{[]any{"securityContext", "runAsUser"}, 10001},
	} {
		if got := path(pod, want.keys...); got != want.val {
			t.Errorf("pod %v = %v, want %v", want.keys, got, want.val)
		}
	}
	if got := path(c, "securityContext", "allowPrivilegeEscalation"); got != false {
		t.Errorf("allowPrivilegeEscalation = %v, want false", got)
	}
	if got := path(c, "livenessProbe", "httpGet", "path"); got != "/healthz" {
		t.Errorf("livenessProbe path = %v, want /healthz", got)
	}
	if got := path(c, "readinessProbe", "httpGet", "path"); got != "/readyz" {
		t.Errorf("readinessProbe path = %v, want /readyz", got)
	}
	// The image's USER must be the uid the pod asks for, or runAsNonRoot and file permissions disagree.
	df, err := os.ReadFile(filepath.Join("..", "relay", "Dockerfile"))
	if err != nil {
		t.Fatal(err)
	}
	if !regexp.MustCompile(`(?m)^ARG RELAY_UID=10001$`).Match(df) {
		t.Error("deploy/relay/Dockerfile's RELAY_UID is not the pod's runAsUser 10001")
	}

	// Every secret is a reference to a Secret that secrets.example.yaml templates, never a literal value.
	secrets := map[string]map[string]any{}
	for _, o := range objects(t, "secrets.example.yaml") {
		secrets[path(o, "metadata", "name").(string)], _ = path(o, "stringData").(map[string]any)
	}
	envs, _ := path(c, "env").([]any)
	wantEnv := []string{"RG_RELAY_DATABASE_URL", "SLACK_BOT_TOKEN", "SLACK_SIGNING_SECRET", "RG_JENKINS_CI_MAIN_TOKEN"}
	for _, e := range envs {
		name := path(e, "name").(string)
		if path(e, "value") != nil {
			t.Errorf("env %s has a literal value: secrets come from secretKeyRef", name)
		}
		ref := path(e, "valueFrom", "secretKeyRef")
		if ref == nil {
			continue
		}
		sec, key := path(ref, "name").(string), path(ref, "key").(string)
		if _, ok := secrets[sec][key]; !ok {
			t.Errorf("env %s references Secret %s key %s, which secrets.example.yaml does not template", name, sec, key)
		}
		wantEnv = slices.DeleteFunc(wantEnv, func(s string) bool { return s == name })
	}
	if len(wantEnv) > 0 {
		t.Errorf("no secretKeyRef env for %v", wantEnv)
	}
	key := path(pod, "volumes")
	found := false
	for _, v := range key.([]any) {
		if n, _ := path(v, "secret", "secretName").(string); n != "" {
			if _, ok := secrets[n]; !ok {
				t.Errorf("volume Secret %s is not templated in secrets.example.yaml", n)
			}
			found = n == "release-gates-relay-decision-key"
		}
	}
	if !found {
		t.Error("the relay's decision signing key is not mounted from a Secret")
	}
	// The config the relay reads names the env vars and the key file the Deployment provides.
	cm := byKind["ConfigMap"]
	cfg, _ := path(cm, "data", "relay.yaml").(string)
	for _, want := range []string{"env: RG_RELAY_DATABASE_URL", "env: SLACK_BOT_TOKEN", "env: SLACK_SIGNING_SECRET", "env: RG_JENKINS_CI_MAIN_TOKEN",
		"decisionKey: /run/secrets/release-gates/decision-key/decision-key.pem", "listen: 0.0.0.0:8090"} {
		if !strings.Contains(cfg, want) {
			t.Errorf("the ConfigMap's relay.yaml lacks %q", want)
		}
	}
}

// TestTheConfigMapsRelayYAMLPassesTheRealRelaysConfigCheck runs the built slack-approval relay on the ConfigMap's
// relay.yaml and rbac.yaml, with every secret it names set: it must get past its config check (exit 2 would be a
// config error) and stop at the unreachable PostgreSQL (exit 3, infrastructure).
func TestTheConfigMapsRelayYAMLPassesTheRealRelaysConfigCheck(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: $RG_BIN may hold helpers older than this checkout (make test builds them first)")
	}
	bin := filepath.Join(os.Getenv("RG_BIN"), "slack-approval")
	if _, err := os.Stat(bin); os.Getenv("RG_BIN") == "" || err != nil {
		if os.Getenv(requireEnv) == "1" {
			t.Fatalf("no slack-approval in $RG_BIN (%q): run make helpers", os.Getenv("RG_BIN"))
		}
		t.Skip("set RG_BIN to a dir with slack-approval (make helpers) to run the real relay's config check")
	}
	var cm map[string]any
	for _, o := range objects(t, "relay.yaml") {
		if o["kind"] == "ConfigMap" {
			cm = o
		}
	}
	dir := t.TempDir()
	cfg, _ := path(cm, "data", "relay.yaml").(string)
	rbac, _ := path(cm, "data", "rbac.yaml").(string)
	key := filepath.Join(dir, "decision-key.pem")
	if out, err := exec.Command(bin, "keygen", "--out", key, "--public-out", key+".pub").CombinedOutput(); err != nil {
		t.Fatalf("slack-approval keygen: %v\n%s", err, out)
	}
	// The Deployment's mounts, moved into the temp dir.
	for _, mnt := range [][2]string{{"/etc/release-gates/rbac.yaml", filepath.Join(dir, "rbac.yaml")}, {"/run/secrets/release-gates/decision-key/decision-key.pem", key}} {
		if !strings.Contains(cfg, mnt[0]) {
			t.Fatalf("the ConfigMap's relay.yaml no longer names %s", mnt[0])
		}
		cfg = strings.ReplaceAll(cfg, mnt[0], mnt[1])
	}
	cfg = strings.Replace(cfg, "listen: 0.0.0.0:8090", "listen: 127.0.0.1:0", 1)
	os.WriteFile(filepath.Join(dir, "rbac.yaml"), []byte(rbac), 0o644)
	os.WriteFile(filepath.Join(dir, "relay.yaml"), []byte(cfg), 0o644)
	secrets := []string{"RG_RELAY_DATABASE_URL=postgres://relay:not-a-password@127.0.0.1:1/release_gates?sslmode=disable&connect_timeout=2",
		"SLACK_BOT_TOKEN=xoxb-test", "SLACK_SIGNING_SECRET=test-signing-secret", "RG_JENKINS_CI_MAIN_TOKEN=test-token", "RG_RELAY_CI_MAIN_CREDENTIAL=test-credential"}
	relay := func(env []string) (int, string) {
		cmd := exec.Command(bin, "relay", "--config", filepath.Join(dir, "relay.yaml"), "--result-file", filepath.Join(t.TempDir(), "result.json"))
		cmd.Env = append(slices.DeleteFunc(os.Environ(), func(kv string) bool {
			return strings.HasPrefix(kv, "SLACK_") || strings.HasPrefix(kv, "RG_RELAY_") || strings.HasPrefix(kv, "RG_JENKINS_")
		}), env...)
		out, _ := cmd.CombinedOutput()
		return cmd.ProcessState.ExitCode(), string(out)
	}
	code, out := relay(secrets)
	if code != 3 || !strings.Contains(out, "127.0.0.1:1") {
		t.Fatalf("slack-approval relay on the ConfigMap's config: exit %d, want 3 at the database (past the config check):\n%s", code, out)
	}
	if strings.Contains(out, "not-a-password") {
		t.Fatalf("the database password reached the console:\n%s", out)
	}
	// The check can fail: without one of the env vars the config names, it is a config error (exit 2).
	if code, out := relay(slices.DeleteFunc(slices.Clone(secrets), func(kv string) bool { return strings.HasPrefix(kv, "SLACK_BOT_TOKEN=") })); code != 2 || !strings.Contains(out, "SLACK_BOT_TOKEN") {
		t.Fatalf("slack-approval relay without SLACK_BOT_TOKEN: exit %d, want 2 naming it:\n%s", code, out)
	}
}
