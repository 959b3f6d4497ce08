package policyexport

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"gopkg.in/yaml.v3"
)

// Schema is the subset of a CRD's structural openAPIV3Schema that Validate checks.
type Schema struct {
	Type                  string             `json:"type"`
	Properties            map[string]*Schema `json:"properties"`
	Items                 *Schema            `json:"items"`
	AdditionalProperties  *Schema            `json:"additionalProperties"`
	Required              []string           `json:"required"`
	Enum                  []any              `json:"enum"`
	PreserveUnknownFields bool               `json:"x-kubernetes-preserve-unknown-fields"`
	IntOrString           bool               `json:"x-kubernetes-int-or-string"`
}

// ParseSchema reads a schema from JSON.
func ParseSchema(b []byte) (*Schema, error) {
	var s Schema
	if err := json.Unmarshal(b, &s); err != nil {
		return nil, err
	}
	return &s, nil
}

// ValidateYAML checks every YAML document in b against s, as the API server would before pruning: an unknown
// field, a wrong type, a missing required field or a value outside an enum is an error naming its path.
func ValidateYAML(s *Schema, b []byte, kind string) error {
	dec := yaml.NewDecoder(strings.NewReader(string(b)))
	n := 0
	for {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			if err.Error() == "EOF" {
				break
			}
			return err
		}
		n++
		if doc["kind"] != kind {
			continue
		}
		// apiVersion, kind and metadata are the API server's, not the CRD's.
		delete(doc, "apiVersion")
		delete(doc, "kind")
		delete(doc, "metadata")
		if err := s.validate(doc, "doc"+fmt.Sprint(n)); err != nil {
			return err
		}
	}
	return nil
}

func (s *Schema) validate(v any, path string) error {
	if s == nil || s.PreserveUnknownFields && s.Properties == nil {
		return nil
	}
	if s.IntOrString {
		switch v.(type) {
		case int, string:
			return nil
		}
		return fmt.Errorf("%s: want int or string, got %T", path, v)
	}
	if len(s.Enum) > 0 && !inEnum(s.Enum, v) {
		return fmt.Errorf("%s: %v is not one of %v", path, v, s.Enum)
	}
	switch s.Type {
	case "object":
		obj, ok := v.(map[string]any)
		if !ok {
			return fmt.Errorf("%s: want object, got %T", path, v)
		}
		for _, r := range s.Required {
			if _, ok := obj[r]; !ok {
				return fmt.Errorf("%s: required field %q missing", path, r)
			}
		}
		keys := make([]string, 0, len(obj))
		for k := range obj {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			sub, ok := s.Properties[k]
			if !ok {
				sub = s.AdditionalProperties
			}
			if sub == nil {
				if s.PreserveUnknownFields {
					continue
				}
				return fmt.Errorf("%s: unknown field %q", path, k)
			}
			if err := sub.validate(obj[k], path+"."+k); err != nil {
				return err
			}
		}
	case "array":
		arr, ok := v.([]any)
		if !ok {
			return fmt.Errorf("%s: want array, got %T", path, v)
		}
		for i, x := range arr {
			if err := s.Items.validate(x, fmt.Sprintf("%s[%d]", path, i)); err != nil {
				return err
			}
		}
	case "string":
		if _, ok := v.(string); !ok {
			return fmt.Errorf("%s: want string, got %T", path, v)
		}
	case "boolean":
		if _, ok := v.(bool); !ok {
			return fmt.Errorf("%s: want boolean, got %T", path, v)
		}
	case "integer":
		if _, ok := v.(int); !ok {
			return fmt.Errorf("%s: want integer, got %T", path, v)
		}
	}
	return nil
}

func inEnum(enum []any, v any) bool {
	for _, e := range enum {
		if fmt.Sprint(e) == fmt.Sprint(v) {
			return true
		}
	}
	return false
}
