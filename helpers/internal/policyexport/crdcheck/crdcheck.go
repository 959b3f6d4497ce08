// Package crdcheck validates YAML documents against the openAPIV3Schema of a served CustomResourceDefinition version, strictly, as an API server does with fieldValidation=Strict.
package crdcheck

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"gopkg.in/yaml.v3"
)

// EnvDir names the directory holding the engines' CRDs when it is not shared/admission beside the repository.
const EnvDir = "RELEASE_GATES_ADMISSION_DIR"

// Dir finds the admission CRDs: $RELEASE_GATES_ADMISSION_DIR, else shared/admission in the nearest ancestor of from.
func Dir(from string) (string, error) {
	if d := os.Getenv(EnvDir); d != "" {
		if st, err := os.Stat(d); err != nil || !st.IsDir() {
			return "", fmt.Errorf("%s=%s is not a directory", EnvDir, d)
		}
		return d, nil
	}
	abs, err := filepath.Abs(from)
	if err != nil {
		return "", err
	}
	for d := abs; ; d = filepath.Dir(d) {
		cand := filepath.Join(d, "shared", "admission")
		if st, err := os.Stat(cand); err == nil && st.IsDir() {
			return cand, nil
		}
		if filepath.Dir(d) == d {
			break
		}
	}
	return "", fmt.Errorf("no shared/admission directory with the admission engines' CRDs above %s: put the CRDs there (see its README) or set %s", abs, EnvDir)
}

// Schema is one served CRD version's schema, ready to validate objects of its kind.
type Schema struct {
	APIVersion string // group/version
	Kind       string
	schema     *jsonschema.Schema
}

// Load reads the CRD file and compiles the openAPIV3Schema of version, which must be served.
func Load(path, version string) (*Schema, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var crd struct {
		Spec struct {
			Group string `yaml:"group"`
			Names struct {
				Kind string `yaml:"kind"`
			} `yaml:"names"`
			Versions []struct {
				Name   string `yaml:"name"`
				Served bool   `yaml:"served"`
				Schema struct {
					OpenAPIV3Schema map[string]any `yaml:"openAPIV3Schema"`
				} `yaml:"schema"`
			} `yaml:"versions"`
		} `yaml:"spec"`
	}
	if err := yaml.Unmarshal(b, &crd); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	var served []string
	for _, v := range crd.Spec.Versions {
		if v.Served {
			served = append(served, v.Name)
		}
		if v.Name != version {
			continue
		}
		if !v.Served {
			return nil, fmt.Errorf("%s: version %s is not served", path, version)
		}
		if v.Schema.OpenAPIV3Schema == nil {
			return nil, fmt.Errorf("%s: version %s has no openAPIV3Schema", path, version)
		}
		root := v.Schema.OpenAPIV3Schema
		// apiVersion, kind and metadata are the API server's own, valid at the root whatever the CRD lists.
		props, _ := root["properties"].(map[string]any)
		if props == nil {
			props = map[string]any{}
			root["properties"] = props
		}
		for k, typ := range map[string]string{"apiVersion": "string", "kind": "string", "metadata": "object"} {
			if _, ok := props[k]; !ok {
				props[k] = map[string]any{"type": typ}
			}
		}
		strict(root)
		doc, err := jsonValue(v.Schema.OpenAPIV3Schema)
		if err != nil {
			return nil, err
		}
		c := jsonschema.NewCompiler()
		c.DefaultDraft(jsonschema.Draft4)
		url := "file:///" + filepath.Base(path) + "." + version + ".json"
		if err := c.AddResource(url, doc); err != nil {
			return nil, err
		}
		sch, err := c.Compile(url)
		if err != nil {
			return nil, fmt.Errorf("%s %s: compiling the schema: %v", path, version, err)
		}
		return &Schema{APIVersion: crd.Spec.Group + "/" + version, Kind: crd.Spec.Names.Kind, schema: sch}, nil
	}
	return nil, fmt.Errorf("%s: no version %s (served: %s)", path, version, strings.Join(served, ", "))
}

// strict makes unknown fields errors, as the API server's strict field validation does: every object schema with
// properties and neither additionalProperties nor x-kubernetes-preserve-unknown-fields gets additionalProperties
// false. Lists of x-kubernetes-list-type set must hold unique items.
func strict(s map[string]any) {
	if _, ok := s["properties"]; ok {
		if _, has := s["additionalProperties"]; !has && s["x-kubernetes-preserve-unknown-fields"] != true {
			s["additionalProperties"] = false
		}
	}
	if s["x-kubernetes-list-type"] == "set" {
		s["uniqueItems"] = true
	}
	for _, k := range []string{"properties", "patternProperties"} {
		if props, ok := s[k].(map[string]any); ok {
			for _, p := range props {
				if ps, ok := p.(map[string]any); ok {
					strict(ps)
				}
			}
		}
	}
	for _, k := range []string{"items", "additionalProperties", "not"} {
		if sub, ok := s[k].(map[string]any); ok {
			strict(sub)
		}
	}
	for _, k := range []string{"allOf", "anyOf", "oneOf"} {
		if subs, ok := s[k].([]any); ok {
			for _, x := range subs {
				if xs, ok := x.(map[string]any); ok {
					strict(xs)
				}
			}
		}
	}
}

func jsonValue(v any) (any, error) {
	b, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return jsonschema.UnmarshalJSON(bytes.NewReader(b))
}

// ValidateYAML validates every document of s's kind in b and returns how many it checked. A document of that kind
// with another apiVersion is an error, and so is finding none.
func (s *Schema) ValidateYAML(b []byte) (int, error) {
	dec := yaml.NewDecoder(bytes.NewReader(b))
	n := 0
	for i := 1; ; i++ {
		var doc map[string]any
		if err := dec.Decode(&doc); err != nil {
			if errors.Is(err, io.EOF) {
				break
			}
			return n, fmt.Errorf("document %d: %v", i, err)
		}
		if doc == nil || doc["kind"] != s.Kind {
			continue
		}
		if doc["apiVersion"] != s.APIVersion {
			return n, fmt.Errorf("document %d: %s apiVersion %v, want %s", i, s.Kind, doc["apiVersion"], s.APIVersion)
		}
		inst, err := jsonValue(doc)
		if err != nil {
			return n, err
		}
		if err := s.schema.Validate(inst); err != nil {
			return n, fmt.Errorf("document %d (%s %v): %v", i, s.Kind, name(doc), err)
		}
		n++
	}
	if n == 0 {
		return 0, fmt.Errorf("no %s %s document", s.APIVersion, s.Kind)
	}
	return n, nil
}

func name(doc map[string]any) any {
	if md, ok := doc["metadata"].(map[string]any); ok {
		return md["name"]
	}
	return nil
}
