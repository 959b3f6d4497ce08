// Command specgen writes a base/head OpenAPI 3 spec pair with N paths and a known set of breaking changes, for benchmarks.
package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"path/filepath"
)

type obj = map[string]any

func schemaName(i int) string { return fmt.Sprintf("Resource%04d", i) }

// spec builds the document; head applies the breaking and additive changes.
func spec(n int, head bool) obj {
	paths := obj{}
	schemas := obj{}
	for i := 0; i < n; i++ {
		name := schemaName(i)
		props := obj{
			"id":      obj{"type": "integer", "format": "int64"},
			"name":    obj{"type": "string", "maxLength": 200},
			"count":   obj{"type": "integer"},
			"created": obj{"type": "string", "format": "date-time"},
		}
		if head && i%100 == 1 { // 10 response property type changes
			props["count"] = obj{"type": "string"}
		}
		if head && i%50 == 7 { // 20 new optional properties
			props["note"] = obj{"type": "string"}
		}
		schemas[name] = obj{"type": "object", "required": []string{"id", "name"}, "properties": props}
		if head && i%100 == 0 { // 10 removed paths
			continue
		}
		limit := obj{"name": "limit", "in": "query", "required": head && i%100 == 2, "schema": obj{"type": "integer"}} // 10 params become required
		ref := obj{"$ref": "#/components/schemas/" + name}
		paths[fmt.Sprintf("/api/v1/group%02d/resource%04d", i%20, i)] = obj{
			"get": obj{
				"operationId": fmt.Sprintf("list%04d", i),
				"parameters":  []any{limit, obj{"name": "cursor", "in": "query", "schema": obj{"type": "string"}}},
				"responses": obj{
					"200": obj{"description": "ok", "content": obj{"application/json": obj{"schema": obj{"type": "array", "items": ref}}}},
					"400": obj{"description": "bad request"},
				},
			},
			"post": obj{
				"operationId": fmt.Sprintf("create%04d", i),
				"requestBody": obj{"required": true, "content": obj{"application/json": obj{"schema": ref}}},
				"responses":   obj{"201": obj{"description": "created"}},
			},
		}
	}
	if head {
		for i := 0; i < n/50; i++ { // 20 added paths
			paths[fmt.Sprintf("/api/v2/extra%04d", i)] = obj{"get": obj{"responses": obj{"200": obj{"description": "ok"}}}}
		}
	}
	version := "1.0.0"
	if head {
		version = "2.0.0"
	}
	return obj{
		"openapi":    "3.0.3",
		"info":       obj{"title": "bench", "version": version},
		"paths":      paths,
		"components": obj{"schemas": schemas},
	}
}

func main() {
	n := flag.Int("paths", 1000, "number of paths in the base spec")
	out := flag.String("out", ".", "directory for base.json and head.json")
	flag.Parse()
	if err := os.MkdirAll(*out, 0o755); err != nil {
		fmt.Fprintln(os.Stderr, "specgen:", err)
		os.Exit(2)
	}
	for name, head := range map[string]bool{"base.json": false, "head.json": true} {
		b, err := json.MarshalIndent(spec(*n, head), "", "  ")
		if err == nil {
			err = os.WriteFile(filepath.Join(*out, name), b, 0o644)
		}
		if err != nil {
			fmt.Fprintln(os.Stderr, "specgen:", err)
			os.Exit(2)
		}
	}
}
