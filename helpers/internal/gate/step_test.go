package gate

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/params"
)

func TestStepParamsValidateNamesTheJenkinsfileKey(t *testing.T) {
	cases := []struct{ doc, want string }{
		{`{}`, "parameter 'smokeCommand' is required when checks include 'smoke'"},
		{`{"checks":["modverify","lint"]}`, "checks has unknown check 'lint'"},
		{`{"checks":[]}`, "checks is empty"},
		{`{"checks":["modverify","modverify"]}`, "checks lists 'modverify' twice"},
		{`{"checks":["modverify"],"failOn":"error"}`, "failOn must be ERR, WARN or INFO; got 'error'"},
		{`{"checks":["modverify"],"baseSpec":"a.json","baseRef":"v1"}`, "set baseSpec (a file) or baseRef/basePath (git), not both"},
		{`{"checks":["modverify"],"baseSpec":"a.json","basePath":"b.json"}`, "set baseSpec (a file) or baseRef/basePath (git), not both"},
		{`{"checks":["apidiff"],"spec":" "}`, "spec is empty"},
		{`{"checks":["modverify"],"deadline":"soon"}`, "deadline 'soon': want a positive Go duration"},
		{`{"checks":["modverify"],"tryTimeout":"-1s"}`, "tryTimeout '-1s': want a positive Go duration"},
		{`{"checks":["modverify"],"smokeComand":"x"}`, "unknown parameter 'smokeComand' (did you mean 'smokeCommand'?)"},
	}
	for _, c := range cases {
		t.Run(c.doc, func(t *testing.T) {
			var p StepParams
			err := params.Decode(json.RawMessage(c.doc), &p)
			if err == nil {
				err = p.Validate()
			}
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want %q", err, c.want)
			}
		})
	}
}

func TestStepParamsBecomeGateParamsWithTheStepDefaults(t *testing.T) {
	var p StepParams
	if err := params.Decode(json.RawMessage(`{"smokeCommand":"./orders","smokeEnv":{"PORT":18080},"expectBody":{"status":"ok"}}`), &p); err != nil {
		t.Fatal(err)
	}
	if err := p.Validate(); err != nil {
		t.Fatal(err)
	}
	g := p.GateParams()
	if g.Dir != "." || len(g.Checks) != 3 || g.APIDiff.Spec != "docs/swagger.json" || g.APIDiff.FailOn != "ERR" || g.Smoke.URL != "http://127.0.0.1:8080/healthz" ||
		g.Smoke.Env["PORT"] != "18080" || g.Smoke.Deadline != "60s" || string(g.Smoke.ExpectBody) != `{"status":"ok"}` || !p.JUnit {
		t.Fatalf("gate params = %+v", g)
	}
}
