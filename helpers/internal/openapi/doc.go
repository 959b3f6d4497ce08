// Package openapi loads Swagger 2.0 and OpenAPI 3 specs and finds breaking changes between two of them with oasdiff.
package openapi
