// Package registry resolves image references to digests and gives cosign and notation authenticated, retried access to OCI registries.
package registry
