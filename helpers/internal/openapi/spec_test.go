package openapi

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/oasdiff/oasdiff/checker"
)

var docs = filepath.Join("..", "..", "..", "test", "fixtures", "example-service", "docs")

func mustLoad(t testing.TB, path string) []byte {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestLoadSpecAcceptsSwagger2AndOpenAPI3AndRejectsTheRest(t *testing.T) {
	cases := []struct {
		name    string
		data    string
		version string
		wantErr string
	}{
		{name: "swag's Swagger 2.0 JSON", data: string(mustLoad(t, filepath.Join(docs, "swagger.json"))), version: "2.0"},
		{name: "swag's Swagger 2.0 YAML", data: string(mustLoad(t, filepath.Join(docs, "swagger.yaml"))), version: "2.0"},
		{name: "OpenAPI 3 YAML", data: "openapi: 3.0.3\ninfo: {title: t, version: '1'}\npaths:\n  /a:\n    get:\n      responses:\n        '200': {description: ok}\n", version: "3.0.3"},
		{name: "OpenAPI 3 JSON", data: `{"openapi": "3.1.0", "info": {"title": "t", "version": "1"}, "paths": {}}`, version: "3.1.0"},
		{name: "an empty file", data: "  \n", wantErr: "empty document"},
		{name: "broken JSON", data: `{"swagger": "2.0",`, wantErr: "unexpected end of JSON input"},
		{name: "not JSON or YAML", data: "{a: [", wantErr: "not JSON or YAML"},
		{name: "a YAML list", data: "- a\n- b\n", wantErr: "not a mapping"},
		{name: "a mapping without a version", data: "title: x\n", wantErr: "neither"},
		{name: "Swagger 1.2", data: `{"swagger": "1.2"}`, wantErr: "unsupported swagger version"},
		{name: "OpenAPI 4", data: `{"openapi": "4.0.0"}`, wantErr: "unsupported openapi version"},
		{name: "Swagger 2.0 with a broken paths section", data: `{"swagger": "2.0", "paths": []}`, wantErr: "reading Swagger 2.0"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			doc, ver, err := LoadSpec([]byte(tc.data))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) || !errors.Is(err, ErrSpec) {
					t.Fatalf("err = %v, want an ErrSpec containing %q", err, tc.wantErr)
				}
				if strings.Contains(err.Error(), "\n") {
					t.Fatalf("error spans lines: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if ver != tc.version || doc == nil || doc.Paths == nil {
				t.Fatalf("version %q doc %v, want %q", ver, doc, tc.version)
			}
		})
	}
}

func TestBreakingFindsTheFixtureChanges(t *testing.T) {
	base, _, err := LoadSpec(mustLoad(t, filepath.Join(docs, "v1", "swagger.json")))
	if err != nil {
		t.Fatal(err)
	}
	cases := []struct {
		name    string
		head    string
		failOn  checker.Level
		allow   AllowList
		failing int
		allowed int
	}{
		{name: "compatible at ERR", head: "v2-compatible", failOn: checker.ERR},
		{name: "compatible at INFO fails on additions", head: "v2-compatible", failOn: checker.INFO, failing: 5},
		{name: "breaking at ERR", head: "v2-breaking", failOn: checker.ERR, failing: 4},
		{name: "breaking with one method-scoped allowance", head: "v2-breaking", failOn: checker.ERR, failing: 3, allowed: 1,
			allow: AllowList{{ID: "response-property-type-changed", Path: "/orders", Method: "post", Reason: "r"}}},
		{name: "an allowance for another method does not match", head: "v2-breaking", failOn: checker.ERR, failing: 4,
			allow: AllowList{{ID: "api-path-removed-without-deprecation", Path: "/orders/{id}", Method: "DELETE", Reason: "r"}}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			head, _, err := LoadSpec(mustLoad(t, filepath.Join(docs, tc.head, "swagger.json")))
			if err != nil {
				t.Fatal(err)
			}
			rep, err := Breaking(base, head, tc.failOn, tc.allow)
			if err != nil {
				t.Fatal(err)
			}
			if rep.Failing != tc.failing || rep.Allowed != tc.allowed {
				t.Fatalf("failing %d accepted %d, want %d and %d: %+v", rep.Failing, rep.Allowed, tc.failing, tc.allowed, rep.Changes)
			}
		})
	}
}

func TestParseAllowListRequiresAReasonForEveryEntry(t *testing.T) {
	cases := []struct {
		name    string
		data    string
		n       int
		wantErr string
	}{
		{name: "YAML list", data: "- id: a\n  path: /x\n  reason: because\n", n: 1},
		{name: "JSON list with method", data: `[{"id": "a", "path": "/x", "method": "GET", "reason": "r"}]`, n: 1},
		{name: "empty file", data: "", n: 0},
		{name: "missing reason", data: "- {id: a, path: /x}\n", wantErr: "entry 1 lacks reason"},
		{name: "blank id and path", data: "- {id: ' ', reason: r}\n", wantErr: "lacks id, path"},
		{name: "unknown field", data: "- {id: a, path: /x, reason: r, why: typo}\n", wantErr: "field why not found"},
		{name: "not a list", data: "id: a\n", wantErr: "want a list"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l, err := ParseAllowList([]byte(tc.data))
			if tc.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
					t.Fatalf("err = %v, want %q", err, tc.wantErr)
				}
				return
			}
			if err != nil || len(l) != tc.n {
				t.Fatalf("got %v, %v; want %d entries", l, err, tc.n)
			}
		})
	}
}

func ExampleBreaking() {
	base, _, _ := LoadSpec([]byte(`{"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": {"/a": {"get": {"responses": {"200": {"description": "ok"}}}}}}`))
	head, _, _ := LoadSpec([]byte(`{"swagger": "2.0", "info": {"title": "t", "version": "2"}, "paths": {}}`))
	level, _ := ParseLevel("ERR")
	rep, _ := Breaking(base, head, level, nil)
	for _, c := range rep.Changes {
		fmt.Println(c.ID, c.Operation, c.Path, c.Failing)
	}
	// Output: api-path-removed-without-deprecation GET /a true
}

func FuzzLoadSpec(f *testing.F) {
	// Small seeds keep minimisation cheap; the fixture specs run as unit tests above.
	f.Add([]byte(`{"swagger": "2.0", "info": {"title": "t", "version": "1"}, "paths": {"/a/{id}": {"get": {"parameters": [{"name": "id", "in": "path", "required": true, "type": "integer"}], "responses": {"200": {"description": "ok", "schema": {"$ref": "#/definitions/X"}}}}}}, "definitions": {"X": {"type": "object", "properties": {"n": {"type": "string"}}}}}`))
	f.Add([]byte("swagger: '2.0'\npaths:\n  /a:\n    post:\n      consumes: [application/json]\n      parameters:\n        - {in: body, name: b, required: true, schema: {type: object}}\n      responses: {'201': {description: ok}}\n"))
	f.Add([]byte(`{"openapi": "3.0.0", "paths": {"/a": {"$ref": "#/x"}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		doc, _, err := LoadSpec(data)
		if err != nil {
			if !errors.Is(err, ErrSpec) {
				t.Fatalf("unclassified error: %v", err)
			}
			return
		}
		if doc == nil {
			t.Fatal("nil doc without error")
		}
	})
}
