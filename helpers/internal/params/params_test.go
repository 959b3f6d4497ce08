package params

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

type sample struct {
	Name     string            `json:"name" required:"true" doc:"the name."`
	Files    []string          `json:"files" default:"[]" doc:"files."`
	Formats  []string          `json:"formats" default:"[\"cosign\",\"notation\"]" doc:"formats."`
	Parallel int               `json:"parallel" default:"4" doc:"workers."`
	Dirty    bool              `json:"allowDirty" doc:"dirty."`
	Env      map[string]string `json:"env" default:"{}" doc:"env."`
	Body     json.RawMessage   `json:"body" doc:"body."`
}

func (s *sample) Validate() error { return nil }

func TestDecodeAppliesDefaultsAndKeepsThemForNull(t *testing.T) {
	var s sample
	if err := Decode(json.RawMessage(`{"name":"x","formats":null,"files":["a",7,true],"env":{"PORT":18080}}`), &s); err != nil {
		t.Fatal(err)
	}
	if s.Parallel != 4 || strings.Join(s.Formats, ",") != "cosign,notation" {
		t.Fatalf("defaults not applied: %+v", s)
	}
	if strings.Join(s.Files, ",") != "a,7,true" || s.Env["PORT"] != "18080" {
		t.Fatalf("Groovy scalars not kept as strings: %+v", s)
	}
}

func TestDecodeNamesTheJenkinsfileKey(t *testing.T) {
	cases := []struct{ doc, want string }{
		{`{"name":"x","paralel":2}`, "unknown parameter 'paralel' (did you mean 'parallel'?); known parameters: allowDirty, body, env, files, formats, name, parallel"},
		{`{"name":"x","zzzzzzzzzz":2}`, "unknown parameter 'zzzzzzzzzz'; known parameters:"},
		{`{"name":"x","Parallel":2}`, "unknown parameter 'Parallel' (did you mean 'parallel'?)"},
		{`{"name":"x","parallel":"4"}`, "parameter 'parallel' must be an Integer, got a String \"4\""},
		{`{"name":"x","parallel":1.5}`, "parameter 'parallel' must be an Integer, got a Number 1.5"},
		{`{"name":"x","allowDirty":"yes"}`, "parameter 'allowDirty' must be a Boolean, got a String \"yes\""},
		{`{"name":"x","files":"dist/*"}`, "parameter 'files' must be a List of Strings, got a String \"dist/*\""},
		{`{"name":"x","files":[["a"]]}`, "parameter 'files' must be a List of Strings, got a List [[\"a\"]]"},
		{`{"name":"x","env":{"A":[1]}}`, "parameter 'env' must map names to strings; 'A' is not one"},
		{`{"name":"x","body":"ok"}`, "parameter 'body' must be a Map, got a String \"ok\""},
		{`{"files":[]}`, "parameter 'name' is required: the name."},
		{`{"name":"  "}`, "parameter 'name' is required"},
		{`[1]`, "params must be one Map of parameters"},
	}
	for _, c := range cases {
		t.Run(c.doc, func(t *testing.T) {
			var s sample
			err := Decode(json.RawMessage(c.doc), &s)
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("err = %v, want it to contain %q", err, c.want)
			}
			if result.ClassOf(err) != result.ClassInput {
				t.Fatalf("class = %s, want input", result.ClassOf(err))
			}
		})
	}
}

func TestParseRejectsAnIncompleteOrUnknownDocument(t *testing.T) {
	for _, doc := range []string{`{"params":{}}`, `{"step":"x","params":{},"extra":1}`, `{"step":"x","params":{}} {}`} {
		if _, err := Parse([]byte(doc)); err == nil {
			t.Errorf("Parse(%s) passed", doc)
		}
	}
	d, err := Parse([]byte(`{"step":"x","params":{"name":"n"},"context":{"traceId":"rg-1"},"secrets":{"key":"RG_TEST_SECRET_ENV"}}`))
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("RG_TEST_SECRET_ENV", "s3cret")
	if d.Secret("key") != "s3cret" || d.Secret("password") != "" || d.Context.TraceID != "rg-1" {
		t.Fatalf("doc = %+v", d)
	}
	if !IsDoc([]byte(`{"step":"x","params":{}}`)) || IsDoc([]byte(`{"dir":"."}`)) {
		t.Fatal("IsDoc")
	}
}

func TestHelpTextListsEveryParameterWithItsGroovyDefault(t *testing.T) {
	s := Step{Name: "sample", Helper: "h", Help: "sample: does it.", Params: func() Validator { return &sample{} },
		Credentials: []Credential{{Param: "name", Kind: KindString, Role: "pw", Variable: "PW"}}}
	txt := string(s.HelpText())
	for _, want := range []string{
		"  name (String, required, default null): the name.\n",
		"  formats (List, optional, default ['cosign', 'notation']): formats.\n",
		"  parallel (Integer, optional, default 4): workers.\n",
		"  env (Map, optional, default [:]): env.\n",
		"  name: string -> PW\n",
	} {
		if !strings.Contains(txt, want) {
			t.Errorf("help text lacks %q:\n%s", want, txt)
		}
	}
	var sc Schema
	if err := json.Unmarshal(s.SchemaJSON(), &sc); err != nil || sc.Params[1].Name != "files" || sc.Params[3].Type != TypeInteger ||
		sc.Params[1].Elem != TypeString || sc.Params[5].Elem != TypeString || sc.Params[6].Elem != "" || sc.Params[3].Elem != "" {
		t.Fatalf("schema = %+v, %v", sc, err)
	}
}

func TestArticleReadsAsEnglish(t *testing.T) {
	for noun, want := range map[string]string{"Integer": "an Integer", "List": "a List", "Map of Strings": "a Map of Strings"} {
		if got := Article(noun); got != want {
			t.Errorf("Article(%q) = %q, want %q", noun, got, want)
		}
	}
}

func TestHelpTextNamesExitFourInTheFailureList(t *testing.T) {
	for _, help := range []string{"sample: does it.", "sample: does it.\n\nFails the build with:\n  sample: rejected: ...   (exit 1)\nMore text."} {
		s := Step{Name: "sample", Helper: "h", Help: help, Params: func() Validator { return &sample{} }}
		txt := string(s.HelpText())
		want := "Fails the build with:\n"
		if strings.Contains(help, "rejected") {
			want += "  sample: rejected: ...   (exit 1)\n"
		}
		want += "  sample: helper bug, please report (helper h, trace <id>): ...   a bug in the helper, not in the Jenkinsfile: report it with the trace id (exit 4)\n"
		if !strings.Contains(txt, want) {
			t.Errorf("help text lacks %q:\n%s", want, txt)
		}
	}
}

type conditional struct {
	Image    string `json:"image" requiredUnless:"rollback" doc:"the image."`
	Rollback bool   `json:"rollback" default:"false" doc:"roll back."`
}

func (c *conditional) Validate() error { return nil }

func TestDecodeRequiresARequiredUnlessKeyOnlyWhenTheOtherIsUnset(t *testing.T) {
	for doc, want := range map[string]string{
		`{}`:                              "parameter 'image' is required unless 'rollback' is set: the image.",
		`{"rollback":false,"image":" "}`:  "parameter 'image' is required unless 'rollback' is set",
		`{"rollback":true}`:               "",
		`{"image":"registry/x@sha256:1"}`: "",
	} {
		var c conditional
		err := Decode(json.RawMessage(doc), &c)
		if (want == "") != (err == nil) || (err != nil && !strings.Contains(err.Error(), want)) {
			t.Errorf("Decode(%s) = %v, want %q", doc, err, want)
		}
	}
	s := Step{Name: "c", Helper: "h", Params: func() Validator { return &conditional{} }}
	if !strings.Contains(string(s.HelpText()), "  image (String, required unless rollback, default null): the image.\n") {
		t.Errorf("help text:\n%s", s.HelpText())
	}
	if f := s.Schema().Params[0]; f.RequiredUnless != "rollback" || f.Required {
		t.Errorf("schema field = %+v", f)
	}
}
