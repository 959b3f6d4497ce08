package vocab

import (
	"fmt"
	"sort"
	"strings"
)

// Option is a neutral option identifier: the helper flag's name without dashes ("allow-dirty"), or Env(name) for a
// secret the helper reads from an environment variable.
type Option string

// Env is the option of a secret read from the environment variable name (PKCS11_PIN): a CLI user sets the variable,
// a step binds it from a Jenkins credential.
func Env(name string) Option { return Option("$" + name) }

// Spelling renders an option set to a value, as its user writes it; a nil value names the option alone (a Jenkinsfile
// spelling then shows the value the Jenkinsfile gave, when it knows it).
type Spelling interface {
	Spell(o Option, value any) string
}

// Say spells o set to value with s, or as a helper flag when s is nil: internal packages default to the CLI's words.
func Say(s Spelling, o Option, value any) string {
	if s == nil {
		s = Flags{}
	}
	return s.Spell(o, value)
}

// Flags spells options as helper flags: "--out-dir dist/sigs", "--allow-dirty", "$PKCS11_PIN".
type Flags struct{}

// Spell renders o as a flag with its value shell-quoted where needed; true is the bare flag.
func (Flags) Spell(o Option, value any) string {
	if strings.HasPrefix(string(o), "$") {
		return string(o)
	}
	f := "--" + string(o)
	switch v := value.(type) {
	case nil:
		return f
	case bool:
		if v {
			return f
		}
		return f + "=false"
	case string:
		return f + " " + shellQuote(v)
	case []string:
		parts := make([]string, len(v))
		for i, s := range v {
			parts[i] = f + " " + shellQuote(s)
		}
		return strings.Join(parts, " ")
	}
	return fmt.Sprintf("%s %v", f, value)
}

// Keys spells options as Jenkinsfile keys: "outDir: 'dist/sigs'", "allowDirty: true", "pinCredentialsId: 'hsm-pin'".
type Keys struct {
	Names map[Option]string // option -> the step's key; an option missing here is spelled by its neutral identifier
	Given map[Option]any    // the values the Jenkinsfile set, shown when a message names an option alone; never a secret
}

// Spell renders o as key: value, with value as a Groovy literal.
func (k Keys) Spell(o Option, value any) string {
	name, ok := k.Names[o]
	if !ok {
		name = strings.TrimPrefix(string(o), "$")
	}
	if value == nil {
		value = k.Given[o]
	}
	if value == nil || isZero(value) {
		return name
	}
	return name + ": " + Groovy(value)
}

func isZero(v any) bool {
	switch x := v.(type) {
	case string:
		return x == ""
	case []string:
		return len(x) == 0
	}
	return false
}

// Groovy renders value as a Jenkinsfile writes it: 'text', true, 8, ['a', 'b'], [K: 'v'].
func Groovy(value any) string {
	switch v := value.(type) {
	case string:
		return "'" + strings.NewReplacer(`\`, `\\`, `'`, `\'`, "\n", `\n`).Replace(v) + "'"
	case []string:
		parts := make([]string, len(v))
		for i, s := range v {
			parts[i] = Groovy(s)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]string:
		if len(v) == 0 {
			return "[:]"
		}
		names := make([]string, 0, len(v))
		for n := range v {
			names = append(names, n)
		}
		sort.Strings(names)
		parts := make([]string, len(names))
		for i, n := range names {
			parts[i] = n + ": " + Groovy(v[n])
		}
		return "[" + strings.Join(parts, ", ") + "]"
	}
	return fmt.Sprint(value)
}

// shellQuote single-quotes s unless it is made of characters a shell leaves alone.
func shellQuote(s string) string {
	if s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789-_./:=@+,%") == "" {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}
