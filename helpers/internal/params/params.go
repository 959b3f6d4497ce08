package params

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"reflect"
	"sort"
	"strings"

	"github.com/release-gates/release-gates/helpers/internal/result"
)

// MaxBytes caps a params document.
const MaxBytes = 1 << 20

// Context is the build context the runner adds from the pipeline's env.
type Context struct {
	BuildURL    string `json:"buildUrl"`
	JobName     string `json:"jobName"`
	JobURL      string `json:"jobUrl"`
	BuildNumber string `json:"buildNumber"`
	GitURL      string `json:"gitUrl"`
	GitCommit   string `json:"gitCommit"`
	Branch      string `json:"branch"`
	TraceID     string `json:"traceId"`
	Workspace   string `json:"workspace"`
}

// Doc is the document the runner writes to .release-gates/<step>.params.json.
type Doc struct {
	Step    string            `json:"step"`
	Params  json.RawMessage   `json:"params"`
	Context Context           `json:"context"`
	Secrets map[string]string `json:"secrets"`         // credential role -> name of the env var withCredentials bound it to
	Input   json.RawMessage   `json:"input,omitempty"` // Jenkins-side data between verbs (StepRunner.runVerb), e.g. an input step's answer
}

// Validator is a step's Params struct: Validate names the Jenkinsfile key of the first problem.
type Validator interface{ Validate() error }

// IsDoc reports whether data is a runner document (an object with "step" and "params"), not an older bare params object.
func IsDoc(data []byte) bool {
	var probe map[string]json.RawMessage
	if json.Unmarshal(data, &probe) != nil {
		return false
	}
	_, s := probe["step"]
	_, p := probe["params"]
	return s && p
}

// ReadFile reads the params document at path.
func ReadFile(path string) (*Doc, []byte, error) {
	f, err := os.Open(path)
	if err != nil {
		return nil, nil, result.Errorf(result.ClassInput, "params file %s: %v", path, err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, MaxBytes+1))
	if err != nil {
		return nil, nil, result.Errorf(result.ClassInput, "reading params file %s: %v", path, err)
	}
	if len(data) > MaxBytes {
		return nil, nil, result.Errorf(result.ClassInput, "params file %s is larger than %d KiB", path, MaxBytes>>10)
	}
	d, err := Parse(data)
	return d, data, err
}

// Parse decodes a runner document strictly.
func Parse(data []byte) (*Doc, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var d Doc
	if err := dec.Decode(&d); err != nil {
		return nil, result.Errorf(result.ClassInput, "params document: %v", err)
	}
	if dec.More() {
		return nil, result.Errorf(result.ClassInput, "params document: trailing data after the JSON object")
	}
	if d.Step == "" {
		return nil, result.Errorf(result.ClassInput, "params document: no step name")
	}
	return &d, nil
}

// SecretEnv returns the name of the env var bound for role, "" when the Jenkinsfile set no credential for it.
func (d *Doc) SecretEnv(role string) string { return d.Secrets[role] }

// Secret returns the value of the env var bound for role ("" when unbound or empty).
func (d *Doc) Secret(role string) string {
	if n := d.SecretEnv(role); n != "" {
		return os.Getenv(n)
	}
	return ""
}

// Decode fills dst (a pointer to a Params struct) with its defaults, then the document's params, strictly, then validates it.
func (d *Doc) Decode(dst Validator) error {
	if err := Decode(d.Params, dst); err != nil {
		return err
	}
	return dst.Validate()
}

// Decode fills dst with the defaults of its fields, then with raw: an unknown key (with the nearest known key), a value
// of the wrong type or a missing required key is an input error naming the Jenkinsfile key; null means "the default".
func Decode(raw json.RawMessage, dst any) error {
	v := reflect.ValueOf(dst).Elem()
	fields := Fields(v.Type())
	if err := ApplyDefaults(dst); err != nil {
		return err
	}
	var obj map[string]json.RawMessage
	if len(bytes.TrimSpace(raw)) == 0 || string(bytes.TrimSpace(raw)) == "null" {
		obj = map[string]json.RawMessage{}
	} else if err := json.Unmarshal(raw, &obj); err != nil {
		return result.Errorf(result.ClassInput, "params must be one Map of parameters: %v", err)
	}
	keys := make([]string, 0, len(obj))
	for k := range obj {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	byName := map[string]Field{}
	var names []string
	for _, f := range fields {
		byName[f.Name] = f
		names = append(names, f.Name)
	}
	for _, k := range keys {
		f, ok := byName[k]
		if !ok {
			hint := ""
			if n := Nearest(k, names); n != "" {
				hint = fmt.Sprintf(" (did you mean '%s'?)", n)
			}
			return result.Errorf(result.ClassInput, "unknown parameter '%s'%s; known parameters: %s", k, hint, strings.Join(sorted(names), ", "))
		}
		val := bytes.TrimSpace(obj[k])
		if string(val) == "null" {
			if f.nullEmpty {
				fv := v.Field(f.index)
				fv.Set(reflect.Zero(fv.Type()))
			}
			continue
		}
		if err := decodeField(v.Field(f.index), f, val); err != nil {
			return err
		}
	}
	for _, f := range fields {
		if f.Required && isEmpty(v.Field(f.index)) {
			return result.Errorf(result.ClassInput, "parameter '%s' is required: %s", f.Name, f.Doc)
		}
		if u, ok := byName[f.RequiredUnless]; ok && isEmpty(v.Field(f.index)) && !isSet(v.Field(u.index)) {
			return result.Errorf(result.ClassInput, "parameter '%s' is required unless '%s' is set: %s", f.Name, u.Name, f.Doc)
		}
	}
	return nil
}

// ApplyDefaults sets every field of dst (a pointer to a Params struct) to its default tag.
func ApplyDefaults(dst any) error {
	v := reflect.ValueOf(dst).Elem()
	for _, f := range Fields(v.Type()) {
		if f.defaultJSON == "" {
			continue
		}
		if err := json.Unmarshal([]byte(f.defaultJSON), v.Field(f.index).Addr().Interface()); err != nil {
			return result.Errorf(result.ClassInternal, "default of %s %q: %v", f.Name, f.defaultJSON, err)
		}
	}
	return nil
}

func decodeField(fv reflect.Value, f Field, val []byte) error {
	target := reflect.New(fv.Type())
	dec := json.NewDecoder(bytes.NewReader(val))
	dec.UseNumber()
	if f.Type == TypeMap && fv.Type() == reflect.TypeOf(json.RawMessage{}) && (len(val) == 0 || val[0] != '{') {
		return typeError(f, val)
	}
	switch fv.Type() {
	case reflect.TypeOf([]string(nil)): // Groovy lists such as ['--port', 18080]: scalars become strings
		var list []any
		if err := dec.Decode(&list); err != nil {
			return typeError(f, val)
		}
		out := make([]string, 0, len(list))
		for _, e := range list {
			s, ok := scalar(e)
			if !ok {
				return typeError(f, val)
			}
			out = append(out, s)
		}
		fv.Set(reflect.ValueOf(out))
		return nil
	case reflect.TypeOf(map[string]string(nil)):
		var m map[string]any
		if err := dec.Decode(&m); err != nil {
			return typeError(f, val)
		}
		out := make(map[string]string, len(m))
		for k, e := range m {
			s, ok := scalar(e)
			if !ok {
				return result.Errorf(result.ClassInput, "parameter '%s' must map names to strings; '%s' is not one", f.Name, k)
			}
			out[k] = s
		}
		fv.Set(reflect.ValueOf(out))
		return nil
	}
	if err := dec.Decode(target.Interface()); err != nil {
		return typeError(f, val)
	}
	fv.Set(target.Elem())
	return nil
}

// scalar renders a JSON string, number or boolean as Groovy's toString() would; null becomes "".
func scalar(v any) (string, bool) {
	switch x := v.(type) {
	case nil:
		return "", true
	case string:
		return x, true
	case json.Number:
		return x.String(), true
	case bool:
		return fmt.Sprint(x), true
	}
	return "", false
}

func typeError(f Field, val []byte) error {
	got := "a value"
	switch {
	case len(val) == 0:
	case val[0] == '"':
		got = "a String"
	case val[0] == '[':
		got = "a List"
	case val[0] == '{':
		got = "a Map"
	case val[0] == 't' || val[0] == 'f':
		got = "a Boolean"
	default:
		got = "a Number"
	}
	shown := string(val)
	if len(shown) > 80 {
		shown = shown[:80] + "..."
	}
	want := f.GroovyType()
	if f.Type == TypeList && f.Elem != "" {
		want += " of " + Field{Type: f.Elem}.GroovyType() + "s"
	}
	return result.Errorf(result.ClassInput, "parameter '%s' must be %s, got %s %s", f.Name, Article(want), got, shown)
}

// isSet reports whether a value turns a requiredUnless field optional: true, or a value that is not empty.
func isSet(v reflect.Value) bool {
	if v.Kind() == reflect.Bool {
		return v.Bool()
	}
	return !isEmpty(v) && !v.IsZero()
}

func isEmpty(v reflect.Value) bool {
	switch v.Kind() {
	case reflect.String:
		return strings.TrimSpace(v.String()) == ""
	case reflect.Slice, reflect.Map:
		return v.Len() == 0
	}
	return false
}

func sorted(s []string) []string {
	out := append([]string(nil), s...)
	sort.Strings(out)
	return out
}

// Nearest returns the known key closest to key when it is a plausible typo, else "" (the Groovy runner uses the same rule).
func Nearest(key string, known []string) string {
	best, bestD := "", 1<<30
	for _, k := range known {
		if d := distance(strings.ToLower(key), strings.ToLower(k)); d < bestD {
			best, bestD = k, d
		}
	}
	limit := len(key) / 3
	if limit < 2 {
		limit = 2
	}
	if bestD <= limit {
		return best
	}
	return ""
}

func distance(a, b string) int {
	prev := make([]int, len(b)+1)
	cur := make([]int, len(b)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(a); i++ {
		cur[0] = i
		for j := 1; j <= len(b); j++ {
			cost := 1
			if a[i-1] == b[j-1] {
				cost = 0
			}
			cur[j] = min(cur[j-1]+1, prev[j]+1, prev[j-1]+cost)
		}
		prev, cur = cur, prev
	}
	return prev[len(b)]
}

// Article returns noun with its indefinite article, as error messages name a type ("an Integer", "a List").
func Article(noun string) string {
	if noun != "" && strings.ContainsRune("AEIOUaeiou", rune(noun[0])) {
		return "an " + noun
	}
	return "a " + noun
}
