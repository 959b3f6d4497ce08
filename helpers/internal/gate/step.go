package gate

import (
	"encoding/json"
	"slices"
	"strings"

	"github.com/release-gates/release-gates/helpers/internal/params"
	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/vocab"
)

// StepParams is the goBuildGate step's Map, as the Jenkinsfile writes it; one field per parameter.
type StepParams struct {
	Dir          string            `json:"dir" default:"\".\"" doc:"Go module root, relative to the workspace." example:"'services/orders'"`
	Checks       []string          `json:"checks" default:"[\"modverify\",\"apidiff\",\"smoke\"]" doc:"checks to run, any of modverify, apidiff, smoke." example:"['modverify', 'apidiff']"`
	Spec         string            `json:"spec" default:"\"docs/swagger.json\"" doc:"head spec as swag init writes it (Swagger 2.0 JSON or YAML; OpenAPI 3 accepted)." example:"'docs/swagger.yaml'"`
	BaseSpec     string            `json:"baseSpec" doc:"file holding the last released spec." example:"'release/swagger.json'"`
	BaseRef      string            `json:"baseRef" doc:"git ref of the last release; the base spec is read with git show baseRef:basePath." example:"'v1.4.0'"`
	BasePath     string            `json:"basePath" doc:"path of the base spec inside baseRef (or inside the newest tag matching tagPattern), relative to dir; default: spec." example:"'api/swagger.json'"`
	TagPattern   string            `json:"tagPattern" default:"\"v*\"" doc:"when baseSpec and baseRef are both null, the base is the newest git tag matching this pattern." example:"'orders/v*'"`
	FailOn       string            `json:"failOn" default:"\"ERR\"" doc:"lowest change level that fails the gate: ERR, WARN or INFO." example:"'WARN'"`
	AllowList    string            `json:"allowList" doc:"YAML or JSON file listing accepted changes ({id, path, method, reason}; reason required); they are recorded, not failed." example:"'docs/accepted-changes.yaml'"`
	SmokeCommand string            `json:"smokeCommand" need:"required with 'smoke'" doc:"the built service binary to start." example:"'./bin/orders'"`
	SmokeArgs    []string          `json:"smokeArgs" default:"[]" doc:"arguments for smokeCommand." example:"['--config', 'smoke.yaml']"`
	SmokeEnv     map[string]string `json:"smokeEnv" default:"{}" doc:"extra environment for smokeCommand; no secrets (the params file is archived)." example:"[PORT: '18080']"`
	SmokeWorkdir string            `json:"smokeWorkdir" doc:"working directory for smokeCommand; default: dir." example:"'testdata'"`
	HealthURL    string            `json:"healthUrl" default:"\"http://127.0.0.1:8080/healthz\"" doc:"URL polled until it answers 2xx; its port must be free before the start." example:"'http://127.0.0.1:18080/healthz'"`
	TryTimeout   string            `json:"tryTimeout" default:"\"3s\"" doc:"timeout of one health request (Go duration)." example:"'1s'"`
	Deadline     string            `json:"deadline" default:"\"60s\"" doc:"give up polling after this long (Go duration)." example:"'2m'"`
	ExpectBody   json.RawMessage   `json:"expectBody" doc:"the health response must be a JSON object containing these keys and values." example:"[status: 'ok']"`
	JUnit        bool              `json:"junit" default:"true" doc:"publish the JUnit XML (resultFile with .junit.xml) with the junit step." example:"false"`
	ResultFile   string            `json:"resultFile" default:"\".release-gates/goBuildGate.json\"" doc:"result JSON, relative to the workspace; the params file and JUnit XML sit beside it." example:"'.release-gates/orders-gate.json'"`
}

// Validate checks the cross-parameter rules; each message names the Jenkinsfile key and its value.
func (p *StepParams) Validate() error {
	known := []string{CheckModVerify, CheckAPIDiff, CheckSmoke}
	if len(p.Checks) == 0 {
		return result.Errorf(result.ClassInput, "checks is empty: list at least one of modverify, apidiff, smoke, e.g. checks: ['modverify']")
	}
	seen := map[string]bool{}
	for _, c := range p.Checks {
		if !slices.Contains(known, c) {
			return result.Errorf(result.ClassInput, "checks has unknown check '%s': use modverify, apidiff or smoke", c)
		}
		if seen[c] {
			return result.Errorf(result.ClassInput, "checks lists '%s' twice", c)
		}
		seen[c] = true
	}
	switch p.FailOn {
	case "ERR", "WARN", "INFO":
	default:
		return result.Errorf(result.ClassInput, "failOn must be ERR, WARN or INFO; got '%s'", p.FailOn)
	}
	if p.BaseSpec != "" && (p.BaseRef != "" || p.BasePath != "") {
		other := "basePath: " + vocab.Groovy(p.BasePath)
		if p.BaseRef != "" {
			other = "baseRef: " + vocab.Groovy(p.BaseRef)
		}
		return result.Errorf(result.ClassInput, "set baseSpec (a file) or baseRef/basePath (git), not both: baseSpec: %s and %s are both set", vocab.Groovy(p.BaseSpec), other)
	}
	if seen[CheckSmoke] && strings.TrimSpace(p.SmokeCommand) == "" {
		return result.Errorf(result.ClassInput, "parameter 'smokeCommand' is required when checks include 'smoke' (the built service binary, e.g. smokeCommand: './bin/orders'), or drop 'smoke' from checks")
	}
	if seen[CheckAPIDiff] && strings.TrimSpace(p.Spec) == "" {
		return result.Errorf(result.ClassInput, "spec is empty: set it to the swagger.json/yaml that swag generated, or drop 'apidiff' from checks")
	}
	for _, d := range []struct{ key, val string }{{"tryTimeout", p.TryTimeout}, {"deadline", p.Deadline}} {
		if _, err := parseDuration(d.key, d.val); err != nil {
			return result.Errorf(result.ClassInput, "%s '%s': want a positive Go duration such as 3s or 1m", d.key, d.val)
		}
	}
	if _, err := ParseExpectBody(p.ExpectBody); err != nil {
		return result.Errorf(result.ClassInput, "expectBody: %v", err)
	}
	return nil
}

// GateParams turns the step's Map into the params gate.Run takes.
func (p *StepParams) GateParams() *Params {
	return &Params{
		Dir:    p.Dir,
		Checks: p.Checks,
		APIDiff: APIDiffParams{Spec: p.Spec, BaseSpec: p.BaseSpec, BaseRef: p.BaseRef, BasePath: p.BasePath, TagPattern: p.TagPattern,
			FailOn: p.FailOn, AllowList: p.AllowList},
		Smoke: SmokeParams{Command: p.SmokeCommand, Args: p.SmokeArgs, Env: p.SmokeEnv, Workdir: p.SmokeWorkdir, URL: p.HealthURL,
			TryTimeout: p.TryTimeout, Deadline: p.Deadline, ExpectBody: p.ExpectBody},
	}
}

// Step declares the goBuildGate pipeline step.
var Step = params.Step{
	Name:   "goBuildGate",
	Helper: "go-build-gate",
	Params: func() params.Validator { return &StepParams{} },
	Help: `goBuildGate: the build gate for a Go service. It runs the go-build-gate helper with up to three checks:
  modverify  the module graph is intact: go mod verify, go.sum present and tidy, -mod=readonly, GOSUMDB not off, GOPROXY set.
  apidiff    the OpenAPI contract (swag's Swagger 2.0) has no breaking change against the last released spec (oasdiff rules).
  smoke      the built service starts and answers its health endpoint with 2xx (and expectBody, when given).

Needs an executor (call it inside node). The library's runner checks the Map against resources/steps/goBuildGate.json,
writes the params JSON file, runs one labelled sh ("goBuildGate: run"), publishes the JUnit XML (also when the gate
fails), archives the result files, prints one line per check, and returns the result map (status, trace_id, items:
one per check).

Fails the build with:
  goBuildGate: rejected: ...                          a check failed (exit code 1), e.g. a breaking API change
  goBuildGate: bad input or configuration: ...        a parameter or file is wrong (exit code 2)
  goBuildGate: infrastructure unavailable: ... (retry later)   (exit code 3)
  goBuildGate: unknown parameter 'x' ...              a key not listed below (typos are rejected, never ignored)
Relative paths in the spec and smoke settings resolve against dir.`,
	Footer: `Example:
  def gate = goBuildGate(dir: 'services/orders', smokeCommand: './orders', smokeEnv: [PORT: '18080'],
                         healthUrl: 'http://127.0.0.1:18080/healthz', expectBody: [status: 'ok'])
  echo "gate ${gate.status}, trace ${gate.trace_id}"`,
}
