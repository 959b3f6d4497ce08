package openapi

import (
	"bytes"
	"errors"
	"fmt"
	"strings"

	"gopkg.in/yaml.v3"
)

// Allowance accepts one known breaking change; Reason is required so that every exception is explained.
type Allowance struct {
	ID     string `yaml:"id" json:"id"`
	Path   string `yaml:"path" json:"path"`
	Method string `yaml:"method,omitempty" json:"method,omitempty"`
	Reason string `yaml:"reason" json:"reason"`
}

// AllowList is the set of accepted changes.
type AllowList []Allowance

// ParseAllowList reads a YAML or JSON list of {id, path, method?, reason}.
func ParseAllowList(data []byte) (AllowList, error) {
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, nil
	}
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var list AllowList
	if err := dec.Decode(&list); err != nil {
		return nil, fmt.Errorf("want a list of {id, path, method?, reason}: %s", firstLine(err))
	}
	var problems []string
	for i, a := range list {
		var missing []string
		if strings.TrimSpace(a.ID) == "" {
			missing = append(missing, "id")
		}
		if strings.TrimSpace(a.Path) == "" {
			missing = append(missing, "path")
		}
		if strings.TrimSpace(a.Reason) == "" {
			missing = append(missing, "reason")
		}
		if len(missing) > 0 {
			problems = append(problems, fmt.Sprintf("entry %d lacks %s", i+1, strings.Join(missing, ", ")))
		}
	}
	if len(problems) > 0 {
		return nil, errors.New(strings.Join(problems, "; "))
	}
	return list, nil
}

// Match returns the allowance that accepts a change, or nil.
func (l AllowList) Match(id, path, method string) *Allowance {
	for i := range l {
		a := &l[i]
		if a.ID == id && a.Path == path && (a.Method == "" || strings.EqualFold(a.Method, method)) {
			return a
		}
	}
	return nil
}
