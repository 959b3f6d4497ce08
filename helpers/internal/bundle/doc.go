// Package bundle signs and verifies sigstore bundles (v0.3, cosign v3's default) with keys, through sigstore-go.
package bundle
