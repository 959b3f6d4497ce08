package openapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/getkin/kin-openapi/openapi2"
	"github.com/getkin/kin-openapi/openapi2conv"
	"github.com/getkin/kin-openapi/openapi3"
	"gopkg.in/yaml.v3"
)

// ErrSpec marks an error in the spec document itself (not JSON/YAML, not an OpenAPI document).
var ErrSpec = errors.New("invalid spec")

// MaxSpecBytes caps the size of one spec document.
const MaxSpecBytes = 64 << 20

// versionProbe reads just the version keys of a document.
type versionProbe struct {
	Swagger string `json:"swagger" yaml:"swagger"`
	OpenAPI string `json:"openapi" yaml:"openapi"`
}

// LoadSpec parses a Swagger 2.0 or OpenAPI 3 document (JSON or YAML) into OpenAPI 3 with resolved refs.
// It returns the OpenAPI version it found ("2.0", "3.0.3", ...). External refs are refused.
func LoadSpec(data []byte) (*openapi3.T, string, error) {
	if len(data) > MaxSpecBytes {
		return nil, "", fmt.Errorf("%w: larger than %d MiB", ErrSpec, MaxSpecBytes>>20)
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, "", fmt.Errorf("%w: empty document", ErrSpec)
	}
	var probe versionProbe
	if err := decodeProbe(data, &probe); err != nil {
		return nil, "", fmt.Errorf("%w: not JSON or YAML: %s", ErrSpec, firstLine(err))
	}
	switch {
	case probe.Swagger == "2.0":
		var doc2 openapi2.T
		if err := openapi2.UnmarshalFromData(data, &doc2); err != nil {
			return nil, "", fmt.Errorf("%w: reading Swagger 2.0: %s", ErrSpec, firstLine(err))
		}
		doc3, err := toV3(&doc2)
		if err != nil {
			return nil, "", fmt.Errorf("%w: converting Swagger 2.0 to OpenAPI 3: %s", ErrSpec, firstLine(err))
		}
		return doc3, "2.0", nil
	case len(probe.OpenAPI) >= 2 && probe.OpenAPI[:2] == "3.":
		doc, err := loadV3(data)
		if err != nil {
			return nil, "", fmt.Errorf("%w: reading OpenAPI %s: %s", ErrSpec, probe.OpenAPI, firstLine(err))
		}
		return doc, probe.OpenAPI, nil
	case probe.Swagger != "":
		return nil, "", fmt.Errorf("%w: unsupported swagger version %q (want 2.0)", ErrSpec, probe.Swagger)
	case probe.OpenAPI != "":
		return nil, "", fmt.Errorf("%w: unsupported openapi version %q (want 3.x)", ErrSpec, probe.OpenAPI)
	default:
		return nil, "", fmt.Errorf("%w: neither a \"swagger\": \"2.0\" nor an \"openapi\": \"3.x\" document", ErrSpec)
	}
}

// loadV3 parses OpenAPI 3. JSON goes straight through encoding/json: kin-openapi's loader parses YAML first,
// which for a JSON document builds a node tree that costs time and memory.
func loadV3(data []byte) (*openapi3.T, error) {
	loader := openapi3.NewLoader()
	if !looksJSON(data) {
		return loader.LoadFromData(data)
	}
	doc := &openapi3.T{}
	if err := json.Unmarshal(data, doc); err != nil {
		return loader.LoadFromData(data) // e.g. duplicate keys: let the loader decide
	}
	if err := loader.ResolveRefsIn(doc, nil); err != nil {
		return nil, err
	}
	return doc, nil
}

func looksJSON(data []byte) bool {
	trimmed := bytes.TrimLeft(data, " \t\r\n")
	return len(trimmed) > 0 && trimmed[0] == '{'
}

// toV3 converts with a recover, because the converter can panic on odd but parseable input.
func toV3(doc2 *openapi2.T) (doc3 *openapi3.T, err error) {
	defer func() {
		if r := recover(); r != nil {
			doc3, err = nil, fmt.Errorf("converter failed: %v", r)
		}
	}()
	return openapi2conv.ToV3(doc2)
}

// decodeProbe reads the version keys from JSON (fast path) or YAML.
func decodeProbe(data []byte, p *versionProbe) error {
	if looksJSON(data) {
		if err := probeJSON(data, p); err == nil {
			return nil
		}
	}
	var node yaml.Node
	if err := yaml.Unmarshal(data, &node); err != nil {
		return err
	}
	if node.Kind != yaml.DocumentNode || len(node.Content) == 0 || node.Content[0].Kind != yaml.MappingNode {
		return errors.New("the document is not a mapping")
	}
	m := node.Content[0]
	for i := 0; i+1 < len(m.Content); i += 2 {
		k, v := m.Content[i], m.Content[i+1]
		if v.Kind != yaml.ScalarNode {
			continue
		}
		switch k.Value {
		case "swagger":
			p.Swagger = v.Value
		case "openapi":
			p.OpenAPI = v.Value
		}
	}
	return nil
}

// firstLine keeps errors on one line for the result file and the console.
func firstLine(err error) string {
	s := strings.Join(strings.Fields(err.Error()), " ")
	if len(s) > 300 {
		s = s[:300] + "..."
	}
	return s
}

// probeJSON streams the top-level keys until it has the version, without decoding the rest of the document.
func probeJSON(data []byte, p *versionProbe) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	if _, err := dec.Token(); err != nil { // the opening brace
		return err
	}
	for dec.More() {
		tok, err := dec.Token()
		if err != nil {
			return err
		}
		key, _ := tok.(string)
		var target *string
		switch key {
		case "swagger":
			target = &p.Swagger
		case "openapi":
			target = &p.OpenAPI
		}
		if target != nil {
			var v any
			if err := dec.Decode(&v); err != nil {
				return err
			}
			if s, ok := v.(string); ok {
				*target = s
			}
			return nil
		}
		var skip json.RawMessage
		if err := dec.Decode(&skip); err != nil {
			return err
		}
	}
	return nil
}
