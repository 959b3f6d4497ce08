// Package release checks a release's evidence before deploy (signatures, provenance, approval) and finds rollback targets.
package release
