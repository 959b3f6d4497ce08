package gate

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os/exec"
	"path/filepath"
	"reflect"
	"sort"
	"strings"
	"time"

	"github.com/release-gates/release-gates/helpers/internal/result"
	"github.com/release-gates/release-gates/helpers/internal/vocab"
)

// Params is the JSON document the goBuildGate Groovy step writes for `go-build-gate run`.
type Params struct {
	Dir     string        `json:"dir"`
	Checks  []string      `json:"checks"`
	APIDiff APIDiffParams `json:"apidiff"`
	Smoke   SmokeParams   `json:"smoke"`
}

// APIDiffParams is the apidiff section of Params.
type APIDiffParams struct {
	Spec       string `json:"spec"`
	BaseSpec   string `json:"baseSpec"`
	BaseRef    string `json:"baseRef"`
	BasePath   string `json:"basePath"`
	TagPattern string `json:"tagPattern"`
	FailOn     string `json:"failOn"`
	AllowList  string `json:"allowList"`
}

// SmokeParams is the smoke section of Params.
type SmokeParams struct {
	Command    string            `json:"command"`
	Args       []string          `json:"args"`
	Env        map[string]string `json:"env"`
	Workdir    string            `json:"workdir"`
	URL        string            `json:"url"`
	TryTimeout string            `json:"tryTimeout"`
	Deadline   string            `json:"deadline"`
	ExpectBody json.RawMessage   `json:"expectBody"`
}

// MaxParamsBytes caps the params document.
const MaxParamsBytes = 1 << 20

// ParseParams decodes params strictly: unknown fields, trailing data and unknown checks are input errors.
func ParseParams(r io.Reader) (*Params, error) {
	data, err := io.ReadAll(io.LimitReader(r, MaxParamsBytes+1))
	if err != nil {
		return nil, result.Errorf(result.ClassInput, "reading params: %v", err)
	}
	if len(data) > MaxParamsBytes {
		return nil, result.Errorf(result.ClassInput, "params larger than %d KiB", MaxParamsBytes>>10)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var p Params
	if err := dec.Decode(&p); err != nil {
		return nil, result.Errorf(result.ClassInput, "params: %v", oneLine(err.Error(), nil))
	}
	if dec.More() {
		return nil, result.Errorf(result.ClassInput, "params: trailing data after the JSON object")
	}
	// encoding/json matches keys case-insensitively; the schema is exact, so a "failon" typo must not pass.
	var raw any
	if err := json.Unmarshal(data, &raw); err != nil {
		return nil, result.Errorf(result.ClassInput, "params: %v", err)
	}
	if err := exactKeys(raw, reflect.TypeOf(p), "params"); err != nil {
		return nil, result.Errorf(result.ClassInput, "%v", err)
	}
	if len(p.Checks) == 0 {
		return nil, result.Errorf(result.ClassInput, "params: checks is empty: list at least one of modverify, apidiff, smoke")
	}
	seen := map[string]bool{}
	for _, c := range p.Checks {
		switch c {
		case CheckModVerify, CheckAPIDiff, CheckSmoke:
		default:
			return nil, result.Errorf(result.ClassInput, "params: unknown check %q: want modverify, apidiff or smoke", c)
		}
		if seen[c] {
			return nil, result.Errorf(result.ClassInput, "params: check %q listed twice", c)
		}
		seen[c] = true
	}
	if p.Dir == "" {
		p.Dir = "."
	}
	return &p, nil
}

// Has reports whether check is selected.
func (p *Params) Has(check string) bool {
	for _, c := range p.Checks {
		if c == check {
			return true
		}
	}
	return false
}

// resolve makes a relative path relative to dir.
func resolve(dir, path string) string {
	if path == "" || filepath.IsAbs(path) {
		return path
	}
	return filepath.Join(dir, path)
}

// APIDiffOptions turns the apidiff section into options with paths resolved against Dir.
func (p *Params) APIDiffOptions() APIDiffOptions {
	a := p.APIDiff
	return APIDiffOptions{
		Dir:        p.Dir,
		Spec:       resolve(p.Dir, a.Spec),
		BaseSpec:   resolve(p.Dir, a.BaseSpec),
		BaseRef:    a.BaseRef,
		BasePath:   a.BasePath, // a path inside the ref, relative to Dir
		TagPattern: a.TagPattern,
		FailOn:     a.FailOn,
		AllowList:  resolve(p.Dir, a.AllowList),
	}
}

// SmokeOptions turns the smoke section into options: paths resolved against Dir, durations parsed.
func (p *Params) SmokeOptions() (SmokeOptions, error) {
	s := p.Smoke
	o := SmokeOptions{Args: s.Args, URL: s.URL, Workdir: resolve(p.Dir, s.Workdir)}
	if o.Workdir == "" {
		o.Workdir = p.Dir
	}
	o.Command = s.Command
	if strings.ContainsRune(s.Command, filepath.Separator) {
		o.Command = resolve(p.Dir, s.Command)
	} else if s.Command != "" {
		if _, err := exec.LookPath(filepath.Join(p.Dir, s.Command)); err == nil {
			o.Command = filepath.Join(p.Dir, s.Command)
		}
	}
	keys := make([]string, 0, len(s.Env))
	for k := range s.Env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		o.Env = append(o.Env, k+"="+s.Env[k])
	}
	var err error
	if o.TryTimeout, err = parseDuration("smoke.tryTimeout", s.TryTimeout); err != nil {
		return o, err
	}
	if o.Deadline, err = parseDuration("smoke.deadline", s.Deadline); err != nil {
		return o, err
	}
	if o.ExpectBody, err = ParseExpectBody(s.ExpectBody); err != nil {
		return o, err
	}
	return o, nil
}

// ParseExpectBody decodes an expected health body; null and {} mean "any body".
func ParseExpectBody(raw []byte) (any, error) {
	raw = bytes.TrimSpace(raw)
	if len(raw) == 0 || string(raw) == "null" {
		return nil, nil
	}
	var v any
	if err := json.Unmarshal(raw, &v); err != nil {
		return nil, result.Errorf(result.ClassInput, "smoke expectBody is not JSON: %v", err)
	}
	if m, ok := v.(map[string]any); ok && len(m) == 0 {
		return nil, nil
	}
	return v, nil
}

func parseDuration(name, s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, result.Errorf(result.ClassInput, "%s %q: want a positive Go duration such as 3s or 1m", name, s)
	}
	return d, nil
}

// validate checks the selected sections before anything runs; sp spells the options in its errors.
func (p *Params) validate(sp vocab.Spelling) error {
	if p.Has(CheckSmoke) {
		so, err := p.SmokeOptions()
		if err != nil {
			return err
		}
		so.Spell = sp
		if _, _, err := ValidateSmoke(so); err != nil {
			return err
		}
	}
	if p.Has(CheckAPIDiff) && p.APIDiff.Spec == "" {
		return result.Errorf(result.ClassInput, "params: apidiff.spec is empty: set it to the swagger.json/yaml that swag generated")
	}
	if p.Has(CheckAPIDiff) && p.APIDiff.FailOn != "" {
		switch strings.ToUpper(p.APIDiff.FailOn) {
		case "ERR", "WARN", "INFO":
		default:
			return result.Errorf(result.ClassInput, "params: apidiff.failOn %q: want ERR, WARN or INFO", p.APIDiff.FailOn)
		}
	}
	return nil
}

func (p *Params) String() string {
	return fmt.Sprintf("dir=%s checks=%s", p.Dir, strings.Join(p.Checks, ","))
}

// exactKeys checks that every object key in v names a json field of t exactly (case-sensitive).
func exactKeys(v any, t reflect.Type, where string) error {
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	obj, ok := v.(map[string]any)
	if !ok || t.Kind() != reflect.Struct {
		return nil
	}
	for k, child := range obj {
		f, found := fieldByTag(t, k)
		if !found {
			return fmt.Errorf("%s: unknown field %q", where, k)
		}
		if err := exactKeys(child, f.Type, where+"."+k); err != nil {
			return err
		}
	}
	return nil
}

func fieldByTag(t reflect.Type, key string) (reflect.StructField, bool) {
	for i := 0; i < t.NumField(); i++ {
		f := t.Field(i)
		if name, _, _ := strings.Cut(f.Tag.Get("json"), ","); name == key {
			return f, true
		}
	}
	return reflect.StructField{}, false
}
