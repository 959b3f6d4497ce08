// Package image signs and verifies container images by digest with cosign and Notary Project (notation) signatures.
package image
