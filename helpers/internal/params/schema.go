package params

import (
	"bytes"
	"encoding/json"
	"fmt"
	"reflect"
	"sort"
	"strings"
)

// Schema types of a parameter.
const (
	TypeString  = "string"
	TypeBoolean = "boolean"
	TypeInteger = "integer"
	TypeList    = "list"
	TypeMap     = "map"
)

// Credential kinds the runner binds with withCredentials.
const (
	KindFile             = "file"
	KindString           = "string"
	KindUsernamePassword = "usernamePassword"
)

// Field is one parameter of a step, read from a Params struct field's tags:
// json (the Jenkinsfile key), default (JSON), doc, example (Groovy), need (e.g. "required with keyring"), required,
// requiredUnless (the key that makes it optional when set),
// and null:"empty" when an explicit null means "none" rather than "the default".
type Field struct {
	Name     string `json:"name"`
	Type     string `json:"type"`
	Default  any    `json:"default,omitempty"`
	Required bool   `json:"required,omitempty"`
	// RequiredUnless names the parameter that, when set (true, or not empty), makes this one optional; else it is required.
	RequiredUnless string `json:"requiredUnless,omitempty"`
	Need           string `json:"need,omitempty"`
	Doc            string `json:"doc"`
	Example        string `json:"example,omitempty"`
	// Elem is the schema type of a list's elements or a map's values ("string": a Groovy scalar, kept as its text); empty: any.
	Elem string `json:"elem,omitempty"`

	index       int
	defaultJSON string
	nullEmpty   bool // null sets the zero value (e.g. approval: null skips), not the default
}

// GroovyType is the field's type as the help page names it.
func (f Field) GroovyType() string {
	switch f.Type {
	case TypeString:
		return "String"
	case TypeBoolean:
		return "Boolean"
	case TypeInteger:
		return "Integer"
	case TypeList:
		return "List"
	default:
		return "Map"
	}
}

// Credential is one row of a step's credential table: the Jenkinsfile key holding a credentials id, how the runner
// binds it and the env var(s) it binds it to; the params document's secrets map names them by role
// (a usernamePassword row gives role+"Username" and role+"Password").
type Credential struct {
	Param            string `json:"param"`
	Kind             string `json:"kind"`
	Role             string `json:"role"`
	Variable         string `json:"variable,omitempty"`
	UsernameVariable string `json:"usernameVariable,omitempty"`
	PasswordVariable string `json:"passwordVariable,omitempty"`
	Verb             string `json:"verb,omitempty"` // the one helper verb that needs it (StepRunner.runVerb); empty: every verb
}

// Step declares one pipeline step: its helper, its Params struct, its credentials and its help text.
type Step struct {
	Name        string
	Helper      string
	Help        string // the help page's text before the parameter list
	Footer      string // the help page's text after it (examples)
	Params      func() Validator
	Credentials []Credential
}

// Schema is resources/steps/<step>.json, which the Groovy runner checks a step's Map against.
type Schema struct {
	Step        string       `json:"step"`
	Helper      string       `json:"helper"`
	Verb        string       `json:"verb"`
	Params      []Field      `json:"params"`
	Credentials []Credential `json:"credentials"`
}

// Fields returns the parameters of a Params struct type, in declaration order.
func Fields(t reflect.Type) []Field {
	var out []Field
	for i := 0; i < t.NumField(); i++ {
		sf := t.Field(i)
		name, _, _ := strings.Cut(sf.Tag.Get("json"), ",")
		if name == "" || name == "-" {
			continue
		}
		f := Field{Name: name, Doc: sf.Tag.Get("doc"), Example: sf.Tag.Get("example"), Need: sf.Tag.Get("need"),
			Required: sf.Tag.Get("required") == "true", RequiredUnless: sf.Tag.Get("requiredUnless"), index: i, defaultJSON: sf.Tag.Get("default"), nullEmpty: sf.Tag.Get("null") == "empty"}
		f.Type, f.Elem = typeOf(sf.Type)
		if f.defaultJSON != "" {
			_ = json.Unmarshal([]byte(f.defaultJSON), &f.Default)
		}
		out = append(out, f)
	}
	return out
}

func typeOf(t reflect.Type) (string, string) {
	if t == reflect.TypeOf(json.RawMessage{}) {
		return TypeMap, ""
	}
	switch t.Kind() {
	case reflect.String:
		return TypeString, ""
	case reflect.Bool:
		return TypeBoolean, ""
	case reflect.Int, reflect.Int64, reflect.Int32:
		return TypeInteger, ""
	case reflect.Slice:
		e, _ := typeOf(t.Elem())
		return TypeList, e
	case reflect.Map:
		if t.Elem().Kind() == reflect.String {
			return TypeMap, TypeString
		}
		return TypeMap, ""
	}
	panic(fmt.Sprintf("params: unsupported field type %s", t))
}

// Schema returns the step's schema.
func (s Step) Schema() Schema {
	return Schema{Step: s.Name, Helper: s.Helper, Verb: "run", Params: Fields(reflect.TypeOf(s.Params()).Elem()), Credentials: s.Credentials}
}

// SchemaJSON returns the schema as the committed resources/steps/<step>.json.
func (s Step) SchemaJSON() []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(s.Schema()); err != nil {
		panic(err)
	}
	return b.Bytes()
}

// HelpText returns the committed vars/<step>.txt: the step's help, then one line per parameter.
func (s Step) HelpText() []byte {
	var b strings.Builder
	b.WriteString(withBugLine(strings.TrimRight(s.Help, "\n"), s.BugLine()))
	b.WriteString("\n\nParameters (one Map; paths relative to the workspace; generated from the Go Params struct):\n")
	for _, f := range s.Schema().Params {
		need := "optional"
		if f.Required {
			need = "required"
		}
		if f.RequiredUnless != "" {
			need = "required unless " + f.RequiredUnless
		}
		if f.Need != "" {
			need = f.Need
		}
		fmt.Fprintf(&b, "  %s (%s, %s, default %s): %s", f.Name, f.GroovyType(), need, GroovyLiteral(f.Default), f.Doc)
		if f.Example != "" {
			fmt.Fprintf(&b, " Example: %s: %s", f.Name, f.Example)
		}
		b.WriteString("\n")
	}
	if len(s.Credentials) > 0 {
		b.WriteString("\nCredentials (bound with withCredentials for the one helper call; the helper reads them from the environment):\n")
		for _, c := range s.Credentials {
			switch c.Kind {
			case KindUsernamePassword:
				fmt.Fprintf(&b, "  %s: usernamePassword -> %s / %s\n", c.Param, c.UsernameVariable, c.PasswordVariable)
			default:
				fmt.Fprintf(&b, "  %s: %s -> %s\n", c.Param, c.Kind, c.Variable)
			}
		}
	}
	if s.Footer != "" {
		b.WriteString("\n" + strings.TrimRight(s.Footer, "\n") + "\n")
	}
	return []byte(b.String())
}

// GroovyLiteral renders a JSON value as Groovy's inspect() does (null, 'text', [a, b], [:], [k: v]).
func GroovyLiteral(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "'" + strings.ReplaceAll(strings.ReplaceAll(x, `\`, `\\`), "'", `\'`) + "'"
	case bool:
		return fmt.Sprint(x)
	case float64:
		return fmt.Sprint(x)
	case []any:
		parts := make([]string, len(x))
		for i, e := range x {
			parts[i] = GroovyLiteral(e)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		if len(x) == 0 {
			return "[:]"
		}
		keys := make([]string, 0, len(x))
		for k := range x {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = "(" + GroovyLiteral(k) + "):" + GroovyLiteral(x[k])
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(v)
}

// BugLine is the help page's line for exit 4, the same for every step (the runner's failureMessage for a helper bug).
func (s Step) BugLine() string {
	return fmt.Sprintf("  %s: helper bug, please report (helper %s, trace <id>): ...   a bug in the helper, not in the Jenkinsfile: report it with the trace id (exit 4)",
		s.Name, s.Helper)
}

// withBugLine adds line at the end of help's "Fails the build with:" list, or as that list when help has none.
func withBugLine(help, line string) string {
	lines := strings.Split(help, "\n")
	for i, l := range lines {
		if strings.TrimSpace(l) != "Fails the build with:" {
			continue
		}
		j := i + 1
		for j < len(lines) && strings.HasPrefix(lines[j], "  ") {
			j++
		}
		out := append(append(append([]string{}, lines[:j]...), line), lines[j:]...)
		return strings.Join(out, "\n")
	}
	return help + "\n\nFails the build with:\n" + line
}
