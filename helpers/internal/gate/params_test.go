package gate

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

const fullParams = `{"dir": "/src", "checks": ["modverify","apidiff","smoke"],
 "apidiff": {"spec": "docs/swagger.json", "baseSpec": "", "baseRef": "", "basePath": "", "tagPattern": "v*", "failOn": "ERR", "allowList": "api-allow.yaml"},
 "smoke": {"command": "./bin/orders", "args": ["--x"], "env": {"PORT": "18080"}, "workdir": "", "url": "http://127.0.0.1:18080/healthz", "tryTimeout": "3s", "deadline": "60s", "expectBody": {"status": "ok"}}}`

func TestParseParamsIsStrictAboutTheSchema(t *testing.T) {
	cases := []struct {
		name    string
		data    string
		wantErr string
	}{
		{name: "the full schema parses", data: fullParams},
		{name: "expectBody null parses", data: `{"checks": ["smoke"], "smoke": {"command": "x", "expectBody": null}}`},
		{name: "an unknown top-level field", data: `{"checks": ["smoke"], "extra": 1}`, wantErr: `unknown field "extra"`},
		{name: "an unknown nested field", data: `{"checks": ["smoke"], "smoke": {"cmd": "x"}}`, wantErr: `unknown field "cmd"`},
		{name: "a field in the wrong case", data: `{"checks": ["apidiff"], "apidiff": {"FailOn": "ERR"}}`, wantErr: `unknown field "FailOn"`},
		{name: "an unknown check", data: `{"checks": ["lint"]}`, wantErr: `unknown check "lint"`},
		{name: "a check twice", data: `{"checks": ["smoke", "smoke"]}`, wantErr: "listed twice"},
		{name: "no checks", data: `{"dir": "."}`, wantErr: "checks is empty"},
		{name: "trailing data", data: `{"checks": ["smoke"]} {}`, wantErr: "trailing data"},
		{name: "a wrong type", data: `{"checks": "smoke"}`, wantErr: "cannot unmarshal"},
		{name: "not JSON", data: `checks: [smoke]`, wantErr: "invalid character"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			p, err := ParseParams(strings.NewReader(tc.data))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || result.ClassOf(err) != result.ClassInput {
					t.Fatalf("err = %v, want input error with %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || p == nil {
				t.Fatalf("unexpected error %v", err)
			}
		})
	}
}

func TestParamsResolveRelativePathsAgainstDir(t *testing.T) {
	p, err := ParseParams(strings.NewReader(fullParams))
	if err != nil {
		t.Fatal(err)
	}
	a := p.APIDiffOptions()
	if a.Spec != "/src/docs/swagger.json" || a.AllowList != "/src/api-allow.yaml" || a.BaseSpec != "" || a.Dir != "/src" {
		t.Fatalf("apidiff paths not resolved: %+v", a)
	}
	s, err := p.SmokeOptions()
	if err != nil {
		t.Fatal(err)
	}
	if s.Command != filepath.Join("/src", "bin", "orders") || s.Workdir != "/src" || s.Deadline != time.Minute || s.TryTimeout != 3*time.Second {
		t.Fatalf("smoke options not resolved: %+v", s)
	}
	if len(s.Env) != 1 || s.Env[0] != "PORT=18080" {
		t.Fatalf("env %v", s.Env)
	}
	if m, ok := s.ExpectBody.(map[string]any); !ok || m["status"] != "ok" {
		t.Fatalf("expect body %v", s.ExpectBody)
	}
}

func TestContainsTreatsObjectsAsSupersets(t *testing.T) {
	cases := []struct {
		name      string
		got, want any
		ok        bool
	}{
		{"extra keys are fine", map[string]any{"status": "ok", "v": 1.0}, map[string]any{"status": "ok"}, true},
		{"a different value fails", map[string]any{"status": "down"}, map[string]any{"status": "ok"}, false},
		{"a missing key fails", map[string]any{}, map[string]any{"status": "ok"}, false},
		{"nested objects recurse", map[string]any{"db": map[string]any{"up": true, "ms": 3.0}}, map[string]any{"db": map[string]any{"up": true}}, true},
		{"arrays compare element-wise", []any{1.0, map[string]any{"a": 1.0, "b": 2.0}}, []any{1.0, map[string]any{"a": 1.0}}, true},
		{"arrays of another length fail", []any{1.0}, []any{1.0, 2.0}, false},
		{"a scalar is not an object", "ok", map[string]any{"status": "ok"}, false},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			if got := contains(tc.got, tc.want); got != tc.ok {
				t.Fatalf("contains = %v, want %v", got, tc.ok)
			}
		})
	}
}

func TestReadonlyGoflagsReplacesAnyModSetting(t *testing.T) {
	cases := map[string]string{
		"":                       "-mod=readonly",
		"-mod=mod":               "-mod=readonly",
		"-trimpath --mod=vendor": "-trimpath -mod=readonly",
		"-tags=x -mod=readonly":  "-tags=x -mod=readonly",
	}
	for in, want := range cases {
		t.Run("GOFLAGS="+in, func(t *testing.T) {
			if got := readonlyGoflags(in); got != want {
				t.Fatalf("got %q, want %q", got, want)
			}
		})
	}
}

func TestTailBufferKeepsTheLastLines(t *testing.T) {
	tb := newTailBuffer(3)
	for _, chunk := range []string{"one\ntw", "o\nthree\n", "four\nfi"} {
		_, _ = tb.Write([]byte(chunk))
	}
	if got := tb.String(); got != "three\nfour\nfi" {
		t.Fatalf("tail = %q", got)
	}
}

func TestSummarizeRanksInputAboveUnavailableAboveRejected(t *testing.T) {
	mk := func(c result.Class) *Outcome {
		if c == "" {
			return &Outcome{Check: "ok"}
		}
		return &Outcome{Check: string(c), Err: result.Errorf(c, "x")}
	}
	cases := []struct {
		name    string
		classes []result.Class
		want    int
	}{
		{"all passed", []result.Class{"", ""}, 0},
		{"one rejection", []result.Class{"", result.ClassRejected}, 1},
		{"unavailable beats rejected", []result.Class{result.ClassRejected, result.ClassUnavailable}, 3},
		{"input beats everything", []result.Class{result.ClassUnavailable, result.ClassInput, result.ClassRejected}, 2},
		{"policy counts as a rejection", []result.Class{result.ClassPolicy}, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			var os []*Outcome
			for _, c := range tc.classes {
				os = append(os, mk(c))
			}
			err := Summarize(os)
			if got := result.ClassOf(err).ExitCode(); got != tc.want {
				t.Fatalf("exit %d, want %d (%v)", got, tc.want, err)
			}
			if tc.want != 0 && errors.Unwrap(err) == nil {
				t.Fatal("summary error not wrapped as a classified error")
			}
		})
	}
}

func FuzzParams(f *testing.F) {
	f.Add([]byte(fullParams))
	f.Add([]byte(`{"checks": ["smoke"], "smoke": {"command": "x", "expectBody": null, "env": {"A": "1"}}}`))
	f.Add([]byte(`{"checks": ["apidiff"], "apidiff": {"failOn": "WARN"}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		p, err := ParseParams(strings.NewReader(string(data)))
		if err != nil {
			if result.ClassOf(err) != result.ClassInput {
				t.Fatalf("a params error must be an input error: %v", err)
			}
			return
		}
		if len(p.Checks) == 0 || p.Dir == "" {
			t.Fatalf("accepted params without checks or dir: %+v", p)
		}
		_, _ = p.SmokeOptions()
		_ = p.APIDiffOptions()
		_ = p.validate(nil)
	})
}
