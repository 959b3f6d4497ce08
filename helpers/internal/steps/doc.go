// Package steps lists every pipeline step declared in Go and writes its generated schema and help page.
package steps
